// Coalesce calls of an async job: calls made while it runs share one follow-up run, and calls made
// during the optional delay before a run starts join that run. Used for NATS authorization
// reloads, so a hundred agents joining at once cost one or two reloads, not a hundred.
export function coalesce(job: () => Promise<void>, delayMs = 0): () => Promise<void> {
  let running: Promise<void> | undefined;
  let started = false;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    started = delayMs === 0;
    const go = () => {
      started = true;
      return job();
    };
    running = (delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs)).then(go) : go()).finally(() => {
      running = undefined;
    });
    return running;
  };
  return () => {
    if (!running) return run();
    if (!started) return running; // still gathering: this call is served by the coming run
    // Everyone who asked while a run was in progress waits for the same next run.
    queued ??= running.catch(() => undefined).then(() => {
      queued = undefined;
      return run();
    });
    return queued;
  };
}
