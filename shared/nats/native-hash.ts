// Object Store puts hash with native SHA-256, not the client's pure-JS default (measured: 47 MiB/s
// vs ~320 MiB/s for a 100 MiB package). Called by what puts objects (the server, `ferry dml add`),
// so that other commands start without loading the Object Store client.
import { Objm, setSha256Backend } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';

export function useNativeObjectHashing(): void {
  setSha256Backend('native');
}

/**
 * An Object Store client whose puts hash natively, for a caller that loads this module with
 * `import()`. Not `import('@nats-io/obj')` itself: that package is CommonJS, and in the CLI's
 * bundle a CommonJS module loaded with import() has only a default export (packaging/cli-bundle.ts).
 */
export function nativeHashingObjm(nc: NatsConnection): Objm {
  useNativeObjectHashing();
  return new Objm(nc);
}
