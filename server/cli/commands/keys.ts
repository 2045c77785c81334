// ferry keys rotate: issue a new trust document (new online key, optionally a new root).
import type { CommandModule } from 'yargs';
import { dataPaths, resolveDataDir } from '../../config.js';
import { withClient } from '../with-client.js';
import { FerryError } from '../../../shared/errors.js';
import { formatDuration } from '../../../shared/durations.js';
import { printJson, printLines, printNote } from '../output.js';

/** A trust document valid for less than this gets a warning (agents refuse everything once it expired). */
const SHORT_TRUST_MS = 24 * 3600_000;
import { connectionFlags, DURATION_OPTION, durationFlag, type GlobalArgs } from './common.js';

interface RotateArgs extends GlobalArgs {
  root: boolean;
  'renew-only': boolean;
  expires?: string;
  'root-key'?: string;
}

const rotate: CommandModule<GlobalArgs, RotateArgs> = {
  command: 'rotate',
  describe: 'Issue a new trust document: a new online signing key (and with --root a new root key)',
  builder: (y) =>
    y
      .option('root', { type: 'boolean', default: false, describe: 'also replace the root key (signed by the old and the new root)' })
      .option('renew-only', { type: 'boolean', default: false, describe: 'keep the keys, only issue a document with a new expiry' })
      .option('expires', { ...DURATION_OPTION, describe: 'how long the new document is valid (default 365d)' })
      .option('root-key', { type: 'string', describe: 'the root key file, if it is kept outside the data directory' }),
  handler: async (a) => {
    const paths = dataPaths(resolveDataDir(a['data-dir']));
    const [{ assertInitialized }, { DEFAULT_TRUST_TTL_MS, rotateKeys }] = await Promise.all([import('../../init.js'), import('../../keys.js')]);
    if (a.root && a['renew-only']) throw new FerryError('FERRY_USAGE', '--root replaces the root key and --renew-only keeps every key: give one of them');
    assertInitialized(paths);
    const ttlMs = a.expires !== undefined ? durationFlag(a.expires, '--expires', { positive: true }) : DEFAULT_TRUST_TTL_MS;
    const result = rotateKeys(paths, { root: a.root, signing: !a['renew-only'], ttlMs, rootKeyFile: a['root-key'] });
    // Said on stderr, so --json stays one document: what this rotation means for later.
    if (ttlMs < SHORT_TRUST_MS) printNote(`note: the trust document expires in ${formatDuration(ttlMs)}; after that agents refuse every command and desired state until the next rotation`);
    printNote('note: agents now refuse the trust documents of older backups: take a new backup (ferry backup FILE); restoring one from before this rotation would leave every agent refusing the server');
    // A running server re-signs with the new key and publishes the document to the agents.
    let applied: unknown = null;
    try {
      applied = await withClient(connectionFlags(a), (c) => c.request('keys.reload', {}));
    } catch {
      applied = null;
    }
    if (a.json) return printJson({ ...result, serverReloaded: applied !== null, server: applied });
    printLines([
      `Trust document v${result.version} issued, valid until ${result.expiresAt}`,
      `  root key:    ${result.rootFingerprint}${result.rotated.includes('root') ? ' (new)' : ''}`,
      `  signing key: ${result.signingFingerprint}${result.rotated.includes('signing') ? ' (new)' : ''}`,
      applied ? '  the running server re-signed its records and desired states and published the document' : '  no running server: it applies the new keys when it starts',
    ]);
  },
};

export const keysCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'key <command>',
  aliases: ['keys'],
  describe: 'Signing keys and the trust document',
  builder: (y) => y.command(rotate).demandCommand(1),
  handler: () => undefined,
};
