// The version of this Ferry installation, from its package.json. Found by walking up from the
// calling module, not by a fixed relative path: the same code runs from tsc's output
// (dist/server/…) and from the CLI bundle (dist/bundle/ and dist/bundle/chunks/, see
// packaging/cli-bundle.ts), in a checkout and in the server's .deb (/usr/lib/ferry-server).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version in the nearest package.json named `ferry` above `from` (a module URL); 'unknown' if there is none. */
export function ferryVersion(from: string = import.meta.url): string {
  for (let dir = dirname(fileURLToPath(from)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ferry' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}
