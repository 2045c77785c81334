// One process of a simulated fleet spread over several (fleet-procs.ts): runs its share of the
// agents with startSimulatedFleet and talks to its parent over the IPC channel.
import { startSimulatedFleet, type SimOptions } from './fleet.js';

type FromParent = { type: 'start'; options: SimOptions } | { type: 'stop' };

let stopFleet: (() => Promise<void>) | undefined;

process.on('message', (m: FromParent) => {
  if (m.type === 'start') {
    startSimulatedFleet(m.options).then(
      (fleet) => {
        stopFleet = fleet.stop;
        process.send?.({ type: 'started', ids: fleet.ids });
      },
      (err: unknown) => process.send?.({ type: 'failed', error: err instanceof Error ? err.message : String(err) }),
    );
  } else {
    void (stopFleet?.() ?? Promise.resolve()).finally(() => process.exit(0));
  }
});
// The parent went away: nothing to simulate for.
process.on('disconnect', () => void (stopFleet?.() ?? Promise.resolve()).finally(() => process.exit(0)));
