// Package fixtures and an agent-like installer for the install benchmarks.
import { createHash, randomFillSync } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Header } from 'tar';
import type { NatsConnection } from '@nats-io/transport-node';
import { InstallMachine, type ProgressReport } from '../../agent/install/machine.js';
import { Journal } from '../../agent/install/journal.js';
import type { InstallStep } from '../../agent/install/states.js';
import { silentLogger } from '../../shared/log.js';
import { readObjectToFile } from '../../shared/nats/object-read.js';
import { buildPackage, type BuildResult, type Manifest } from '../../shared/package/mod.js';
import { parseManifest } from '../../shared/package/manifest.js';
import type { DmlRecord } from '../../shared/protocol/messages.js';
import { MiB, writeMixedFile } from './util.js';

export function recordFor(pkg: { manifest: Manifest; sha256: string; size: number }, object: string): DmlRecord {
  return { name: pkg.manifest.name, version: pkg.manifest.version, sha256: pkg.sha256, size: pkg.size, object, signedAt: new Date().toISOString() };
}

/**
 * A real package built with buildPackage from `totalBytes` of moderately compressible data in
 * `files` files; the source directory is removed afterwards.
 */
export async function buildMixedPackage(workDir: string, name: string, version: string, totalBytes: number, files = 4): Promise<BuildResult> {
  const src = join(workDir, 'src');
  mkdirSync(join(src, 'data'), { recursive: true });
  writeFileSync(join(src, 'ferry.json'), JSON.stringify({ name, version, description: 'benchmark payload' }));
  try {
    for (let i = 0; i < files; i++) {
      const size = Math.floor(totalBytes / files) + (i === 0 ? totalBytes % files : 0);
      await writeMixedFile(join(src, 'data', `part-${i}.bin`), size, i);
    }
    return await buildPackage(src, join(workDir, `${name}-${version}.ferry`));
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

/**
 * A `.ferry` package of `totalBytes` of incompressible data in files of `fileBytes`, written
 * straight to `file` without a source tree on disk. Same layout as buildPackage (manifest.json
 * first, payload/ entries, modes 0644, owner 0), but gzip level 0: deflate at level 6 spends
 * ~20–40 MiB/s on random bytes only to emit stored blocks anyway, so the installer sees an
 * equivalent stream. File content: one random 4 MiB block, each copy stamped with
 * (file, index) so no two copies are equal (and far beyond deflate's 32 KiB window).
 */
export async function writeIncompressiblePackage(
  file: string,
  name: string,
  version: string,
  totalBytes: number,
  fileBytes: number,
  /** the same block and a salt per file make versions that share files (salt 0 = unchanged) */
  variant: { block?: Buffer; salt?: (file: number) => number } = {},
): Promise<{ manifest: Manifest; sha256: string; size: number }> {
  const block = variant.block ?? randomFillSync(Buffer.allocUnsafe(4 * MiB));
  const count = Math.ceil(totalBytes / fileBytes);
  const sizes = Array.from({ length: count }, (_, i) => Math.min(fileBytes, totalBytes - i * fileBytes));
  const chunks = function* (f: number, copy: boolean): Generator<Buffer> {
    for (let off = 0, i = 0; off < sizes[f]!; off += block.length, i++) {
      const b = copy ? Buffer.from(block) : block;
      b.writeUInt32LE(f, 0);
      b.writeUInt32LE(i, 4);
      b.writeUInt32LE(variant.salt?.(f) ?? 0, 8);
      yield b.subarray(0, Math.min(b.length, sizes[f]! - off));
    }
  };
  const paths = sizes.map((_, f) => `data/blob-${String(f).padStart(3, '0')}.bin`);
  const files = sizes.map((size, f) => {
    const h = createHash('sha256');
    for (const c of chunks(f, false)) h.update(c);
    return { path: paths[f]!, size, mode: 0o644 as const, sha256: h.digest('hex') };
  });
  const createdAt = new Date().toISOString();
  const manifest = parseManifest({ formatVersion: 1, name, version, description: 'benchmark payload', hookTimeoutSeconds: 60, files, createdAt });
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const mtime = new Date(createdAt);
  const header = (path: string, type: 'File' | 'Directory', size: number, mode: number): Buffer => {
    const h = new Header({ path, type, size, mode, mtime, uid: 0, gid: 0, uname: '', gname: '' });
    if (h.encode() || !h.block) throw new Error(`cannot encode a ustar header for ${path}`);
    return h.block;
  };
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  async function* tar(): AsyncGenerator<Buffer> {
    yield header('manifest.json', 'File', manifestBytes.length, 0o644);
    yield manifestBytes;
    yield pad(manifestBytes.length);
    yield header('payload/data/', 'Directory', 0, 0o755);
    for (let f = 0; f < count; f++) {
      yield header(`payload/${paths[f]}`, 'File', sizes[f]!, 0o644);
      yield* chunks(f, true);
      yield pad(sizes[f]!);
    }
    yield Buffer.alloc(1024);
  }
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    Readable.from(tar(), { objectMode: false }),
    createGzip({ level: 0 }),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        hash.update(c);
        size += c.length;
        yield c;
      }
    },
    createWriteStream(file, { flags: 'wx' }),
  );
  return { manifest, sha256: hash.digest('hex'), size };
}

export interface Installer {
  machine: InstallMachine;
  journal: Journal;
  installRoot: string;
  /** milliseconds at which each step began (from MachineDeps.beforeStep) */
  steps: { step: InstallStep; at: number }[];
  reports: ProgressReport[];
  close(): void;
}

/** An InstallMachine wired like the agent's, fetching from `bucket` with readObjectToFile. */
export function newInstaller(nc: NatsConnection, bucket: string, base: string): Installer {
  const stateDir = join(base, 'state');
  const installRoot = join(base, 'root');
  mkdirSync(stateDir, { recursive: true });
  const journal = new Journal(join(stateDir, 'journal.db'));
  const steps: Installer['steps'] = [];
  const reports: ProgressReport[] = [];
  const machine = new InstallMachine({
    journal,
    installRoot,
    downloadDir: join(stateDir, 'staging'),
    fetch: async (record, dest) => {
      await readObjectToFile(nc, { bucket, name: record.object, dest, expectedSha256: record.sha256, expectedSize: record.size, durable: false });
    },
    report: (r) => reports.push(r),
    log: silentLogger,
    keepVersions: 3,
    host: { os: process.platform, arch: process.arch },
    beforeStep: async (step) => {
      steps.push({ step, at: performance.now() });
    },
  });
  return { machine, journal, installRoot, steps, reports, close: () => journal.close() };
}

/** "download 310 ms, verify 420 ms, …" from the step timestamps and the end time. */
export function stepBreakdown(steps: { step: string; at: number }[], end: number): string {
  return steps.map((s, i) => `${s.step} ${Math.round((steps[i + 1]?.at ?? end) - s.at)} ms`).join(', ');
}

/** Install once; throws with the machine's own error if the outcome is not 'done'. */
export async function installOnce(inst: Installer, record: DmlRecord): Promise<void> {
  const outcome = await inst.machine.install({ operation: `bench-${Date.now()}`, record, allowDowngrade: false });
  if (outcome !== 'done') {
    const err = [...inst.reports].reverse().find((r) => r.error)?.error;
    throw new Error(`install ended ${outcome}: ${err ?? 'no error reported'}`);
  }
}
