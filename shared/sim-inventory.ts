// The inventory of a simulated host: the fleet simulator's agents report it, and the benchmarks and
// the server's tests build reports from it. Deterministic by host index (a fifth of hosts arm64,
// a third physical), so runs compare.
import type { InventoryDoc } from './protocol/messages.js';

export function syntheticInventory(hostname: string, i: number): InventoryDoc {
  const arm = i % 5 === 4;
  return {
    hostname,
    os: 'linux',
    distro: 'Debian GNU/Linux',
    release: '12',
    kernel: '6.1.0-sim',
    arch: arm ? 'arm64' : 'x64',
    cpu: { model: 'Simulated CPU', cores: 2 + (i % 4) * 2 },
    memoryMB: 4096 * (1 + (i % 4)),
    disks: [{ mount: '/', sizeMB: 102_400, usedMB: 20_480, fs: 'ext4' }],
    interfaces: [{ name: 'eth0', ip4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }],
    virtual: i % 3 !== 0,
  };
}
