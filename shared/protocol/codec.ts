// Encoding and checked decoding of NATS payloads. decodeMessage is the one door through
// which bytes from the network become typed values.
import type { z } from 'zod';
import { FerryError } from '../errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
export const MAX_MESSAGE_BYTES = 1024 * 1024;

export function encodeMessage(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parse and validate; throws FERRY_INVALID_MESSAGE with a one-line reason. */
export function decodeMessage<S extends z.ZodType>(schema: S, data: Uint8Array, what: string, maxBytes = MAX_MESSAGE_BYTES): z.output<S> {
  if (data.length > maxBytes) throw new FerryError('FERRY_INVALID_MESSAGE', `${what}: ${data.length} bytes is over the ${maxBytes}-byte limit`);
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    throw new FerryError('FERRY_INVALID_MESSAGE', `${what}: not valid UTF-8 JSON`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new FerryError('FERRY_INVALID_MESSAGE', `${what}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
