// ferry dml add|list|show|authorize|retire: the Definitive Media Library (draft → authorized → retired).
import type { CommandModule } from 'yargs';
import { statSync } from 'node:fs';
import { FerryError } from '../../../shared/errors.js';
import { parsePackageRef } from '../../releases/package-ref.js';
import { withClient } from '../with-client.js';
import { exportCommand, importCommand } from './dml-bundle.js';
import { formatBytes, printJson, printLines, printTable } from '../output.js';
import { connectionFlags, type GlobalArgs } from './common.js';

const add: CommandModule<GlobalArgs, GlobalArgs & { file: string }> = {
  command: 'add <file>',
  describe: 'Upload a .ferry package; the server verifies and signs it into the DML',
  builder: (y) => y.positional('file', { type: 'string', demandOption: true }),
  handler: async (a) => {
    if (!statSync(a.file, { throwIfNoEntry: false })?.isFile()) throw new FerryError('FERRY_NOT_FOUND', `${a.file} is not a file`);
    const [{ readPackageManifest }, { uploadPackage }] = await Promise.all([import('../../../shared/package/read.js'), import('../upload.js')]);
    await readPackageManifest(a.file); // fail fast locally on something that is not a package
    const result = await withClient(connectionFlags(a), (c) => uploadPackage(c, a.file));
    if (a.json) return printJson(result);
    printLines([
      `${result.added ? 'Added' : 'Already in the DML (identical content)'}: ${result.name}@${result.version}`,
      `  sha256 ${result.digest}, ${formatBytes(result.size)}, state ${result.state}`,
    ]);
  },
};

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List packages in the DML',
  handler: async (a) => {
    const result = await withClient(connectionFlags(a), (c) => c.request('dml.list', {}));
    if (a.json) return printJson(result);
    printTable(
      ['PACKAGE', 'VERSION', 'STATE', 'SIZE', 'DIGEST', 'ADDED'],
      result.map((p) => [p.name, p.version, p.state, formatBytes(p.size), p.digest.slice(0, 12), p.createdAt]),
    );
  },
};

const show: CommandModule<GlobalArgs, GlobalArgs & { ref: string }> = {
  command: 'show <ref>',
  describe: 'Show one package (NAME@VERSION)',
  builder: (y) => y.positional('ref', { type: 'string', demandOption: true }),
  handler: async (a) => {
    const ref = parsePackageRef(a.ref);
    const p = await withClient(connectionFlags(a), (c) => c.request('dml.show', ref));
    if (a.json) return printJson(p);
    printLines([
      `${p.name}@${p.version}  (${p.state})`,
      `  ${p.manifest.description ?? ''}`,
      `  sha256 ${p.digest}, ${formatBytes(p.size)}, added ${p.createdAt}`,
      ...(p.authorizedAt ? [`  authorized ${p.authorizedAt} by ${p.authorizedBy}${p.evidence ? `, evidence: ${p.evidence}` : ''}`] : []),
      ...(p.retiredAt ? [`  retired ${p.retiredAt} by ${p.retiredBy}${p.retireReason ? `: ${p.retireReason}` : ''}`] : []),
      `  depends: ${Object.entries(p.depends).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing'}`,
      `  hooks: ${Object.entries(p.manifest.hooks ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}`,
      `  requires: ${p.manifest.requires ? JSON.stringify(p.manifest.requires) : 'nothing'}`,
      `  files (${p.manifest.files.length}):`,
      ...p.manifest.files.slice(0, 50).map((f) => `    ${f.path}  ${formatBytes(f.size)}`),
      ...(p.manifest.files.length > 50 ? [`    … and ${p.manifest.files.length - 50} more`] : []),
    ]);
  },
};

const authorize: CommandModule<GlobalArgs, GlobalArgs & { ref: string; evidence?: string }> = {
  command: 'authorize <ref>',
  describe: 'Mark a package fit for production (NAME@VERSION), recording who and the evidence',
  builder: (y) =>
    y.positional('ref', { type: 'string', demandOption: true }).option('evidence', { type: 'string', describe: 'the id of a rollout that completed in a test environment, or a note' }),
  handler: async (a) => {
    const ref = parsePackageRef(a.ref);
    const p = await withClient(connectionFlags(a), (c) => c.request('dml.authorize', { ...ref, ...(a.evidence ? { evidence: a.evidence } : {}) }));
    if (a.json) return printJson(p);
    const proof = p.evidenceHosts !== undefined ? `; evidence ${p.evidence}: installed on ${p.evidenceHosts} host(s)` : '';
    printLines([`${p.name}@${p.version} is ${p.state} (by ${p.authorizedBy} at ${p.authorizedAt})${proof}`]);
  },
};

const retire: CommandModule<GlobalArgs, GlobalArgs & { ref: string; reason?: string }> = {
  command: 'retire <ref>',
  describe: 'Retire a package (NAME@VERSION): it can never be deployed again',
  builder: (y) => y.positional('ref', { type: 'string', demandOption: true }).option('reason', { type: 'string', describe: 'why, for the record' }),
  handler: async (a) => {
    const ref = parsePackageRef(a.ref);
    const p = await withClient(connectionFlags(a), (c) => c.request('dml.retire', { ...ref, ...(a.reason ? { reason: a.reason } : {}) }));
    if (a.json) return printJson(p);
    printLines([`${p.name}@${p.version} is ${p.state} (by ${p.retiredBy} at ${p.retiredAt})`]);
  },
};

export const dmlCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'dml <command>',
  describe: 'The Definitive Media Library of signed packages',
  builder: (y) => y.command(add).command(list).command(show).command(authorize).command(retire).command(exportCommand).command(importCommand).demandCommand(1),
  handler: () => undefined,
};
