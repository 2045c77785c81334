/**
 * Runs the tasks given for one key one after another, in the order given; tasks of other keys run
 * alongside. For work that reads, decides and then writes: two versions of one package added at
 * the same moment must each see the other (server/dml/service.ts).
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task running or waiting (for tests: nothing is kept once they are done). */
  get size(): number {
    return this.tails.size;
  }
}
