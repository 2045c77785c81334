import { describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { renderClusterConfigs, type ClusterConfigInput } from './cluster-config.js';
import { chooseReplicas } from './replicas.js';

const JWT = 'aaa.bbb.ccc';
const SYS = `A${'B'.repeat(55)}`;
const base: ClusterConfigInput = {
  nodes: 3,
  hosts: ['127.0.0.1'],
  port: 4222,
  clusterPort: 6222,
  storeDir: '/var/lib/ferry-nats',
  routePassword: 'p'.repeat(32),
  auth: { operatorJwt: JWT, systemAccount: SYS, accounts: { [SYS]: JWT } },
};
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof FerryError ? err.code : String(err);
  }
  return 'no error';
};

describe('renderClusterConfigs', () => {
  it('three nodes on one host: consecutive ports, routes to the two others with the route user, own store and resolver', () => {
    const nodes = renderClusterConfigs({ ...base, httpPort: 8222 });
    expect(nodes.map((n) => n.url)).toEqual(['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223', 'nats://127.0.0.1:4224']);
    const second = nodes[1]!.config;
    expect(second).toContain('server_name: "ferry-node-2"');
    expect(second).toContain('listen: "127.0.0.1:4223"');
    expect(second).toContain('http: "127.0.0.1:8223"');
    expect(second).toContain('listen: "127.0.0.1:6223"');
    expect(second).toContain(`"nats-route://ferry-route:${'p'.repeat(32)}@127.0.0.1:6222"`);
    expect(second).toContain(`"nats-route://ferry-route:${'p'.repeat(32)}@127.0.0.1:6224"`);
    expect(second).not.toContain('@127.0.0.1:6223"');
    expect(second).toContain('store_dir: "/var/lib/ferry-nats/node-2/jetstream"');
    expect(second).toContain('dir: "/var/lib/ferry-nats/node-2/resolver"');
    expect(second).toContain(`operator: "${JWT}"`);
    expect(second).toContain(`system_account: ${SYS}`);
  });

  it('one host per node: the same ports everywhere, listening on all interfaces, routes by host name', () => {
    const nodes = renderClusterConfigs({ ...base, hosts: ['n1.example.org', 'n2.example.org', 'n3.example.org'], leafPort: 7422 });
    expect(nodes.map((n) => n.url)).toEqual(['nats://n1.example.org:4222', 'nats://n2.example.org:4222', 'nats://n3.example.org:4222']);
    expect(nodes[0]!.config).toContain('listen: "0.0.0.0:4222"');
    expect(nodes[0]!.config).toContain('@n2.example.org:6222"');
    expect(nodes[0]!.config).toContain('leafnodes {\n  listen: "0.0.0.0:7422"');
    expect(nodes[0]!.config).toContain('  domain: hub\n}');
  });

  it('a single node has no cluster block', () => {
    expect(renderClusterConfigs({ ...base, nodes: 1 })[0]!.config).not.toContain('cluster {');
  });

  it('refuses 2 nodes, mismatched hosts, overlapping or out-of-range ports, a relative store and injected text', () => {
    expect(code(() => renderClusterConfigs({ ...base, nodes: 2 }))).toBe('FERRY_INVALID_INPUT');
    expect(code(() => renderClusterConfigs({ ...base, hosts: ['a', 'b'] }))).toBe('FERRY_INVALID_INPUT');
    expect(code(() => renderClusterConfigs({ ...base, clusterPort: 4224 }))).toBe('FERRY_INVALID_INPUT');
    expect(code(() => renderClusterConfigs({ ...base, port: 65534 }))).toBe('FERRY_INVALID_INPUT');
    expect(code(() => renderClusterConfigs({ ...base, storeDir: 'relative' }))).toBe('FERRY_INVALID_INPUT');
    expect(code(() => renderClusterConfigs({ ...base, hosts: ['x"\ninclude /etc/passwd'] }))).toBe('FERRY_INVALID_INPUT');
    expect(code(() => renderClusterConfigs({ ...base, storeDir: '/x"y' }))).toBe('FERRY_INVALID_INPUT');
  });
});

describe('chooseReplicas', () => {
  it('is min(3, cluster size) unless overridden, and refuses more replicas than servers', () => {
    expect([1, 2, 3, 5].map((n) => chooseReplicas(n))).toEqual([1, 2, 3, 3]);
    expect(chooseReplicas(5, 5)).toBe(5);
    expect(chooseReplicas(3, 1)).toBe(1);
    expect(code(() => chooseReplicas(1, 3))).toBe('FERRY_INVALID_INPUT');
    expect(code(() => chooseReplicas(3, 0))).toBe('FERRY_INVALID_INPUT');
  });
});
