// `ferry nats config`: ready-to-run nats-server configurations for an N-node cluster that trusts
// this data directory's operator (operator mode, full resolver with the account JWTs preloaded),
// with routes between the nodes, JetStream, and a store directory per node.
//
// Pure: renders text from validated input; the command writes the files. Every string that goes
// into a file is validated or quoted (server-config.ts), so no input can inject config text.
import { isAbsolute, join } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { HUB_DOMAIN } from '../../shared/protocol/subjects.js';
import { DEFAULT_MAX_PAYLOAD, hostPort, quote, renderOperatorAuth, type OperatorAuth } from './server-config.js';

export const CLUSTER_NAME = 'ferry';
const HOST_RE = /^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:.]+\]?$/;

export interface ClusterConfigInput {
  nodes: number;
  /** one host (every node on it, ports counting up from port/clusterPort), or one per node */
  hosts: string[];
  port: number;
  clusterPort: number;
  /** HTTP monitoring (varz, jsz, leafz…); counts up like the other ports when the nodes share a host */
  httpPort?: number | undefined;
  /** where sites' leafnodes connect (ferry site add); counts up like the other ports */
  leafPort?: number | undefined;
  /** absolute; node i keeps its JetStream store and resolver under storeDir/node-i */
  storeDir: string;
  /** the password of the route user (nodes authenticate each other's routes) */
  routePassword: string;
  auth: OperatorAuth;
}

export interface ClusterNode {
  name: string;
  file: string;
  /** the client URL (nats://host:port) */
  url: string;
  config: string;
}

/** Checks everything before anything is rendered, so a bad flag writes no file. */
export function validateClusterInput(c: ClusterConfigInput): void {
  if (!Number.isInteger(c.nodes) || c.nodes < 1 || c.nodes > 15) {
    throw new FerryError('FERRY_INVALID_INPUT', `--nodes must be 1 to 15, got ${String(c.nodes)}`);
  }
  if (c.nodes === 2) {
    // JetStream's meta group needs a majority: with two nodes, losing either stops every stream.
    throw new FerryError('FERRY_INVALID_INPUT', 'a 2-node cluster cannot survive the loss of a node (JetStream needs a majority of nodes up)', {
      hint: 'use --nodes 3 (or 1 for a single server)',
    });
  }
  if (c.hosts.length !== 1 && c.hosts.length !== c.nodes) {
    throw new FerryError('FERRY_INVALID_INPUT', `give one --host for all nodes or one per node (${c.nodes}), not ${c.hosts.length}`);
  }
  for (const h of c.hosts) if (!HOST_RE.test(h)) throw new FerryError('FERRY_INVALID_INPUT', `--host ${JSON.stringify(h)} is not a host name or address`);
  const shared = c.hosts.length === 1 && c.nodes > 1;
  const ports: [string, number | undefined][] = [['--port', c.port], ['--cluster-port', c.clusterPort], ['--http-port', c.httpPort], ['--leaf-port', c.leafPort]];
  const used = new Map<number, string>();
  for (const [flag, base] of ports) {
    if (base === undefined) continue;
    const last = base + (shared ? c.nodes - 1 : 0);
    if (!Number.isInteger(base) || base < 1 || last > 65535) throw new FerryError('FERRY_INVALID_INPUT', `${flag} ${String(base)} leaves no room for ${c.nodes} node(s) (ports up to 65535)`);
    for (let p = base; p <= last; p++) {
      const other = used.get(p);
      if (other) throw new FerryError('FERRY_INVALID_INPUT', `${flag} and ${other} overlap at port ${p}`, { hint: 'nodes on one host take consecutive ports from each base' });
      used.set(p, flag);
    }
  }
  if (!isAbsolute(c.storeDir)) throw new FerryError('FERRY_INVALID_INPUT', `the store directory must be absolute, got ${JSON.stringify(c.storeDir)}`);
  if (!/^[A-Za-z0-9_-]{16,}$/.test(c.routePassword)) throw new FerryError('FERRY_INTERNAL', 'invalid route password');
}

export function renderClusterConfigs(c: ClusterConfigInput): ClusterNode[] {
  validateClusterInput(c);
  const shared = c.hosts.length === 1;
  const hostOf = (i: number) => (shared ? c.hosts[0]! : c.hosts[i]!);
  const portOf = (base: number, i: number) => (shared ? base + i : base);
  // Nodes on one host listen on it; nodes on their own machines listen everywhere and are
  // reached by their host names.
  const listenHost = (i: number) => (shared ? hostOf(i) : '0.0.0.0');
  const routeUser = 'ferry-route';
  const routes = Array.from({ length: c.nodes }, (_, i) => `nats-route://${routeUser}:${c.routePassword}@${hostPort(hostOf(i), portOf(c.clusterPort, i))}`);
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < c.nodes; i++) {
    const name = `node-${i + 1}`;
    const dir = join(c.storeDir, name);
    const lines = [
      `# Written by \`ferry nats config\`: ${name} of a ${c.nodes}-node Ferry NATS cluster. Start it with: nats-server -c ${name}.conf`,
      `server_name: ${quote(`ferry-${name}`, 'server name')}`,
      `listen: ${quote(hostPort(listenHost(i), portOf(c.port, i)), 'listen address')}`,
      ...(c.httpPort !== undefined ? [`http: ${quote(hostPort(listenHost(i), portOf(c.httpPort, i)), 'http address')}`] : []),
      `max_payload: ${DEFAULT_MAX_PAYLOAD}`,
      // As for the embedded server: a busy agent host may read slowly for a moment.
      'write_deadline: "10s"',
      'jetstream {',
      `  store_dir: ${quote(join(dir, 'jetstream'), 'store dir')}`,
      // A cluster that accepts sites is the hub domain: sites reach it as $JS.hub.API.
      ...(c.leafPort !== undefined ? [`  domain: ${HUB_DOMAIN}`] : []),
      '}',
      'authorization {',
      '  timeout: 10',
      '}',
      ...(c.nodes > 1
        ? [
            'cluster {',
            `  name: ${CLUSTER_NAME}`,
            `  listen: ${quote(hostPort(listenHost(i), portOf(c.clusterPort, i)), 'cluster address')}`,
            // Routes authenticate: whoever reaches the cluster port is not a node by that alone.
            `  authorization { user: ${routeUser}, password: ${quote(c.routePassword, 'route password')}, timeout: 5 }`,
            '  routes: [',
            ...routes.filter((_, j) => j !== i).map((r) => `    ${quote(r, 'route')}`),
            '  ]',
            '}',
          ]
        : []),
      ...(c.leafPort !== undefined ? ['leafnodes {', `  listen: ${quote(hostPort(listenHost(i), portOf(c.leafPort, i)), 'leafnode address')}`, '}'] : []),
      '',
      renderOperatorAuth(c.auth, join(dir, 'resolver')),
    ];
    nodes.push({ name, file: `${name}.conf`, url: `nats://${hostPort(hostOf(i), portOf(c.port, i))}`, config: lines.join('\n') });
  }
  return nodes;
}
