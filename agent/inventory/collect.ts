// Host inventory for the agent: what the host is (OS, CPU, memory, disks, NICs), gathered with
// systeminformation. Every probe is time-boxed and falls back to node:os, so collecting never
// throws and always finishes in roughly PROBE_TIMEOUT_MS, even in minimal containers.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import * as os from 'node:os';
import type si from 'systeminformation';

/** systeminformation is loaded on first use: importing this module for types or the fingerprint costs nothing. */
const sys = async (): Promise<typeof si> => (await import('systeminformation')).default;

export interface Inventory {
  hostname: string;
  /** process.platform-like: 'linux', 'darwin', 'win32'. */
  os: string;
  distro: string;
  release: string;
  kernel: string;
  /** Node's process.arch: 'x64', 'arm64', … */
  arch: string;
  cpu: { model: string; cores: number };
  memoryMB: number;
  disks: { mount: string; sizeMB: number; usedMB: number; fs: string }[];
  interfaces: { name: string; ip4?: string; ip6?: string; mac?: string }[];
  virtual: boolean;
}

/** The systeminformation calls we use; injectable so tests can simulate failing/hanging probes. */
export interface InventorySource {
  osInfo: () => Promise<Pick<si.Systeminformation.OsData, 'hostname' | 'distro' | 'release' | 'kernel'>>;
  cpu: () => Promise<Pick<si.Systeminformation.CpuData, 'manufacturer' | 'brand' | 'cores'>>;
  mem: () => Promise<Pick<si.Systeminformation.MemData, 'total'>>;
  fsSize: () => Promise<Pick<si.Systeminformation.FsSizeData, 'fs' | 'type' | 'size' | 'used' | 'mount'>[]>;
  networkInterfaces: () => Promise<
    Pick<si.Systeminformation.NetworkInterfacesData, 'iface' | 'ip4' | 'ip6' | 'mac' | 'internal'>[]
  >;
  system: () => Promise<Pick<si.Systeminformation.SystemData, 'virtual'>>;
}

export interface CollectOptions {
  /** Per-probe time limit (default 5000 ms); probes run in parallel. */
  timeoutMs?: number;
  /** Override individual probes (tests). */
  source?: Partial<InventorySource>;
}

export const PROBE_TIMEOUT_MS = 5_000;
const MB = 1024 * 1024;

const defaultSource: InventorySource = {
  osInfo: async () => (await sys()).osInfo(),
  cpu: async () => (await sys()).cpu(),
  mem: async () => (await sys()).mem(),
  fsSize: async () => (await sys()).fsSize(),
  networkInterfaces: async () => {
    const r = await (await sys()).networkInterfaces();
    return Array.isArray(r) ? r : [r];
  },
  system: async () => (await sys()).system(),
};

/** Resolve to the probe's value, or undefined if it throws, rejects or outlives `ms`. */
async function probe<T>(fn: () => Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  try {
    const work = Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function nonEmpty(s: unknown): string | undefined {
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
}

function positive(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

function readSmall(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(0, 64 * 1024);
  } catch {
    return '';
  }
}

/** Best-effort VM/container detection used only when si.system() is unavailable. */
export function detectVirtualHeuristic(): boolean {
  if (process.platform !== 'linux') return false;
  if (existsSync('/.dockerenv') || existsSync('/run/.containerenv')) return true;
  if (/docker|kubepods|containerd|lxc|libpod/.test(readSmall('/proc/1/cgroup'))) return true;
  const dmi = `${readSmall('/sys/class/dmi/id/product_name')} ${readSmall('/sys/class/dmi/id/sys_vendor')}`;
  if (/kvm|qemu|vmware|virtualbox|xen|hyper-v|microsoft corporation|bochs|parallels|amazon ec2|google compute/i.test(dmi)) {
    return true;
  }
  return /^flags\s*:.*\bhypervisor\b/m.test(readSmall('/proc/cpuinfo'));
}

function osDistroFallback(): { distro: string; release: string } {
  const text = readSmall('/etc/os-release');
  const field = (k: string) => nonEmpty(new RegExp(`^${k}="?([^"\\n]*)"?`, 'm').exec(text)?.[1]);
  return { distro: field('NAME') ?? os.type(), release: field('VERSION_ID') ?? os.release() };
}

function interfacesFallback(): Inventory['interfaces'] {
  const out: Inventory['interfaces'] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs || addrs.some((a) => a.internal)) continue;
    const v4 = addrs.find((a) => a.family === 'IPv4');
    const v6s = addrs.filter((a) => a.family === 'IPv6');
    const v6 = v6s.find((a) => !a.address.toLowerCase().startsWith('fe80')) ?? v6s[0];
    const mac = addrs.find((a) => a.mac && a.mac !== '00:00:00:00:00:00')?.mac;
    out.push({ name, ...(v4 ? { ip4: v4.address } : {}), ...(v6 ? { ip6: v6.address } : {}), ...(mac ? { mac } : {}) });
  }
  return out;
}

function disksFallback(): Inventory['disks'] {
  const root = process.platform === 'win32' ? process.cwd().slice(0, 3) : '/';
  try {
    const st = statfsSync(root);
    const size = st.blocks * st.bsize;
    if (size <= 0) return [];
    return [{ mount: root, sizeMB: Math.round(size / MB), usedMB: Math.round(((st.blocks - st.bfree) * st.bsize) / MB), fs: '' }];
  } catch {
    return [];
  }
}

function hostnameOverride(): string | undefined {
  return nonEmpty(process.env.FERRY_HOSTNAME);
}

/** Collect the host's inventory. Never throws; takes at most about `timeoutMs` (default 5 s). */
export async function collectInventory(opts: CollectOptions = {}): Promise<Inventory> {
  const ms = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  const src: InventorySource = { ...defaultSource, ...opts.source };

  const [osInfo, cpu, mem, fsSize, nics, system] = await Promise.all([
    probe(src.osInfo, ms),
    probe(src.cpu, ms),
    probe(src.mem, ms),
    probe(src.fsSize, ms),
    probe(src.networkInterfaces, ms),
    probe(src.system, ms),
  ]);

  const cpus = (() => {
    try {
      return os.cpus();
    } catch {
      return [];
    }
  })();
  const fallbackDistro = osInfo ? undefined : osDistroFallback();

  const manufacturer = nonEmpty(cpu?.manufacturer) ?? '';
  const brand = nonEmpty(cpu?.brand) ?? '';
  const siModel = brand.toLowerCase().startsWith(manufacturer.toLowerCase()) ? brand : `${manufacturer} ${brand}`.trim();

  const disks: Inventory['disks'] = [];
  if (Array.isArray(fsSize)) {
    const seen = new Set<string>();
    for (const d of fsSize) {
      const size = positive(d?.size);
      const mount = nonEmpty(d?.mount);
      if (size === undefined || mount === undefined || seen.has(mount)) continue;
      seen.add(mount);
      disks.push({
        mount,
        sizeMB: Math.round(size / MB),
        usedMB: Math.round((positive(d.used) ?? 0) / MB),
        fs: nonEmpty(d.type) ?? nonEmpty(d.fs) ?? '',
      });
    }
  }

  let interfaces: Inventory['interfaces'];
  if (Array.isArray(nics)) {
    interfaces = [];
    for (const n of nics) {
      const name = nonEmpty(n?.iface);
      if (!name || n.internal || name === 'lo' || n.ip4?.startsWith('127.') || n.ip6 === '::1') continue;
      const ip4 = nonEmpty(n.ip4);
      const ip6 = nonEmpty(n.ip6);
      const mac = nonEmpty(n.mac);
      interfaces.push({
        name,
        ...(ip4 ? { ip4 } : {}),
        ...(ip6 ? { ip6 } : {}),
        ...(mac && mac !== '00:00:00:00:00:00' ? { mac } : {}),
      });
    }
  } else {
    interfaces = interfacesFallback();
  }

  return {
    hostname: hostnameOverride() ?? nonEmpty(osInfo?.hostname) ?? nonEmpty(os.hostname()) ?? 'localhost',
    os: process.platform,
    distro: nonEmpty(osInfo?.distro) ?? fallbackDistro?.distro ?? os.type(),
    release: nonEmpty(osInfo?.release) ?? fallbackDistro?.release ?? os.release(),
    kernel: nonEmpty(osInfo?.kernel) ?? os.release(),
    arch: process.arch,
    cpu: {
      model: nonEmpty(siModel) ?? nonEmpty(cpus[0]?.model) ?? 'unknown',
      cores: positive(cpu?.cores) ?? (cpus.length || os.availableParallelism?.() || 1),
    },
    memoryMB: Math.round((positive(mem?.total) ?? os.totalmem()) / MB),
    disks: Array.isArray(fsSize) ? disks : disksFallback(),
    interfaces,
    virtual: typeof system?.virtual === 'boolean' ? system.virtual : detectVirtualHeuristic(),
  };
}

/** JSON with object keys sorted at every level, so equal data always serializes identically. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const byKey = <T>(key: (t: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/**
 * sha256 (hex) over the fields that matter for change detection. Disk usage is excluded (it
 * fluctuates constantly); disks and interfaces are sorted so probe ordering does not matter.
 */
export function inventoryFingerprint(inv: Inventory): string {
  const material = {
    hostname: inv.hostname,
    os: inv.os,
    distro: inv.distro,
    release: inv.release,
    kernel: inv.kernel,
    arch: inv.arch,
    cpu: { model: inv.cpu.model, cores: inv.cpu.cores },
    memoryMB: inv.memoryMB,
    disks: inv.disks.map((d) => ({ mount: d.mount, sizeMB: d.sizeMB, fs: d.fs })).sort(byKey((d) => d.mount)),
    interfaces: inv.interfaces
      .map((n) => ({ name: n.name, ip4: n.ip4, ip6: n.ip6, mac: n.mac }))
      .sort(byKey((n) => n.name)),
    virtual: inv.virtual,
  };
  return createHash('sha256').update(stableStringify(material)).digest('hex');
}
