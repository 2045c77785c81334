// How many copies JetStream keeps of Ferry's streams, KV buckets and object stores:
// min(3, the JetStream cluster's size) unless the operator said otherwise (`--replicas N`).
// One node keeps one copy; three nodes keep three, so losing one loses nothing acknowledged.
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { FerryError } from '../../shared/errors.js';

const JSZ_PING = '$SYS.REQ.SERVER.PING.JSZ';
export const MAX_REPLICAS = 3;

interface JszAnswer {
  server?: { name?: string; cluster?: string };
  data?: { config?: unknown; disabled?: boolean; meta_cluster?: { name?: string; cluster_size?: number } };
}

/**
 * The number of JetStream servers in the cluster of the server `sys` is connected to, asked over
 * the system account: every server answers the JSZ ping; the meta group reports its size (which
 * counts nodes that are down at the moment, as it should: replicas are placed for the whole
 * cluster). Leaf nodes (their own domain) are not counted.
 */
export async function jetstreamClusterSize(sys: NatsConnection, waitMs = 1500): Promise<number> {
  const cluster = sys.info?.cluster;
  const answers: JszAnswer[] = [];
  const replies = await sys.requestMany(JSZ_PING, '', { maxWait: waitMs });
  for await (const m of replies) {
    try {
      answers.push(JSON.parse(m.string()) as JszAnswer);
    } catch {
      // not a JSZ answer; ignore
    }
  }
  const members = answers.filter((a) => a.data && !a.data.disabled && (cluster === undefined || a.server?.cluster === cluster));
  const metaSize = Math.max(0, ...members.map((a) => a.data?.meta_cluster?.cluster_size ?? 0));
  return Math.max(1, metaSize, members.length);
}

/** The replicas to use: the override if given (checked against the cluster), else min(3, size). */
export function chooseReplicas(clusterSize: number, override?: number): number {
  if (override === undefined) return Math.min(MAX_REPLICAS, clusterSize);
  if (!Number.isInteger(override) || override < 1 || override > 5) {
    throw new FerryError('FERRY_INVALID_INPUT', `--replicas must be 1 to 5, got ${String(override)}`);
  }
  if (override > clusterSize) {
    throw new FerryError('FERRY_INVALID_INPUT', `--replicas ${override} is more than the ${clusterSize} JetStream server(s) of this NATS`, {
      hint: `use --replicas ${Math.min(MAX_REPLICAS, clusterSize)} or fewer, or add nodes (ferry nats config --nodes 3)`,
    });
  }
  return override;
}

/**
 * Scale an existing stream to `replicas` (JetStream moves the data in place); a no-op when it
 * already has that many. KV and object store clients only create streams, never change them.
 */
export async function scaleStream(jsmOrNc: JetStreamManager | NatsConnection, stream: string, replicas: number): Promise<void> {
  const scaled = await withStoreRetry(async () => {
    const jsm = 'streams' in jsmOrNc ? jsmOrNc : await jetstreamManager(jsmOrNc);
    const info = await jsm.streams.info(stream);
    if ((info.config.num_replicas ?? 1) === replicas) return false;
    await jsm.streams.update(stream, { ...info.config, num_replicas: replicas });
    return true;
  });
  if (!scaled) return;
  // Writes meet no responder until the scaled stream has elected its leader: wait for it.
  const deadline = Date.now() + STORE_RETRY_MS;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    const jsm = 'streams' in jsmOrNc ? jsmOrNc : await jetstreamManager(jsmOrNc);
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (info && (!info.cluster || info.cluster.leader)) return;
    if (Date.now() + wait > deadline) throw new FerryError('FERRY_INTERNAL', `JetStream stream ${stream} elected no leader within ${STORE_RETRY_MS / 1000} s of being scaled to ${replicas} replica(s)`);
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** How long a stream or consumer whose store JetStream could not create yet is tried again. */
const STORE_RETRY_MS = 30_000;

/**
 * Create a stream, bucket or consumer, trying again while JetStream answers "error creating store
 * for stream|consumer" (err_code 10049/10050) or does not answer at all (no responders). A clustered JetStream says this for a while after
 * the cluster formed or a node came back, and under load (seen here: a ferry server starting
 * against a fresh 3-node cluster beside a busy test suite exited with it); it is transient. Any
 * other error, or the same one past 30 s, is thrown.
 */
export async function withStoreRetry<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + STORE_RETRY_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 4000)) {
    try {
      return await fn();
    } catch (err) {
      const code = err instanceof JetStreamApiError ? err.code : undefined;
      // No JetStream responder ("jetstream is not enabled"): a stream or the meta group between
      // leaders, e.g. a stream just scaled by another server, or a node that just came back.
      const transient = code === 10049 || code === 10050 || (err as Error)?.name === 'JetStreamNotEnabled' || /error creating store for (stream|consumer)/.test(String((err as Error)?.message));
      if (!transient || Date.now() + wait > deadline) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
