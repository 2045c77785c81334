// What the agent packages state they need from a host is read from the ELF binaries they ship.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertOnlySystemLibraries, compareVersions, highestVersion, neededLibraries, neededVersions, runtimeNeeds } from '../../packaging/elf.js';
import { REPO_ROOT, tempDir } from '../helpers/fleet.js';

const sqlite = join(REPO_ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');

describe('ELF symbol versions', () => {
  it('reads the glibc versions node needs, and the libraries it links', () => {
    const versions = neededVersions(process.execPath);
    const libc = [...(versions.get('libc.so.6') ?? [])];
    expect(libc.length).toBeGreaterThan(0);
    expect(libc.every((v) => v.startsWith('GLIBC_'))).toBe(true);
    expect(neededLibraries(process.execPath)).toContain('libc.so.6');
    expect(() => assertOnlySystemLibraries(process.execPath)).not.toThrow();
  });

  it('takes the newest version across the shipped binaries', () => {
    const needs = runtimeNeeds([process.execPath, sqlite]);
    const own = highestVersion(neededVersions(sqlite).get('libc.so.6') ?? [], 'GLIBC_')!;
    expect(compareVersions(needs.glibc, own)).toBeGreaterThanOrEqual(0);
    expect(needs.libstdcxxGcc).toBeGreaterThanOrEqual(5);
    expect(compareVersions('2.34', '2.4')).toBeGreaterThan(0);
    expect(highestVersion(['GLIBC_2.17', 'GLIBC_2.34', 'GLIBC_PRIVATE', 'GLIBC_2.4'], 'GLIBC_')).toBe('2.34');
  });

  it('refuses a binary that links a library hosts do not have', () => {
    // Rename libstdc++.so.6 in a copy of node's string table to a same-length unknown name.
    const copy = join(tempDir('ferry-elf-'), 'node');
    copyFileSync(process.execPath, copy);
    const bytes = readFileSync(copy);
    const at = bytes.indexOf(Buffer.from('libstdc++.so.6\0'));
    expect(at).toBeGreaterThan(0);
    Buffer.from('libnodex.so.66\0').copy(bytes, at);
    writeFileSync(copy, bytes);
    expect(neededLibraries(copy)).toContain('libnodex.so.66');
    expect(() => assertOnlySystemLibraries(copy)).toThrow(/links libnodex\.so\.66, which hosts do not have/);
  });
});
