// An API reply larger than NATS's max_payload (e.g. `agents list` of a 10,000-host fleet) goes to
// the caller's inbox in parts: each message carries `Ferry-Reply-Part: <i>/<n>` and a slice of the
// encoded reply, in order. A reply that fits is one message without the header, as before.
import { FerryError } from '../errors.js';

export const REPLY_PART_HEADER = 'Ferry-Reply-Part';
/** Left of max_payload for the headers of a part. */
const HEADER_ROOM = 4096;
/** No reply is reassembled past this (a hostile or broken responder cannot make the CLI hold more). */
export const MAX_REPLY_BYTES = 256 * 1024 * 1024;

/** The reply's parts for a connection whose max_payload is `maxPayload` (one part when it fits). */
export function splitReply(data: Uint8Array, maxPayload: number): Uint8Array[] {
  if (data.length <= maxPayload) return [data];
  const size = Math.max(1024, maxPayload - HEADER_ROOM);
  const parts: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += size) parts.push(data.subarray(off, off + size));
  return parts;
}

/** `i/n` for part i (1-based) of n. */
export const partHeader = (i: number, n: number) => `${i}/${n}`;

/** Collects one reply's parts; `add` returns the whole reply once every part is in. */
export class ReplyAssembler {
  private parts: Uint8Array[] = [];
  private expected = 0;
  private bytes = 0;

  add(header: string | undefined, data: Uint8Array): Uint8Array | undefined {
    if (!header) {
      if (this.expected) throw new FerryError('FERRY_INVALID_MESSAGE', 'a reply part without its header');
      return data;
    }
    const m = /^(\d{1,6})\/(\d{1,6})$/.exec(header);
    const i = Number(m?.[1]);
    const n = Number(m?.[2]);
    if (!m || i < 1 || n < 1 || i > n || (this.expected && n !== this.expected) || i !== this.parts.length + 1) {
      throw new FerryError('FERRY_INVALID_MESSAGE', `reply part "${header.slice(0, 32)}" out of order (had ${this.parts.length} of ${this.expected || '?'})`);
    }
    this.expected = n;
    this.bytes += data.length;
    if (this.bytes > MAX_REPLY_BYTES) throw new FerryError('FERRY_INVALID_MESSAGE', `reply over ${MAX_REPLY_BYTES} bytes`);
    this.parts.push(data);
    if (this.parts.length < n) return undefined;
    return Buffer.concat(this.parts);
  }
}
