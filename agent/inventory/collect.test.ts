import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { collectInventory, inventoryFingerprint, type Inventory } from './collect.js';
import { factsFromInventory as inventoryFacts } from '../../shared/facts.js';

const savedHostname = process.env.FERRY_HOSTNAME;
afterEach(() => {
  if (savedHostname === undefined) delete process.env.FERRY_HOSTNAME;
  else process.env.FERRY_HOSTNAME = savedHostname;
});

function expectSaneShape(inv: Inventory): void {
  expect(typeof inv.hostname).toBe('string');
  expect(inv.hostname.length).toBeGreaterThan(0);
  expect(inv.os).toBe(process.platform);
  expect(inv.arch).toBe(process.arch);
  expect(typeof inv.distro).toBe('string');
  expect(typeof inv.release).toBe('string');
  expect(inv.kernel.length).toBeGreaterThan(0);
  expect(inv.cpu.cores).toBeGreaterThan(0);
  expect(Number.isInteger(inv.cpu.cores)).toBe(true);
  expect(inv.cpu.model.length).toBeGreaterThan(0);
  expect(inv.memoryMB).toBeGreaterThan(0);
  expect(typeof inv.virtual).toBe('boolean');
  for (const d of inv.disks) {
    expect(d.mount.length).toBeGreaterThan(0);
    expect(d.sizeMB).toBeGreaterThan(0);
    expect(d.usedMB).toBeGreaterThanOrEqual(0);
  }
  for (const n of inv.interfaces) {
    expect(n.name.length).toBeGreaterThan(0);
    expect(n.name).not.toBe('lo');
    expect(n.ip4 ?? '').not.toMatch(/^127\./);
  }
}

const sample: Inventory = {
  hostname: 'web-01',
  os: 'linux',
  distro: 'Debian GNU/Linux',
  release: '12',
  kernel: '6.1.0',
  arch: 'x64',
  cpu: { model: 'AMD EPYC', cores: 4 },
  memoryMB: 8192,
  disks: [
    { mount: '/', sizeMB: 100_000, usedMB: 20_000, fs: 'ext4' },
    { mount: '/data', sizeMB: 500_000, usedMB: 1_000, fs: 'xfs' },
  ],
  interfaces: [
    { name: 'eth0', ip4: '10.0.0.5', mac: '02:00:00:00:00:01' },
    { name: 'eth1', ip6: 'fd00::5' },
  ],
  virtual: true,
};
const clone = (inv: Inventory): Inventory => structuredClone(inv);

describe('collectInventory (this machine)', () => {
  it('returns a sane inventory quickly', async () => {
    delete process.env.FERRY_HOSTNAME;
    const t = Date.now();
    const inv = await collectInventory();
    expect(Date.now() - t).toBeLessThan(20_000); // its probes time out at 5 s; room for a busy machine
    expectSaneShape(inv);
    expect(inv.hostname).toBe(inv.hostname.trim());
  });

  it('honours FERRY_HOSTNAME', async () => {
    process.env.FERRY_HOSTNAME = 'ferry-test-agent-7';
    const inv = await collectInventory();
    expect(inv.hostname).toBe('ferry-test-agent-7');
    expect(inventoryFacts(inv).hostname).toBe('ferry-test-agent-7');
  });

  it('is stable across two collections', async () => {
    process.env.FERRY_HOSTNAME = 'stable-host';
    // A probe that times out (5 s by default) falls back to other values: on a busy machine one
    // collection of the two may time out and the other not. Stability is about the values.
    const a = await collectInventory({ timeoutMs: 60_000 });
    const b = await collectInventory({ timeoutMs: 60_000 });
    expect(inventoryFingerprint(a)).toBe(inventoryFingerprint(b));
  });
});

describe('collectInventory fallbacks', () => {
  it('falls back to node:os when every probe fails', async () => {
    delete process.env.FERRY_HOSTNAME;
    const boom = () => Promise.reject(new Error('no /proc here'));
    const inv = await collectInventory({
      source: { osInfo: boom, cpu: boom, mem: boom, fsSize: boom, networkInterfaces: boom, system: boom },
    });
    expectSaneShape(inv);
    expect(inv.hostname).toBe(os.hostname());
    expect(inv.memoryMB).toBe(Math.round(os.totalmem() / 1024 / 1024));
    expect(inv.kernel).toBe(os.release());
  });

  it('survives probes that throw synchronously or return junk', async () => {
    const inv = await collectInventory({
      source: {
        osInfo: () => {
          throw new Error('sync');
        },
        cpu: async () => ({ manufacturer: '', brand: '', cores: 0 }),
        mem: async () => ({ total: Number.NaN }),
        fsSize: async () => [
          { fs: 'tmpfs', type: 'tmpfs', size: 0, used: 0, mount: '/dev/shm' },
          { fs: '/dev/sda1', type: 'ext4', size: 10 * 1024 * 1024 * 1024, used: 1024 * 1024 * 1024, mount: '/' },
        ],
        networkInterfaces: async () => [
          { iface: 'lo', ip4: '127.0.0.1', ip6: '::1', mac: '00:00:00:00:00:00', internal: true },
          { iface: 'eth0', ip4: '10.1.2.3', ip6: '', mac: '02:00:00:00:00:09', internal: false },
        ],
        system: async () => ({ virtual: false }),
      },
    });
    expectSaneShape(inv);
    expect(inv.disks).toEqual([{ mount: '/', sizeMB: 10_240, usedMB: 1_024, fs: 'ext4' }]);
    expect(inv.interfaces).toEqual([{ name: 'eth0', ip4: '10.1.2.3', mac: '02:00:00:00:00:09' }]);
    expect(inv.virtual).toBe(false);
  });

  it('does not wait for hanging probes beyond the timeout', async () => {
    const hang = () => new Promise<never>(() => {});
    const t = Date.now();
    const inv = await collectInventory({
      timeoutMs: 200,
      source: { osInfo: hang, cpu: hang, mem: hang, fsSize: hang, networkInterfaces: hang, system: hang },
    });
    expect(Date.now() - t).toBeLessThan(10_000); // hanging probes, not stuck at them
    expectSaneShape(inv);
  });
});

describe('inventoryFingerprint', () => {
  it('is a sha256 hex digest and deterministic', () => {
    const fp = inventoryFingerprint(sample);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(inventoryFingerprint(clone(sample))).toBe(fp);
  });

  it('changes when a meaningful field changes', () => {
    const fp = inventoryFingerprint(sample);
    const changes: ((i: Inventory) => void)[] = [
      (i) => (i.hostname = 'web-02'),
      (i) => (i.kernel = '6.1.1'),
      (i) => (i.cpu.cores = 8),
      (i) => (i.memoryMB = 16384),
      (i) => (i.virtual = false),
      (i) => (i.disks[0]!.sizeMB = 200_000),
      (i) => i.disks.pop(),
      (i) => (i.interfaces[0]!.ip4 = '10.0.0.6'),
    ];
    for (const change of changes) {
      const c = clone(sample);
      change(c);
      expect(inventoryFingerprint(c)).not.toBe(fp);
    }
  });

  it('ignores disk usage and ordering of disks/interfaces', () => {
    const fp = inventoryFingerprint(sample);
    const c = clone(sample);
    c.disks[0]!.usedMB += 12_345;
    c.disks.reverse();
    c.interfaces.reverse();
    expect(inventoryFingerprint(c)).toBe(fp);
  });
});

describe('inventoryFacts', () => {
  it('flattens to strings', () => {
    expect(inventoryFacts(sample)).toEqual({
      hostname: 'web-01',
      os: 'linux',
      distro: 'Debian GNU/Linux',
      release: '12',
      kernel: '6.1.0',
      arch: 'x64',
      virtual: 'true',
      'cpu.cores': '4',
      memoryMB: '8192',
    });
    expect(inventoryFacts({ ...sample, virtual: false }).virtual).toBe('false');
  });
});
