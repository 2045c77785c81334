// "Delta install: 100 MiB in 100 files, 1 file changed" (quick: 100 files of 200 KiB, ~20 MiB). Two versions
// of an incompressible package share 99 files; both go into a `ferry-dml` bucket as the DML stores
// them (package object, contents by hash and the signed file index, through the server's own
// storeFileContent). An InstallMachine wired like the agent's (delta reads through the agent's
// fetchFileIndex/fetchFileContent, a trust document for the signing key) installs 1.0.1:
//   delta: over a kept 1.0.0 (installed untimed before each round)
//   full:  on a fresh host with nothing kept (the same version, the whole package)
// Bytes are the agent connection's `stats().inBytes` across the install (NATS protocol framing
// included); time is the install call. Interleaved rounds, one warm-up, median of three.
import { randomFillSync } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { getSha256Backend, setSha256Backend } from '@nats-io/obj';
import { fetchFileContent, fetchFileIndex } from '../../agent/fetch/content.js';
import { InstallMachine } from '../../agent/install/machine.js';
import { Journal } from '../../agent/install/journal.js';
import { generateSigningKeyPair } from '../../shared/crypto/sign.js';
import type { TrustDoc } from '../../shared/crypto/trust.js';
import { silentLogger } from '../../shared/log.js';
import { readObjectToFile } from '../../shared/nats/object-read.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { BUCKETS } from '../../shared/protocol/subjects.js';
import { storeFileContent } from '../../server/dml/content.js';
import { startBenchNats } from './nats.js';
import { recordFor, stepBreakdown, writeIncompressiblePackage } from './pkg.js';
import type { BenchOptions, BenchResult } from './result.js';
import { createBucket, debug, fileStream, loadNote, median, MiB, putObject, round, tempDir, timed } from './util.js';

const RUNS = 3;
const WARMUPS = 1;
const FILES = 100;

export async function run(opts: BenchOptions): Promise<BenchResult[]> {
  const fileBytes = opts.quick ? 200 * 1024 : MiB;
  const total = fileBytes * FILES;
  const mib = Math.round(total / MiB);
  const name = `Delta install: ${mib} MiB in ${FILES} files, 1 changed`;
  const nats = await startBenchNats({ maxFileStoreMiB: mib * 5 + 256 });
  const tmp = tempDir('delta');
  let admin: NatsConnection | undefined;
  let agentNc: NatsConnection | undefined;
  try {
    admin = await connect({ servers: nats.url, name: 'bench-delta-admin' });
    agentNc = await connect({ servers: nats.url, name: 'bench-delta-agent' });
    const nc = agentNc;
    const os = await createBucket(admin, BUCKETS.dml);
    const keys = generateSigningKeyPair();
    const trust: TrustDoc = {
      type: 'ferry-trust',
      version: 1,
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      root: { publicKey: keys.publicKey },
      keys: [{ publicKey: keys.publicKey, roles: ['packages'] }],
    };
    const block = randomFillSync(Buffer.allocUnsafe(4 * MiB));
    const changed = Math.floor(FILES / 2);
    const records: Record<string, DmlRecord> = {};
    const storeMs: Record<string, number> = {};
    for (const [version, salt] of [['1.0.0', 0], ['1.0.1', 1]] as const) {
      const file = join(tmp.path, `bench-delta-${version}.ferry`);
      const pkg = await writeIncompressiblePackage(file, 'bench-delta', version, total, fileBytes, { block, salt: (f) => (f === changed ? salt : 0) });
      const object = `bench-delta@${version}`;
      await putObject(os, object, fileStream(file));
      const record = recordFor(pkg, object);
      const before = getSha256Backend();
      setSha256Backend('native'); // as the server does
      try {
        const { ms, value: stored } = await timed(() => storeFileContent(os, keys, { file, manifest: pkg.manifest, record, tmpDir: tmp.path, chunkBytes: MiB }));
        storeMs[version] = ms;
        debug(`delta: ${version}: ${stored.added} contents added (${(stored.addedBytes / MiB).toFixed(1)} MiB), ${stored.shared} shared, ${ms.toFixed(0)} ms`);
      } finally {
        setSha256Backend(before);
      }
      records[version] = record;
      rmSync(file, { force: true });
    }
    const v1 = records['1.0.0']!;
    const v2 = records['1.0.1']!;
    const changedBytes = fileBytes;

    const installer = (base: string) => {
      mkdirSync(join(base, 'state'), { recursive: true });
      const steps: { step: string; at: number }[] = [];
      const journal = new Journal(join(base, 'state', 'journal.db'));
      const machine = new InstallMachine({
        journal,
        installRoot: join(base, 'root'),
        downloadDir: join(base, 'state', 'staging'),
        fetch: async (record, dest) => {
          await readObjectToFile(nc, { bucket: BUCKETS.dml, name: record.object, dest, expectedSha256: record.sha256, expectedSize: record.size, durable: false });
        },
        delta: { index: (record) => fetchFileIndex(nc, trust, record), fetchFile: (file, dest, o) => fetchFileContent(nc, file, dest, o) },
        report: () => undefined,
        log: silentLogger,
        keepVersions: 3,
        host: { os: process.platform, arch: process.arch },
        beforeStep: async (step) => {
          steps.push({ step, at: performance.now() });
        },
      });
      return { machine, steps, close: () => journal.close() };
    };
    const install = async (inst: ReturnType<typeof installer>, record: DmlRecord) => {
      const outcome = await inst.machine.install({ operation: `bench-${Date.now()}`, record, allowDowngrade: false });
      if (outcome !== 'done') throw new Error(`install of ${record.version} ended ${outcome}`);
    };
    const measured = async (inst: ReturnType<typeof installer>, record: DmlRecord) => {
      const b0 = nc.stats().inBytes;
      inst.steps.length = 0;
      const { ms } = await timed(() => install(inst, record));
      return { ms, bytes: nc.stats().inBytes - b0, steps: stepBreakdown(inst.steps, performance.now()) };
    };

    const delta: { ms: number; bytes: number; steps: string }[] = [];
    const full: { ms: number; bytes: number; steps: string }[] = [];
    for (let i = 0; i < WARMUPS + RUNS; i++) {
      const dBase = join(tmp.path, `delta-${i}`);
      const fBase = join(tmp.path, `full-${i}`);
      const d = installer(dBase);
      const f = installer(fBase);
      try {
        await install(d, v1); // the kept version (untimed)
        // Alternate which goes first, so a warm page cache or a busy moment favours neither.
        const order = i % 2 === 0 ? (['delta', 'full'] as const) : (['full', 'delta'] as const);
        for (const k of order) {
          const r = k === 'delta' ? await measured(d, v2) : await measured(f, v2);
          if (i >= WARMUPS) (k === 'delta' ? delta : full).push(r);
          debug(`delta: ${k} round ${i + 1}: ${r.ms.toFixed(0)} ms, ${(r.bytes / MiB).toFixed(2)} MiB received; ${r.steps}`);
        }
      } finally {
        d.close();
        f.close();
        rmSync(dBase, { recursive: true, force: true });
        rmSync(fBase, { recursive: true, force: true });
      }
    }
    const dMs = median(delta.map((r) => r.ms));
    const fMs = median(full.map((r) => r.ms));
    const dBytes = median(delta.map((r) => r.bytes));
    const fBytes = median(full.map((r) => r.bytes));
    const byteRatio = dBytes / fBytes;
    const stepsOf = (rs: { ms: number; steps: string }[], ms: number) => rs.find((r) => r.ms === ms)?.steps ?? '';
    const timeRatio = dMs / fMs;
    const note = `package ${(v2.size / MiB).toFixed(1)} MiB (incompressible), ${FILES} files of ${(changedBytes / MiB).toFixed(2)} MiB, 1 changed; over a kept 1.0.0`;
    return [
      {
        name,
        metric: 'bytes received by the agent',
        value: round(dBytes / MiB, 3),
        unit: 'MiB',
        baseline: { name: 'full download of the same version', value: round(fBytes / MiB, 2) },
        ratio: round(byteRatio, 4),
        goal: '≤ 0.03× full',
        met: byteRatio <= 0.03,
        note: `${note}; the agent connection's stats().inBytes across the install (framing and the signed file index included); runs ${delta.map((r) => (r.bytes / MiB).toFixed(2)).join('/')} vs ${full.map((r) => (r.bytes / MiB).toFixed(1)).join('/')} MiB`,
      },
      {
        name,
        metric: 'install time',
        value: Math.round(dMs),
        unit: 'ms',
        baseline: { name: 'full install of the same version', value: Math.round(fMs) },
        ratio: round(timeRatio),
        goal: '≤ 0.3× full',
        met: timeRatio <= 0.3,
        note: `${note}; delta = file index + 1 content fetched + 99 kept files copied and hashed; runs ${delta.map((r) => Math.round(r.ms)).join('/')} vs ${full.map((r) => Math.round(r.ms)).join('/')} ms; median delta: ${stepsOf(delta, dMs)}; median full: ${stepsOf(full, fMs)}; ${loadNote()}`,
      },
      {
        name,
        metric: 'server: storing a version by content (diagnostic)',
        value: Math.round(storeMs['1.0.0']!),
        unit: 'ms',
        note: `what \`ferry dml add\` now does besides storing the package: a verifying scan that writes out only new contents, and their puts (1.0.0: all ${FILES} files); 1.0.1, with ${FILES - 1} contents already stored: ${Math.round(storeMs['1.0.1']!)} ms`,
      },
    ];
  } finally {
    await agentNc?.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await nats.stop();
    tmp.remove();
  }
}
