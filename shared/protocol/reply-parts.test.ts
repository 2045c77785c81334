import { describe, expect, it } from 'vitest';
import { partHeader, ReplyAssembler, splitReply } from './reply-parts.js';

describe('reply parts', () => {
  it('a reply that fits is one part, without a header', () => {
    const data = Buffer.alloc(1000, 1);
    expect(splitReply(data, 1000)).toEqual([data]);
    expect(new ReplyAssembler().add(undefined, data)).toBe(data);
  });

  it('a large reply is split under max_payload and reassembled byte for byte', () => {
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const parts = splitReply(data, 64 * 1024);
    expect(parts.length).toBe(Math.ceil(300_000 / (64 * 1024 - 4096)));
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(64 * 1024 - 4096);
    const asm = new ReplyAssembler();
    let whole: Uint8Array | undefined;
    parts.forEach((p, i) => {
      const r = asm.add(partHeader(i + 1, parts.length), p);
      if (i < parts.length - 1) expect(r).toBeUndefined();
      else whole = r;
    });
    expect(Buffer.from(whole!).equals(data)).toBe(true);
  });

  it('parts out of order, with a changing count or a bad header are refused', () => {
    const a = new ReplyAssembler();
    expect(() => a.add('2/3', Buffer.alloc(1))).toThrow(/out of order/);
    const b = new ReplyAssembler();
    b.add('1/3', Buffer.alloc(1));
    expect(() => b.add('2/4', Buffer.alloc(1))).toThrow(/out of order/);
    expect(() => new ReplyAssembler().add('x/y', Buffer.alloc(1))).toThrow(/out of order/);
    const c = new ReplyAssembler();
    c.add('1/2', Buffer.alloc(1));
    expect(() => c.add(undefined, Buffer.alloc(1))).toThrow(/without its header/);
  });
});
