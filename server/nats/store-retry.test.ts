import { describe, expect, it } from 'vitest';
import { JetStreamApiError } from '@nats-io/jetstream';
import { withStoreRetry } from './replicas.js';

/** An error as @nats-io/jetstream throws it for a JetStream API error. */
const apiError = (code: number, description: string) => new JetStreamApiError({ code: 500, err_code: code, description });

describe('withStoreRetry', () => {
  it('tries again while JetStream cannot create the store yet, then returns the result', async () => {
    let calls = 0;
    const result = await withStoreRetry(async () => {
      calls++;
      if (calls < 3) throw apiError(10049, 'error creating store for stream');
      return 'created';
    });
    expect(result).toBe('created');
    expect(calls).toBe(3);
  });

  it('a consumer store error is transient too; any other error is thrown at once', async () => {
    let calls = 0;
    await expect(
      withStoreRetry(async () => {
        calls++;
        throw calls === 1 ? apiError(10050, 'error creating store for consumer') : apiError(10058, 'stream name already in use with a different configuration');
      }),
    ).rejects.toThrow(/already in use/);
    expect(calls).toBe(2);
  });
});
