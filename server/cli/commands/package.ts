// ferry package build DIR [--out FILE]: build a .ferry package from a source directory.
import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import { buildPackage, defaultPackageFileName, loadFerryJson } from '../../../shared/package/mod.js';
import { formatBytes, printJson, printLines } from '../output.js';
import type { GlobalArgs } from './common.js';

interface BuildArgs extends GlobalArgs {
  dir: string;
  out?: string;
}

const build: CommandModule<GlobalArgs, BuildArgs> = {
  command: 'build <dir>',
  describe: 'Build a .ferry package from a directory with a ferry.json',
  builder: (y) => y.positional('dir', { type: 'string', demandOption: true }).option('out', { type: 'string', describe: 'output file (default NAME-VERSION.ferry)' }),
  handler: async (a) => {
    const meta = await loadFerryJson(a.dir);
    const out = resolve(a.out ?? defaultPackageFileName(meta.name, meta.version));
    const result = await buildPackage(a.dir, out);
    if (a.json) return printJson({ file: out, name: meta.name, version: meta.version, digest: result.sha256, size: result.size, files: result.manifest.files.length });
    printLines([`Built ${out}`, `  ${meta.name}@${meta.version}, ${result.manifest.files.length} files, ${formatBytes(result.size)}, sha256 ${result.sha256}`]);
  },
};

export const packageCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'package <command>',
  aliases: ['packages'],
  describe: 'Build release packages',
  builder: (y) => y.command(build).demandCommand(1),
  handler: () => undefined,
};
