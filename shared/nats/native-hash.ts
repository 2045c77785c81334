// Object Store puts hash with native SHA-256, not the client's pure-JS default (measured: 47 MiB/s
// vs ~320 MiB/s for a 100 MiB package). Called by what puts objects (the server, `ferry dml add`),
// so that other commands start without loading the Object Store client.
import { setSha256Backend } from '@nats-io/obj';

export function useNativeObjectHashing(): void {
  setSha256Backend('native');
}
