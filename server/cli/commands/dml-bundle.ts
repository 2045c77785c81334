// ferry dml export | import: offline bundles for a disconnected Ferry server (server/dml/bundle.ts
// has the format). Export reads the bytes from the DML itself; import checks everything before
// it adds anything. What reads and writes bundles (tar, the trust schema, the Object Store) is
// loaded by the handlers, not with the CLI.
import type { CommandModule } from 'yargs';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { FerryError } from '../../../shared/errors.js';
import { checkOutFile, outFileError } from '../../../shared/out-file.js';
import { BUCKETS } from '../../../shared/protocol/subjects.js';
import { parsePackageRef } from '../../releases/package-ref.js';
import { withClient } from '../with-client.js';
import { formatBytes, printJson, printLines, printTable } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';
import type { ApiReplyOf } from '../../../shared/protocol/replies.js';

type ExportArgs = GlobalArgs & { refs: string[]; out: string };

export const exportCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: 'export <refs..>',
  describe: 'Write packages (NAME@VERSION...), their signed DML records and the trust document into one bundle file for a disconnected Ferry server',
  builder: (y) =>
    y
      .positional('refs', { type: 'string', array: true, demandOption: true, describe: 'NAME@VERSION of each package' })
      .option('out', { type: 'string', demandOption: true, describe: 'the bundle file to write (never overwritten)' }) as never,
  handler: async (a) => {
    const out = resolve(a.out);
    if (existsSync(out)) throw new FerryError('FERRY_ALREADY_EXISTS', `${a.out} already exists`, { hint: 'a bundle is never overwritten: choose another --out' });
    if (!statSync(dirname(out), { throwIfNoEntry: false })?.isDirectory()) throw new FerryError('FERRY_NOT_FOUND', `the directory of ${a.out} does not exist`);
    checkOutFile(out, { overwrite: false }); // and may be written
    const packages = a.refs.map((r) => parsePackageRef(r));
    const [{ keyFingerprint }, { trustDocSchema }, { readObjectToFile }, { bundleJson, packageEntryName, writeBundleTar }] = await Promise.all([
      import('../../../shared/crypto/sign.js'),
      import('../../../shared/crypto/trust.js'),
      import('../../../shared/nats/object-read.js'),
      import('../../dml/bundle.js'),
    ]);
    const staging = mkdtempSync(join(tmpdir(), 'ferry-export-'));
    const part = `${out}.part`;
    try {
      const exp = await withClient(connectionFlags(a), async (c) => {
        const e = await c.request('dml.export', { packages });
        mkdirSync(join(staging, 'packages'));
        for (const p of e.packages) {
          // The bytes are checked against the signed record's digest and size while they are read.
          await readObjectToFile(c.nc, { bucket: BUCKETS.dml, name: p.object, dest: join(staging, packageEntryName(p.name, p.version)), expectedSha256: p.sha256, expectedSize: p.size });
        }
        return e;
      });
      writeFileSync(join(staging, 'bundle.json'), bundleJson(exp));
      try {
        await writeBundleTar(staging, part, exp.packages.map((p) => packageEntryName(p.name, p.version)));
        renameSync(part, out);
      } catch (err) {
        throw outFileError(out, err);
      }
      const size = statSync(out).size;
      const rootFingerprint = keyFingerprint(trustDocSchema.parse(JSON.parse(exp.trust.payload)).root.publicKey);
      if (a.json) return printJson({ file: out, size, rootFingerprint, packages: exp.packages.map(({ name, version, sha256, size: s }) => ({ name, version, digest: sha256, size: s })) });
      printLines([`Wrote ${a.out} (${formatBytes(size)}): ${exp.packages.map((p) => `${p.name}@${p.version}`).join(', ')}`, `  root key: ${rootFingerprint} (pass it to the importer by another channel than the bundle)`, `  import it with: ferry dml import ${basename(out)} --trust-root ${rootFingerprint}`]);
    } finally {
      rmSync(staging, { recursive: true, force: true });
      rmSync(part, { force: true });
    }
  },
};

type ImportArgs = GlobalArgs & { file: string; trustRoot: string };

type ImportedPackage = ApiReplyOf<'dml.add'>;

export const importCommand: CommandModule<GlobalArgs, ImportArgs> = {
  command: 'import <file>',
  describe: 'Add the packages of a bundle from `ferry dml export`, after checking every signature against --trust-root; anything tampered: nothing is imported',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true })
      .option('trust-root', { type: 'string', demandOption: true, describe: "fingerprint of the exporting server's root key (ferry dml export prints it)" }) as never,
  handler: async (a) => {
    const [{ unpackBundle, verifyBundle }, { uploadPackage }] = await Promise.all([import('../../dml/bundle.js'), import('../upload.js')]);
    const staging = mkdtempSync(join(tmpdir(), 'ferry-import-'));
    try {
      const size = statSync(a.file, { throwIfNoEntry: false });
      if (!size?.isFile()) throw new FerryError('FERRY_NOT_FOUND', `${a.file} is not a file`);
      await unpackBundle(a.file, staging, size.size);
      const bundle = await verifyBundle(staging, a.trustRoot.trim());
      const imported = await withClient(connectionFlags(a), async (c) => {
        // Conflicts first: a name@version this DML holds with other bytes stops the import before anything is added.
        for (const p of bundle.packages) {
          const existing = (await c.request('dml.show', { name: p.name, version: p.version }).catch((err: unknown) => {
            if (err instanceof FerryError && err.code === 'FERRY_NOT_FOUND') return undefined;
            throw err;
          })) as { digest: string } | undefined;
          if (existing && existing.digest !== p.sha256) {
            throw new FerryError('FERRY_CONFLICT', `${p.name}@${p.version} is already in this DML with other content (${existing.digest.slice(0, 12)}…, the bundle has ${p.sha256.slice(0, 12)}…); nothing was imported`);
          }
        }
        const out: ImportedPackage[] = [];
        for (const p of bundle.packages) out.push(await uploadPackage(c, p.file));
        return out;
      });
      if (a.json) return printJson({ rootFingerprint: bundle.rootFingerprint, exportedAt: bundle.createdAt, packages: imported.map(({ name, version, digest, size: s, state, added }) => ({ name, version, digest, size: s, state, added })) });
      printTable(
        ['PACKAGE', 'VERSION', 'RESULT', 'SIZE', 'DIGEST'],
        imported.map((p) => [p.name, p.version, p.added ? 'added' : 'already present', formatBytes(p.size), p.digest.slice(0, 12)]),
      );
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  },
};
