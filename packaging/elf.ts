// Reads which versioned symbols an ELF binary needs from each shared library (its
// .gnu.version_r section), so the packages can state the oldest glibc and libstdc++ they run
// with — computed from the very binaries they ship, not written down by hand.
import { readFileSync } from 'node:fs';

const SHT_GNU_VERNEED = 0x6ffffffe;

/** For each needed library (e.g. `libc.so.6`), the version names required from it (`GLIBC_2.34`, …). */
export function neededVersions(file: string): Map<string, Set<string>> {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${file}: only 64-bit little-endian ELF is supported`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const section = (i: number) => {
    const o = shoff + i * shentsize;
    return { type: b.readUInt32LE(o + 4), offset: Number(b.readBigUInt64LE(o + 0x18)), link: b.readUInt32LE(o + 0x28), info: b.readUInt32LE(o + 0x2c) };
  };
  const cstr = (at: number) => b.toString('latin1', at, b.indexOf(0, at));
  const out = new Map<string, Set<string>>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(s.link).offset;
    // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
    // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
    let vn = s.offset;
    for (let n = 0; n < s.info; n++) {
      const cnt = b.readUInt16LE(vn + 2);
      const lib = cstr(strtab + b.readUInt32LE(vn + 4));
      const names = out.get(lib) ?? new Set<string>();
      let aux = vn + b.readUInt32LE(vn + 8);
      for (let k = 0; k < cnt; k++) {
        names.add(cstr(strtab + b.readUInt32LE(aux + 8)));
        aux += b.readUInt32LE(aux + 12);
      }
      out.set(lib, names);
      const next = b.readUInt32LE(vn + 12);
      if (next === 0) break;
      vn += next;
    }
  }
  return out;
}

const SHT_DYNAMIC = 6;
const DT_NEEDED = 1;

/** The shared libraries an ELF binary links (its DT_NEEDED entries), e.g. `libc.so.6`. */
export function neededLibraries(file: string): string[] {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const out: string[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    if (b.readUInt32LE(o + 4) !== SHT_DYNAMIC) continue;
    const offset = Number(b.readBigUInt64LE(o + 0x18));
    const size = Number(b.readBigUInt64LE(o + 0x20));
    const link = b.readUInt32LE(o + 0x28);
    const strtab = Number(b.readBigUInt64LE(shoff + link * shentsize + 0x18));
    for (let e = offset; e < offset + size; e += 16) {
      const tag = b.readBigInt64LE(e);
      if (tag === 0n) break;
      if (tag === BigInt(DT_NEEDED)) {
        const at = strtab + Number(b.readBigUInt64LE(e + 8));
        out.push(b.toString('latin1', at, b.indexOf(0, at)));
      }
    }
  }
  return out;
}

/** Libraries every glibc system has, plus GCC's C++ runtime: all a shipped binary may link. */
const SYSTEM_LIBRARY = /^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so\.\d+$|^ld-linux[-\w.]*\.so\.\d+$/;

/** Throws if a binary links anything beyond glibc and the C++ runtime (e.g. a distribution's shared libnode). */
export function assertOnlySystemLibraries(file: string): void {
  const other = neededLibraries(file).filter((l) => !SYSTEM_LIBRARY.test(l));
  if (other.length) throw new Error(`${file} links ${other.join(', ')}, which hosts do not have: build with a Node binary linked only against glibc and libstdc++ (e.g. the nodejs.org or NodeSource build)`);
}

/** The highest `<prefix>x.y[.z]` version among `names`, as `x.y[.z]` (undefined if none). */
export function highestVersion(names: Iterable<string>, prefix: string): string | undefined {
  const versions = [...names].filter((n) => n.startsWith(prefix) && /^\d+(\.\d+)*$/.test(n.slice(prefix.length))).map((n) => n.slice(prefix.length));
  return versions.sort(compareVersions).at(-1);
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** GCC release that first shipped a libstdc++ symbol version (GLIBCXX_3.4.x), for Debian's libstdc++6 (>= N). */
const GLIBCXX_TO_GCC: Record<string, number> = { '3.4.21': 5, '3.4.22': 6, '3.4.23': 7, '3.4.24': 8, '3.4.25': 8, '3.4.26': 9, '3.4.27': 9, '3.4.28': 10, '3.4.29': 11, '3.4.30': 12, '3.4.31': 13, '3.4.32': 14, '3.4.33': 14 };

export interface RuntimeNeeds {
  /** oldest glibc, e.g. "2.34" */
  glibc: string;
  /** GCC release whose libstdc++ is the oldest that works, e.g. 11 (undefined: no C++ runtime needed) */
  libstdcxxGcc?: number;
  /** whether libgcc_s.so.1 is needed */
  libgcc: boolean;
}

/** What a set of ELF files needs from the system, taken together. */
export function runtimeNeeds(files: string[]): RuntimeNeeds {
  for (const f of files) assertOnlySystemLibraries(f);
  const glibc: string[] = [];
  const cxx: string[] = [];
  let libgcc = false;
  for (const f of files) {
    for (const [lib, names] of neededVersions(f)) {
      if (/^(libc|libm|libdl|libpthread|librt|ld-linux.*)\.so/.test(lib)) glibc.push(...names);
      if (lib.startsWith('libstdc++.so')) cxx.push(...names);
      if (lib.startsWith('libgcc_s.so')) libgcc = true;
    }
  }
  const g = highestVersion(glibc, 'GLIBC_');
  if (!g) throw new Error(`no glibc symbol versions found in ${files.join(', ')}`);
  const x = highestVersion(cxx, 'GLIBCXX_');
  let gcc: number | undefined;
  if (x) {
    gcc = GLIBCXX_TO_GCC[x] ?? (compareVersions(x, '3.4.21') < 0 ? 5 : undefined);
    if (gcc === undefined) throw new Error(`unknown libstdc++ symbol version GLIBCXX_${x}: add it to GLIBCXX_TO_GCC in packaging/elf.ts`);
  }
  return { glibc: g, ...(gcc !== undefined ? { libstdcxxGcc: gcc } : {}), libgcc };
}
