// Child process of the fetch benchmark: one verified download (readObjectToFile, as the agent
// calls it) in whatever Node runtime and V8 flags it was started with, so the benchmark can
// compare the agent's flags (packaging/bundle.ts AGENT_NODE_FLAGS) with Node's defaults.
// Prints one JSON line: { ok, ms, error? } — ms excludes start-up and connecting.
// Usage: node [flags] fetch-child.js '{"url":…,"bucket":…,"object":…,"dest":…,"size":…,"sha256":…}'
import { rmSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { readObjectToFile } from '../../shared/nats/object-read.js';

interface Config {
  url: string;
  bucket: string;
  object: string;
  dest: string;
  size: number;
  sha256: string;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '') as Config;
  const nc = await connect({ servers: cfg.url, name: 'bench-fetch-child' });
  try {
    const t0 = performance.now();
    const r = await readObjectToFile(nc, { bucket: cfg.bucket, name: cfg.object, dest: cfg.dest, expectedSize: cfg.size, expectedSha256: cfg.sha256, durable: false });
    const ms = performance.now() - t0;
    rmSync(cfg.dest, { force: true });
    if (r.sha256 !== cfg.sha256) throw new Error('wrong object');
    process.stdout.write(`${JSON.stringify({ ok: true, ms })}\n`);
  } finally {
    await nc.close();
  }
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ ok: false, ms: 0, error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exitCode = 1;
});
