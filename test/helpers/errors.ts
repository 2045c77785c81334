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
