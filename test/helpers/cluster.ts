// A real NATS cluster for tests: the node configs come from `ferry nats config` (the product's
// own output), started as nats-server children on free loopback ports; nodes can be killed
// (SIGKILL) and started again on the same ports and store. Monitoring (varz, jsz, connz, leafz)
// is read over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { findNatsServerBinary } from '../../scripts/nats-launcher.js';
import { runFerry, tempDir, waitFor } from './fleet.js';

export interface ClusterNode {
  name: string;
  file: string;
  url: string;
  httpUrl: string;
  child?: ChildProcess;
  logs(): string;
  running(): boolean;
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface TestCluster {
  urls: string[];
  nodes: ClusterNode[];
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port with `count` free consecutive ports after it (loopback), picked at random. */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive ports found`);
}

export async function httpJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** `ferry nats config` for `nodes` nodes on loopback, then every node started; resolves once JetStream has a meta leader. */
export async function startCluster(home: string, nodes = 3, extraArgs: string[] = []): Promise<TestCluster> {
  const base = await freePortRange(nodes * 3);
  const out = tempDir('ferry-cluster-');
  const doc = (
    await runFerry(home, ['nats', 'config', '--out', out, '--nodes', String(nodes), '--port', String(base), '--cluster-port', String(base + nodes), '--http-port', String(base + 2 * nodes), '--json', ...extraArgs])
  ).json<{ urls: string[]; files: string[] }>();
  const binary = findNatsServerBinary();
  const list: ClusterNode[] = doc.files.map((file, i) => {
    let output = '';
    const node: ClusterNode = {
      name: `node-${i + 1}`,
      file,
      url: doc.urls[i]!,
      httpUrl: `http://127.0.0.1:${base + 2 * nodes + i}`,
      logs: () => output,
      running: () => node.child !== undefined && node.child.exitCode === null && node.child.signalCode === null,
      async start() {
        const child = spawn(binary, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
        node.child = child;
        const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
        child.stdout?.on('data', keep);
        child.stderr?.on('data', keep);
        await waitFor(async () => {
          if (!node.running()) throw new Error(`${node.name} exited: ${output.slice(-2000)}`);
          return httpJson<{ server_id?: string }>(`${node.httpUrl}/varz`).then((v) => Boolean(v.server_id), () => false);
        }, 40_000, { intervalMs: 100, message: () => `${node.name} did not start: ${output.slice(-2000)}` });
      },
      async kill() {
        const child = node.child;
        if (!child || !node.running()) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      },
    };
    return node;
  });
  await Promise.all(list.map((n) => n.start()));
  if (nodes > 1) await waitMetaLeader(list);
  return { urls: doc.urls, nodes: list, stop: async () => void (await Promise.all(list.map((n) => n.kill()))) };
}

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

/** Every running node knows the JetStream meta leader. */
export async function waitMetaLeader(nodes: ClusterNode[], timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => {
    const jsz = await Promise.all(nodes.filter((n) => n.running()).map((n) => httpJson<Jsz>(`${n.httpUrl}/jsz`).catch(() => ({}) as Jsz)));
    return jsz.every((j) => Boolean(j.meta_cluster?.leader));
  }, timeoutMs, { intervalMs: 200, message: 'the NATS cluster elected no JetStream meta leader' });
}

export interface StreamState {
  name: string;
  messages: number;
  lastSeq: number;
  leader?: string;
  replicas: number;
}

/** The streams one node holds (with its own copy's state), from its jsz. */
export async function nodeStreams(node: ClusterNode): Promise<Map<string, StreamState>> {
  const jsz = await httpJson<{ account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number }; cluster?: { leader?: string }; config?: { num_replicas?: number } }[] }[] }>(
    `${node.httpUrl}/jsz?accounts=true&streams=true&config=true`,
  );
  const out = new Map<string, StreamState>();
  for (const a of jsz.account_details ?? []) {
    for (const s of a.stream_detail ?? []) out.set(s.name, { name: s.name, messages: s.state.messages, lastSeq: s.state.last_seq, leader: s.cluster?.leader, replicas: s.config?.num_replicas ?? 1 });
  }
  return out;
}

/** How many client connections a node has (connz). */
export async function nodeConnections(node: ClusterNode): Promise<{ total: number; names: string[] }> {
  const connz = await httpJson<{ num_connections: number; connections?: { name?: string }[] }>(`${node.httpUrl}/connz?limit=1024`);
  return { total: connz.num_connections, names: (connz.connections ?? []).map((c) => c.name ?? '') };
}

/** The node whose server leads `stream` (server names are ferry-node-i), as the running nodes see it; undefined while none does. */
export async function streamLeader(nodes: ClusterNode[], stream: string): Promise<ClusterNode | undefined> {
  for (const n of nodes.filter((x) => x.running())) {
    const leader = (await nodeStreams(n).catch(() => undefined))?.get(stream)?.leader;
    const node = leader ? nodes.find((x) => `ferry-${x.name}` === leader) : undefined;
    if (node) return node;
  }
  return undefined;
}

/** The agents connected to a node (the names of their connections: `ferry-agent ID`). */
export async function agentsOn(node: ClusterNode): Promise<string[]> {
  return (await nodeConnections(node)).names.filter((n) => n.startsWith('ferry-agent '));
}

/**
 * Make `stream`'s leader a node that `wanted` accepts: while it is not, the leader steps down
 * (JetStream's stream leader stepdown; another replica is elected, at random) — at most `tries`
 * times. Returns the leader.
 */
export async function moveStreamLeader(nc: NatsConnection, nodes: ClusterNode[], stream: string, wanted: (node: ClusterNode) => Promise<boolean>, tries = 12): Promise<ClusterNode> {
  let leader: ClusterNode | undefined;
  for (let attempt = 0; ; attempt++) {
    await waitFor(async () => (leader = await streamLeader(nodes, stream)) !== undefined, 30_000, { intervalMs: 200, message: `${stream} has no leader` });
    if (await wanted(leader!)) return leader!;
    if (attempt >= tries) throw new Error(`${stream}'s leader did not land on a wanted node in ${tries} stepdowns (last: ${leader!.name})`);
    const was = leader!;
    const reply = JSON.parse(new TextDecoder().decode((await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, '', { timeout: 10_000 })).data)) as { success?: boolean; error?: unknown };
    if (!reply.success) throw new Error(`stepdown of ${stream}'s leader refused: ${JSON.stringify(reply.error)}`);
    // Another replica takes over; should the same one be elected again, the next round steps it down again.
    await waitFor(async () => {
      const now = await streamLeader(nodes, stream);
      return now !== undefined && now !== was;
    }, 10_000, { intervalMs: 200 }).catch(() => undefined);
  }
}
