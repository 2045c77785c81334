// A fresh, minimal Debian root for packaging tests, made from this machine's own installed
// packages (no network): the named packages and everything they depend on, copied file by file
// from `dpkg-query -L`, with a dpkg database that lists exactly those packages. Nothing else —
// in particular no `nodejs` — so `chroot ROOT dpkg -i X.deb` resolves X's dependencies against
// that set, and whatever X runs finds only what the set provides.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a shell, coreutils and dpkg need to install a .deb (dpkg wants diff, ldconfig and start-stop-daemon on PATH). */
export const BASE_PACKAGES = ['dash', 'coreutils', 'diffutils', 'dpkg', 'libc-bin'];

const SKIP = /^\/usr\/share\/(doc|man|info|locale|lintian|bug)\//;

function query(format: string, pkg: string): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', `-f=${format}`, pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

function installed(pkg: string): boolean {
  return query('${Status}', pkg) === 'install ok installed';
}

/** The packages and their (pre-)dependencies, transitively; of alternatives, the first installed one. */
export function dependencyClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length) {
    const pkg = queue.shift()!;
    if (seen.has(pkg)) continue;
    if (!installed(pkg)) throw new Error(`${pkg} is not installed on this machine`);
    seen.add(pkg);
    const deps = query('${Pre-Depends},${Depends}', pkg) ?? '';
    for (const clause of deps.split(',').map((c) => c.trim()).filter(Boolean)) {
      const choices = clause.split('|').map((c) => c.trim().split(/[\s(:]/)[0]!);
      const pick = choices.find((c) => seen.has(c)) ?? choices.find(installed);
      if (!pick) throw new Error(`no installed package satisfies "${clause}" (needed by ${pkg})`);
      queue.push(pick);
    }
  }
  return [...seen].sort();
}

/**
 * Run a command without blocking the event loop (a test worker that blocks for a minute under
 * load misses its own RPC deadline); resolves with its exit code and output, never rejects.
 */
export function runAsync(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout: stdout ?? '', stderr: stderr ?? '' });
    });
  });
}

/** Build the root at `dir` (an empty directory) from `packages` and their dependencies; returns the package list. */
export async function buildMinimalRoot(dir: string, packages: string[]): Promise<string[]> {
  const all = dependencyClosure([...BASE_PACKAGES, ...packages]);
  // Merged /usr, like the host (Debian 12): /bin, /lib, /lib64, /sbin are links into /usr.
  for (const d of ['usr/bin', 'usr/lib', 'usr/lib64', 'usr/sbin']) mkdirSync(join(dir, d), { recursive: true });
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) {
    const host = lstatSync(`/${l}`, { throwIfNoEntry: false });
    if (host?.isSymbolicLink()) symlinkSync(`usr/${l}`, join(dir, l));
  }
  const files: string[] = [];
  const lists: Record<string, string> = {};
  for (const pkg of all) {
    const paths = execFileSync('dpkg-query', ['-L', pkg], { encoding: 'utf8' }).split('\n').filter((p) => p.startsWith('/') && !SKIP.test(p));
    lists[pkg] = paths.join('\n') + '\n';
    for (const p of paths) {
      if (['/', '/bin', '/lib', '/lib64', '/sbin', '/usr'].includes(p)) continue;
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) files.push(p.slice(1));
    }
  }
  // GNU tar copies the files with their modes and links; directories come with them.
  const list = join(dir, '.files');
  writeFileSync(list, files.join('\n') + '\n');
  const copy = await runAsync('sh', ['-c', 'tar -C / --no-recursion -cf - -T "$1" | tar -C "$2" --keep-directory-symlink -xf -', 'sh', list, dir]);
  if (copy.code !== 0) throw new Error(`copying the root's files failed: ${copy.stderr}`);
  execFileSync('rm', ['-f', list]);

  const dpkg = join(dir, 'var', 'lib', 'dpkg');
  for (const d of ['info', 'updates', 'triggers', 'alternatives']) mkdirSync(join(dpkg, d), { recursive: true });
  writeFileSync(join(dpkg, 'available'), '');
  writeFileSync(join(dpkg, 'status'), all.map((p) => execFileSync('dpkg-query', ['-s', p], { encoding: 'utf8' }).trimEnd() + '\n').join('\n'));
  for (const [pkg, text] of Object.entries(lists)) writeFileSync(join(dpkg, 'info', `${pkg.split(':')[0]}.list`), text);
  for (const d of ['etc', 'tmp', 'dev', 'proc', 'run', 'var/log', 'root']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\n');
  execFileSync('mknod', ['-m', '666', join(dir, 'dev', 'null'), 'c', '1', '3']);
  return all;
}

/** Run a command inside the root with a clean environment (PATH of a stock system, nothing else but `env`). */
export function inRoot(dir: string, cmd: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAsync('chroot', [dir, '/usr/bin/env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...cmd]);
}
