// npm run package: from a built checkout, write to out/ (or --out DIR)
//   ferry-agent-<version>-linux-<arch>.tar.gz   the agent bundle (bin/ferry-agent launcher)
//   ferry-agent_<version>_<debarch>.deb         the agent as a Debian package
//   ferry-server_<version>_<debarch>.deb        the server and the `ferry` CLI
//   ferry-agent-<version>.ferry                 the agent as a Ferry package (self-update)
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { projectVersion, repoRoot, stageBundle } from './bundle.js';
import { buildDeb } from './deb.js';
import { buildAgentFerryPackage } from './ferry-package.js';

export async function buildAll(outDir: string, version = projectVersion()): Promise<string[]> {
  const work = join(outDir, '.work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const files: string[] = [];
  try {
    const agentName = `ferry-agent-${version}`;
    const agent = stageBundle('agent', join(work, agentName), version);
    const tarball = join(outDir, `${agentName}-linux-${process.arch}.tar.gz`);
    execFileSync('tar', ['--owner=0', '--group=0', '--sort=name', '-czf', tarball, '-C', work, agentName]);
    files.push(tarball);
    files.push(buildDeb('agent', agent, outDir, work));
    files.push(await buildAgentFerryPackage(agent, outDir));
    const server = stageBundle('server', join(work, `ferry-server-${version}`), version);
    files.push(buildDeb('server', server, outDir, work));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return files;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: join(repoRoot, 'out') }, version: { type: 'string' } } });
  const files = await buildAll(resolve(values.out!), values.version ?? projectVersion());
  process.stdout.write(files.map((f) => `built ${f}`).join('\n') + '\n');
}
