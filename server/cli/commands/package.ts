// ferry package build DIR [--out FILE] | inspect FILE: build a .ferry package from a source
// directory (reproducibly), and look inside one before adding it to the DML. The package code
// (tar, the manifest's schema) is loaded by the handlers, not with the CLI.
import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import { isFerryError } from '../../../shared/errors.js';
import { checkOutFile } from '../../../shared/out-file.js';
import type { Manifest } from '../../../shared/package/mod.js';
import { withClient } from '../with-client.js';
import { formatBytes, printJson, printLines, printTable } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';

interface BuildArgs extends GlobalArgs {
  dir: string;
  out?: string;
}

const build: CommandModule<GlobalArgs, BuildArgs> = {
  command: 'build <dir>',
  describe: 'Build a .ferry package from a directory with a ferry.json; the same source builds the same bytes, whatever its file times (dated SOURCE_DATE_EPOCH, else 1970-01-01)',
  builder: (y) => y.positional('dir', { type: 'string', demandOption: true }).option('out', { type: 'string', describe: 'output file (default NAME-VERSION.ferry)' }),
  handler: async (a) => {
    const { buildPackage, defaultPackageFileName, loadFerryJson, sourceDateEpoch } = await import('../../../shared/package/mod.js');
    const meta = await loadFerryJson(a.dir);
    const out = checkOutFile(a.out ?? defaultPackageFileName(meta.name, meta.version), { overwrite: true, makeParents: true, renamesOver: true });
    const createdAt = sourceDateEpoch(process.env.SOURCE_DATE_EPOCH);
    const result = await buildPackage(a.dir, out, createdAt ? { createdAt } : {});
    if (a.json) return printJson({ file: out, name: meta.name, version: meta.version, digest: result.sha256, size: result.size, files: result.manifest.files.length });
    printLines([`Built ${out}`, `  ${meta.name}@${meta.version}, ${result.manifest.files.length} files, ${formatBytes(result.size)}, sha256 ${result.sha256}`]);
  },
};


/**
 * A package file is not signed itself: the DML signs a record of its digest when it is added.
 * So its signature state is what the server's DML says about this digest, if a server answers.
 */
async function dmlState(a: GlobalArgs, m: Manifest, digest: string): Promise<{ state: string; detail: string }> {
  try {
    const p = await withClient(connectionFlags(a), (c) => c.request('dml.show', { name: m.name, version: m.version }, 10_000));
    if (p.digest !== digest) return { state: 'different', detail: `the DML holds ${m.name}@${m.version} with other content (sha256 ${p.digest})` };
    return { state: 'signed', detail: `in the DML (${p.state}): its record, signed by the server, names this digest` };
  } catch (err) {
    if (isFerryError(err) && err.code === 'FERRY_NOT_FOUND') return { state: 'unsigned', detail: 'not in the DML yet: ferry dml add signs it' };
    return { state: 'unknown', detail: `no server to ask (${isFerryError(err) ? err.code : 'error'}); a package is signed when the DML adds it` };
  }
}

const inspect: CommandModule<GlobalArgs, GlobalArgs & { file: string }> = {
  command: 'inspect <file>',
  describe: 'Check a .ferry file and show its manifest, files, hooks and signature state (whether the DML signed this digest)',
  builder: (y) => y.positional('file', { type: 'string', demandOption: true, describe: 'a .ferry package' }),
  handler: async (a) => {
    const [{ verifyPackageArchive }, { sha256File }] = await Promise.all([import('../../../shared/package/read.js'), import('../../../shared/crypto/file-hash.js')]);
    // The whole archive is checked (every file against its manifest hash) before anything is shown.
    const manifest = await verifyPackageArchive(a.file);
    const { sha256: digest, size } = await sha256File(a.file);
    const signature = await dmlState(a, manifest, digest);
    const doc = { file: resolve(a.file), digest, size, manifest, signature };
    if (a.json) return printJson(doc);
    const hooks = Object.entries(manifest.hooks ?? {});
    printLines([
      `${manifest.name}@${manifest.version} — ${resolve(a.file)}`,
      `  sha256 ${digest}, ${formatBytes(size)}, built ${manifest.createdAt}, integrity ok (${manifest.files.length} files match the manifest)`,
      `  signature: ${signature.state} — ${signature.detail}`,
      ...(manifest.description ? [`  description: ${manifest.description}`] : []),
      `  hooks: ${hooks.length ? hooks.map(([k, v]) => `${k}=${v}`).join(', ') : 'none'}`,
      ...(manifest.requires ? [`  requires: ${JSON.stringify(manifest.requires)}`] : []),
      ...(manifest.depends && Object.keys(manifest.depends).length ? [`  depends: ${Object.entries(manifest.depends).map(([k, v]) => `${k} ${v}`).join(', ')}`] : []),
      '',
    ]);
    printTable(['PATH', 'MODE', 'SIZE', 'SHA256'], manifest.files.map((f) => [f.path, f.mode.toString(8), f.size, f.sha256]));
  },
};

export const packageCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'package <command>',
  aliases: ['packages'],
  describe: 'Build and inspect release packages',
  builder: (y) => y.command(build).command(inspect).demandCommand(1),
  handler: () => undefined,
};
