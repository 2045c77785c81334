// The agent bundle as a Ferry package named `ferry-agent`, so Ferry can roll out Ferry: an agent
// that installs it restarts into the new version under its supervisor (agent/service/supervisor.ts).
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPackage, defaultPackageFileName } from '../shared/package/mod.js';
import { AGENT_PACKAGE } from '../agent/service/probation.js';
import type { StagedBundle } from './bundle.js';

/**
 * Write ferry.json and a health check into a staged agent bundle and build `<outDir>/ferry-agent-<version>.ferry`.
 * The health check loads the new agent's code and native modules (`ferry-agent --help`), so a
 * bundle that cannot even start is rolled back by the install itself, before any restart.
 */
export async function buildAgentFerryPackage(bundle: StagedBundle, outDir: string): Promise<string> {
  mkdirSync(join(bundle.dir, 'hooks'), { recursive: true });
  const health = join(bundle.dir, 'hooks', 'healthcheck.sh');
  writeFileSync(health, '#!/bin/sh\n# The new agent version loads: its code, its dependencies and its native modules.\nexec "$FERRY_INSTALL_DIR/bin/ferry-agent" --help >/dev/null\n');
  chmodSync(health, 0o755);
  writeFileSync(
    join(bundle.dir, 'ferry.json'),
    JSON.stringify(
      {
        name: AGENT_PACKAGE,
        version: bundle.version,
        description: 'The Ferry agent itself; installing it restarts the agent into this version',
        hooks: { healthcheck: 'hooks/healthcheck.sh' },
        requires: { os: ['linux'], arch: [process.arch] },
      },
      null,
      2,
    ) + '\n',
  );
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, defaultPackageFileName(AGENT_PACKAGE, bundle.version));
  await buildPackage(bundle.dir, file);
  return file;
}
