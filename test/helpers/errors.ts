// Catching the FerryError a call throws, for unit tests: the code and the one-line rule checked once.
import { expect } from 'vitest';
import { FerryError, type FerryErrorCode } from '../../shared/errors.js';

/** Run `fn`, expect it to throw a FerryError with `code` whose line has no newline; return it. */
export function catchFerryError(fn: () => unknown, code: FerryErrorCode = 'FERRY_INVALID_INPUT'): FerryError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FerryError);
  const fe = caught as FerryError;
  expect(fe.code).toBe(code);
  expect(fe.toLine()).not.toContain('\n');
  return fe;
}

/** A CLI refusal to expect: the arguments, the exit code and the one stderr line it must print. */
export type CliRefusal = [args: string[], exitCode: number, line: RegExp];

/** Run each `ferry` command (through `run`) and expect its exit code and exactly one matching stderr line. */
export async function expectCliRefusals(run: (args: string[]) => Promise<{ code: number | null; stderr: string }>, cases: CliRefusal[]): Promise<void> {
  for (const [args, code, line] of cases) {
    const r = await run(args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
    expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    expect(r.stderr.trim(), args.join(' ')).toMatch(line);
  }
}
