// Paces downloads to a rate (a rollout's --max-rate) across every read that shares it. The agent
// makes one per install and passes it to each read of that install (the file index, every
// delta content, the whole package), so many small objects are held to the rate together: paced
// one read at a time, a read of one chunk was never delayed at all.
//
// A token bucket that charges after the fact: a request may go out while the bucket is not in
// debt, and is then charged its bytes (a chunk is asked for whole, so one request may overdraw
// it). The bucket refills at the rate and holds at most `burstBytes` of credit saved while idle.
// So by any moment t after the pacer was made, the bytes asked for are at most
//   burstBytes + rate × t + the last request's bytes.

export class RatePacer {
  private tokens: number;
  private at: number;

  constructor(
    readonly bytesPerSecond: number,
    /** credit saved while idle (default none: the first request goes at once, the next waits for it) */
    readonly burstBytes = 0,
    private readonly clock: () => number = Date.now,
  ) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError(`a rate must be a positive number of bytes per second, not ${bytesPerSecond}`);
    if (!(burstBytes >= 0)) throw new RangeError(`a burst must be zero or more bytes, not ${burstBytes}`);
    this.tokens = burstBytes;
    this.at = clock();
  }

  /** Milliseconds until the next request may go (0: now). */
  delay(): number {
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }

  /** Charge bytes now (never waits; later requests wait for any debt). A negative count refunds. */
  take(bytes: number): void {
    this.refill();
    this.tokens = Math.min(this.burstBytes, this.tokens - bytes);
  }

  /** Wait until a request may go, then charge its bytes. */
  async acquire(bytes: number): Promise<void> {
    for (let wait = this.delay(); wait > 0; wait = this.delay()) await new Promise((r) => setTimeout(r, wait));
    this.take(bytes);
  }

  private refill(): void {
    const now = this.clock();
    if (now > this.at) this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.at) * this.bytesPerSecond) / 1000);
    this.at = Math.max(this.at, now);
  }
}
