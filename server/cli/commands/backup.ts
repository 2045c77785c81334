// ferry backup FILE / ferry restore FILE: the server's state (database, keys, DML) in one archive.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { CommandModule } from 'yargs';
import { dataPaths, resolveDataDir, type RuntimeInfo } from '../../config.js';
import { toFerryError } from '../../../shared/errors.js';
import { checkOutFile, outFileError } from '../../../shared/out-file.js';
import { visible } from '../../../shared/text.js';
import { withClient } from '../with-client.js';
import { formatBytes, printJson, printLines } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';

interface FileArgs extends GlobalArgs {
  file: string;
}

export const backupCommand: CommandModule<GlobalArgs, FileArgs> = {
  command: 'backup <file>',
  describe: 'Write a consistent backup of the running server (database, keys, DML packages) to FILE',
  builder: (y) => y.positional('file', { type: 'string', demandOption: true, describe: 'the archive to write (gzip tar, mode 0600: it holds the keys)' }),
  handler: async (a) => {
    const paths = dataPaths(resolveDataDir(a['data-dir']));
    const out = resolve(a.file);
    const natsUrl = existsSync(paths.runtime) ? (JSON.parse(readFileSync(paths.runtime, 'utf8')) as RuntimeInfo).natsUrl : undefined;
    const { createBackup } = await import('../../backup/create.js');
    const result = await withClient(connectionFlags(a), async (c) => {
      // A backup reads everything (keys included): refused unless the caller is an admin (the
      // refusal is recorded), and recorded once it ended, with what it wrote or why it failed.
      await c.request('backup.record', { out: a.file, dryRun: true });
      let backup: Awaited<ReturnType<typeof createBackup>>;
      try {
        // A file that cannot be written is refused before anything is read, and recorded as a failed backup like any other.
        checkOutFile(out, { flag: 'backup file', overwrite: true, makeParents: true, renamesOver: true });
        backup = await createBackup({ paths, nc: c.nc, out: a.file, ...(natsUrl ? { natsUrl } : {}) });
      } catch (caught) {
        const err = backupFileError(out, caught);
        const e = toFerryError(err);
        // the server answers a failed backup's record with that failure: the backup's own error is the one to report
        await c.request('backup.record', { out: a.file, result: 'failed', error: { code: e.code, message: visible(e.message).slice(0, 1024) } }).catch(() => undefined);
        throw err;
      }
      await c.request('backup.record', { out: a.file, result: 'ok', file: visible(backup.file), bytes: backup.bytes, manifestSha256: backup.manifestSha256 });
      return backup;
    });
    const m = result.manifest;
    if (a.json) return printJson({ file: result.file, bytes: result.bytes, manifestSha256: result.manifestSha256, createdAt: m.createdAt, ferryVersion: m.ferryVersion, rootFingerprint: m.rootFingerprint, packages: m.packages.map((p) => ({ name: p.name, version: p.version, sha256: p.sha256 })) });
    printLines([
      `Backup written to ${result.file} (${formatBytes(result.bytes)}): database, ${m.files.filter((f) => f.path.startsWith('keys/')).length} key files, ${m.packages.length} DML package(s)`,
      'It holds the server keys: keep it as safe as the data directory.',
    ]);
  },
};

/** An error of the backup file itself (its directory, its staging beside it, the rename): one line naming it. */
function backupFileError(out: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!e?.code || !e.syscall) return err;
  const paths = [e.path, (e as { dest?: string }).dest].filter((p): p is string => typeof p === 'string');
  const ours = paths.length === 0 || paths.some((p) => p === out || p.startsWith(join(dirname(out), '.ferry-backup-')) || out.startsWith(p + sep));
  return ours ? outFileError(out, err, 'backup file') : err;
}

interface RestoreArgs extends FileArgs {
  force: boolean;
}

export const restoreCommand: CommandModule<GlobalArgs, RestoreArgs> = {
  command: 'restore <file>',
  describe: 'Restore a backup into the data directory of a stopped server (new or empty unless --force)',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'an archive written by ferry backup' })
      .option('force', { type: 'boolean', default: false, describe: 'replace the contents of a data directory that is not empty' }),
  handler: async (a) => {
    const { restoreBackup } = await import('../../backup/restore.js');
    const result = await restoreBackup({ file: a.file, dataDir: resolveDataDir(a['data-dir']), force: a.force });
    if (a.json) return printJson(result);
    printLines([
      `Restored the backup of ${result.createdAt} (Ferry ${result.ferryVersion}) into ${result.dataDir}${result.replaced ? ', replacing its contents' : ''}`,
      `Root key: ${result.rootFingerprint}; ${result.packages.length} DML package(s) verified`,
      `Next: ferry server --data-dir ${result.dataDir}${result.natsUrl ? (result.natsUrl.includes(',') ? ` --nats ${result.natsUrl}` : ` --listen ${new URL(result.natsUrl).host}`) : ''} (it puts the packages back into the DML as it starts)`,
    ]);
  },
};
