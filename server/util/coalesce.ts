// Coalesce calls of an async job: calls made while it runs share one follow-up run. Used for
// NATS authorization reloads, so a hundred agents joining at once cost two reloads, not a hundred.
export function coalesce(job: () => Promise<void>, delayMs = 0): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    // An optional delay gathers a burst of callers into one run.
    running = new Promise((r) => setTimeout(r, delayMs)).then(job).finally(() => {
      running = undefined;
    });
    return running;
  };
  return () => {
    if (!running) return run();
    // Everyone who asked while a run was in progress waits for the same next run.
    queued ??= running.catch(() => undefined).then(() => {
      queued = undefined;
      return run();
    });
    return queued;
  };
}
