import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel, REDACTED } from './log.js';

function capture(level: string): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[]; raw: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  const log = createLogger('ferry-test', level, sink as never);
  return { log, raw: () => text, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes JSON lines with level, time, name and the child module', () => {
    const c = capture('info');
    c.log.child({ module: 'rollouts' }).info({ rollout: 'r-1' }, 'wave started');
    const [line] = c.lines();
    expect(line).toMatchObject({ level: 30, name: 'ferry-test', module: 'rollouts', rollout: 'r-1', msg: 'wave started' });
    expect(typeof line!.time).toBe('number');
  });

  it('honours the level', () => {
    const c = capture('warn');
    c.log.info('quiet');
    c.log.warn('loud');
    expect(c.lines().map((l) => l.msg)).toEqual(['loud']);
  });

  it('never writes secret fields, at the top level or one level down', () => {
    const c = capture('debug');
    c.log.child({ module: 'enroll' }).info({ token: 'tok-SECRET-1', seed: 'SUASECRET2', request: { password: 'pw-SECRET-3', hostname: 'h1' }, user: { pass: 'SECRET-4' } }, 'join');
    expect(c.raw()).not.toMatch(/SECRET/);
    expect(c.lines()[0]).toMatchObject({ token: REDACTED, seed: REDACTED, request: { password: REDACTED, hostname: 'h1' }, user: { pass: REDACTED } });
  });

  it('refuses an unknown level with a stable code', () => {
    expect(() => parseLogLevel('loud')).toThrow(expect.objectContaining({ code: 'FERRY_INVALID_INPUT' }));
    expect(parseLogLevel(' DEBUG ')).toBe('debug');
    expect(() => createLogger('x', 'verbose')).toThrow(expect.objectContaining({ code: 'FERRY_INVALID_INPUT' }));
  });
});
