import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { parseSelector } from '../../shared/selectors.js';
import { allowedFailures } from './options.js';
import { isDowngrade, orderByStrata, planRollout, planWaves, type PlanHost, type PlanPackage } from './plan.js';

function expectInvalid(fn: () => unknown, message?: RegExp): FerryError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FerryError);
  const fe = err as FerryError;
  expect(fe.code).toBe('FERRY_INVALID_INPUT');
  expect(fe.toLine()).not.toContain('\n');
  if (message) expect(fe.message).toMatch(message);
  return fe;
}

function host(id: string, opts: { os?: string; arch?: string; virtual?: string; tags?: Record<string, string>; online?: boolean; installed?: Record<string, string>; facts?: Record<string, string> } = {}): PlanHost {
  const facts: Record<string, string> = { ...(opts.facts ?? {}) };
  if (opts.os !== undefined) facts.os = opts.os;
  if (opts.arch !== undefined) facts.arch = opts.arch;
  if (opts.virtual !== undefined) facts.virtual = opts.virtual;
  return { id, hostname: `${id}.example`, facts, tags: opts.tags ?? {}, online: opts.online ?? true, installed: opts.installed ?? {} };
}

/** A deterministic shuffle (reverse + interleave), so tests do not depend on Math.random. */
function shuffled<T>(list: T[], seed: number): T[] {
  const out = [...list];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const stratum = (h: PlanHost) => `${h.facts.os}/${h.facts.arch}`;

describe('planWaves', () => {
  it('turns cumulative targets into per-wave sizes, dropping empty waves', () => {
    // targets: 1, ceil(10% of 10) = 1 (already reached: dropped), 5, 10
    expect(planWaves(10, ['1', '10%', '50%', '100%'])).toEqual([1, 4, 5]);
    expect(planWaves(100, ['1', '10%', '50%', '100%'])).toEqual([1, 9, 40, 50]);
    expect(planWaves(3, ['1', '10%', '50%', '100%'])).toEqual([1, 1, 1]);
    expect(planWaves(1, ['1', '10%', '50%', '100%'])).toEqual([1]);
  });

  it('rounds percentages up', () => {
    expect(planWaves(11, ['10%', '100%'])).toEqual([2, 9]);
    expect(planWaves(1000, ['0.5%', '100%'])).toEqual([5, 995]);
    expect(planWaves(16, ['12.5%', '100%'])).toEqual([2, 14]);
  });

  it('clamps counts to the fleet', () => {
    expect(planWaves(2, ['5', '100%'])).toEqual([2]);
    expect(planWaves(4, ['2', '2', '100%'])).toEqual([2, 2]); // a repeated target is an empty wave
  });

  it('plans nothing for an empty fleet', () => {
    expect(planWaves(0, ['1', '10%', '50%', '100%'])).toEqual([]);
    expect(planWaves(0, ['100%'])).toEqual([]);
  });

  it('100% alone is one wave of everything', () => {
    expect(planWaves(7, ['100%'])).toEqual([7]);
    expect(planWaves(1, ['100%'])).toEqual([1]);
  });

  it('sizes always add up to the fleet', () => {
    for (let total = 0; total <= 120; total++) {
      const sizes = planWaves(total, ['1', '5%', '25%', '50%', '100%']);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
      expect(sizes.every((s) => s >= 1)).toBe(true);
    }
  });

  it('refuses waves that shrink', () => {
    expectInvalid(() => planWaves(10, ['5', '2', '100%']), /must not shrink/);
    expectInvalid(() => planWaves(100, ['50%', '10%', '100%']), /must not shrink: 10%/);
    // A percentage below an earlier count is an empty wave, not an error: it depends on the fleet.
    expect(planWaves(100, ['20', '10%', '100%'])).toEqual([20, 80]);
  });

  it('refuses a last wave other than 100%', () => {
    expectInvalid(() => planWaves(10, ['1', '50%']), /last wave must be 100%, got 50%/);
    expectInvalid(() => planWaves(10, ['100%', '50%']), /last wave must be 100%/);
    expectInvalid(() => planWaves(10, ['10']), /last wave must be 100%/);
  });

  it('refuses an empty wave list', () => {
    const err = expectInvalid(() => planWaves(10, []), /no waves/);
    expect(err.hint).toContain('--waves');
  });

  it.each(['abc', '-1', '1.5', '%', '10 %', ' 10%', '10%%', '0x10', ''])('refuses the bad token %j', (token) => {
    const err = expectInvalid(() => planWaves(10, [token, '100%']), /is not a host count or percentage/);
    expect(err.hint).toContain('--waves');
  });

  it.each(['0%', '150%', '100.5%'])('refuses the out-of-range percentage %s', (token) => {
    expectInvalid(() => planWaves(10, [token, '100%']), /between 0% and 100%/);
  });

  // Regression: ceil((7 / 100) * 100) was 8 in floating point.
  it('7% of 100 hosts is 7 hosts (no floating-point rounding error)', () => {
    expect(planWaves(100, ['7%', '100%'])).toEqual([7, 93]);
  });

  // Regression: a shrinking list used to pass validation on a one-host fleet.
  it('a shrinking wave list is refused whatever the fleet size', () => {
    expectInvalid(() => planWaves(1, ['10', '5', '100%']));
  });
});

describe('allowedFailures', () => {
  it('takes a count as is', () => {
    expect(allowedFailures('0', 10)).toBe(0);
    expect(allowedFailures('2', 10)).toBe(2);
    expect(allowedFailures('20', 3)).toBe(20);
  });

  it('takes a percentage of the wave, rounded down', () => {
    expect(allowedFailures('10%', 10)).toBe(1);
    expect(allowedFailures('5%', 10)).toBe(0);
    expect(allowedFailures('50%', 3)).toBe(1);
    expect(allowedFailures('100%', 7)).toBe(7);
    expect(allowedFailures('0%', 7)).toBe(0);
    expect(allowedFailures('12.5%', 16)).toBe(2);
    expect(allowedFailures('10%', 0)).toBe(0);
  });

  it.each(['', 'x', '-1', '1.5', '5 %', '%', '150%', '100.5%'])('refuses %j', (spec) => {
    const err = expectInvalid(() => allowedFailures(spec, 10), /--max-failures/);
    expect(err.hint).toContain('--max-failures');
  });

  // Regression: floor((29 / 100) * 100) was 28.
  it('29% of 100 hosts allows 29 failures (no floating-point rounding error)', () => {
    expect(allowedFailures('29%', 100)).toBe(29);
  });
});

describe('orderByStrata', () => {
  const fleet: PlanHost[] = [
    ...Array.from({ length: 8 }, (_, i) => host(`lx-${i}`, { os: 'linux', arch: 'x64' })),
    ...Array.from({ length: 3 }, (_, i) => host(`la-${i}`, { os: 'linux', arch: 'arm64' })),
    host('win-0', { os: 'windows', arch: 'x64' }),
  ];

  it('covers every stratum in the first hosts, largest strata first', () => {
    const ordered = orderByStrata(fleet);
    expect(ordered).toHaveLength(12);
    expect(new Set(ordered.map((h) => h.id)).size).toBe(12);
    expect(ordered.slice(0, 3).map(stratum)).toEqual(['linux/x64', 'linux/arm64', 'windows/x64']);
    expect(ordered.map(stratum)).toEqual([
      'linux/x64', 'linux/arm64', 'windows/x64',
      'linux/x64', 'linux/arm64',
      'linux/x64', 'linux/arm64',
      'linux/x64', 'linux/x64', 'linux/x64', 'linux/x64', 'linux/x64',
    ]);
  });

  it('is deterministic: the same output for shuffled input', () => {
    const expected = orderByStrata(fleet).map((h) => h.id);
    for (const seed of [1, 2, 3, 42]) expect(orderByStrata(shuffled(fleet, seed)).map((h) => h.id)).toEqual(expected);
  });

  it('orders a stratum by a hash of the id, not alphabetically', () => {
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    const ids = orderByStrata(fleet).filter((h) => stratum(h) === 'linux/x64').map((h) => h.id);
    expect(ids).toEqual([...ids].sort((a, b) => (hash(a) < hash(b) ? -1 : 1)));
  });

  it('does not modify its input', () => {
    const input = shuffled(fleet, 7);
    const copy = [...input];
    orderByStrata(input);
    expect(input).toEqual(copy);
  });

  it('distinguishes strata by os, arch, virtual, site and role', () => {
    const hosts = [
      host('a1', { os: 'linux', arch: 'x64' }),
      host('a2', { os: 'linux', arch: 'x64' }),
      host('a3', { os: 'linux', arch: 'x64' }),
      host('v1', { os: 'linux', arch: 'x64', virtual: 'kvm' }),
      host('s1', { os: 'linux', arch: 'x64', tags: { site: 'ams' } }),
      host('r1', { os: 'linux', arch: 'x64', tags: { role: 'db' } }),
      host('o1', { tags: { other: 'ignored' } }),
    ];
    const first = orderByStrata(hosts).slice(0, 5).map((h) => h.id);
    expect(new Set(first.map((id) => id[0]))).toEqual(new Set(['a', 'v', 's', 'r', 'o']));
    expect(first[0]).toMatch(/^a/); // the largest stratum leads
  });

  it('breaks ties between equal-sized strata deterministically', () => {
    const hosts = [host('m', { os: 'macos' }), host('l', { os: 'linux' }), host('w', { os: 'windows' })];
    const expected = orderByStrata(hosts).map((h) => h.id);
    expect(orderByStrata([...hosts].reverse()).map((h) => h.id)).toEqual(expected);
    expect(expected).toEqual(['l', 'm', 'w']); // by stratum key
  });

  it('handles an empty fleet', () => {
    expect(orderByStrata([])).toEqual([]);
  });
});

describe('isDowngrade', () => {
  it('is true only for a valid, newer installed version', () => {
    expect(isDowngrade('3.0.0', '2.0.0')).toBe(true);
    expect(isDowngrade('2.0.0', '2.0.0')).toBe(false);
    expect(isDowngrade('1.0.0', '2.0.0')).toBe(false);
    expect(isDowngrade(undefined, '2.0.0')).toBe(false);
    expect(isDowngrade('not-a-version', '2.0.0')).toBe(false);
  });
});

describe('planRollout', () => {
  const hello: PlanPackage = { name: 'hello', version: '2.0.0', requires: { os: ['linux'] } };
  const fleet: PlanHost[] = [
    host('web-1', { os: 'linux', arch: 'x64', tags: { role: 'web' }, installed: { hello: '1.0.0', other: '9.9.9' } }),
    host('web-2', { os: 'linux', arch: 'x64', tags: { role: 'web' }, installed: { hello: '1.5.0' } }),
    host('web-3', { os: 'linux', arch: 'x64', tags: { role: 'web' } }),
    host('web-4', { os: 'linux', arch: 'x64', tags: { role: 'web' }, installed: { hello: '3.0.0' } }),
    host('db-1', { os: 'linux', arch: 'arm64', tags: { role: 'db' }, installed: { hello: '1.0.0' } }),
    host('win-1', { os: 'windows', arch: 'x64', installed: { hello: '1.0.0' } }),
    host('off-1', { os: 'linux', arch: 'x64', online: false, installed: { hello: '1.0.0' } }),
    host('cur-1', { os: 'linux', arch: 'x64', installed: { hello: '2.0.0' } }),
  ];
  const all = parseSelector('all');
  const byId = (plan: ReturnType<typeof planRollout>) => new Map(plan.hosts.map((h) => [h.agent, h]));

  it('plans every eligible host into a wave and explains every skip', () => {
    const plan = planRollout(fleet, [hello], { selector: all, waves: ['1', '50%', '100%'], includeOffline: false });
    const hosts = byId(plan);
    expect(plan.hosts).toHaveLength(8);
    expect(plan.skipped).toBe(3);
    expect(hosts.get('win-1')).toMatchObject({ wave: null, reason: 'incompatible: hello requires os linux, host is windows' });
    expect(hosts.get('cur-1')).toMatchObject({ wave: null, reason: 'already at this version' });
    expect(hosts.get('off-1')).toMatchObject({ wave: null, reason: 'offline' });
    for (const id of ['web-1', 'web-2', 'web-3', 'web-4', 'db-1']) {
      expect(hosts.get(id)?.wave, id).not.toBeNull();
      expect(hosts.get(id)?.reason).toBe('matched the selector');
    }
    expect(hosts.get('web-4')?.wave).not.toBeNull(); // a newer version installed is not a skip reason here
    // ...but the plan says it is a downgrade (shown by --dry-run), and only there
    expect(hosts.get('web-4')?.downgrades).toEqual([{ name: 'hello', from: hosts.get('web-4')!.fromVersions.hello, to: hello.version }]);
    for (const id of ['web-1', 'web-2', 'web-3', 'db-1']) expect(hosts.get(id)?.downgrades, id).toBeUndefined();
    expect(hosts.get('web-1')?.hostname).toBe('web-1.example');
  });

  it('lists planned hosts in wave order, then the skipped ones', () => {
    const plan = planRollout(fleet, [hello], { selector: all, waves: ['1', '50%', '100%'], includeOffline: false });
    const waves = plan.hosts.map((h) => h.wave);
    const planned = waves.filter((w): w is number => w !== null);
    expect(waves.slice(0, planned.length)).toEqual(planned);
    expect(waves.slice(planned.length).every((w) => w === null)).toBe(true);
    expect(planned).toEqual([...planned].sort((a, b) => a - b));
  });

  it('assigns as many hosts to each wave as planWaves says', () => {
    const plan = planRollout(fleet, [hello], { selector: all, waves: ['1', '50%', '100%'], includeOffline: false });
    // 5 eligible: targets 1, ceil(2.5) = 3, 5
    expect(plan.waveSizes).toEqual([1, 2, 2]);
    const counts = plan.waveSizes.map((_, w) => plan.hosts.filter((h) => h.wave === w).length);
    expect(counts).toEqual(plan.waveSizes);
    // the first wave comes from the largest stratum (linux/x64 web hosts)
    expect(plan.hosts[0]!.agent).toMatch(/^web-/);
  });

  it('records the versions installed before the rollout, only for the release packages', () => {
    const plan = planRollout(fleet, [hello], { selector: all, waves: ['100%'], includeOffline: false });
    const hosts = byId(plan);
    expect(hosts.get('web-1')?.fromVersions).toEqual({ hello: '1.0.0' });
    expect(hosts.get('web-3')?.fromVersions).toEqual({});
    expect(hosts.get('web-4')?.fromVersions).toEqual({ hello: '3.0.0' });
    expect(hosts.get('win-1')?.fromVersions).toEqual({ hello: '1.0.0' }); // skipped hosts too
    expect(hosts.get('cur-1')?.fromVersions).toEqual({ hello: '2.0.0' });
  });

  it('includes offline hosts with includeOffline', () => {
    const plan = planRollout(fleet, [hello], { selector: all, waves: ['100%'], includeOffline: true });
    expect(byId(plan).get('off-1')).toMatchObject({ wave: 0, reason: 'matched the selector' });
    expect(plan.skipped).toBe(2);
    expect(plan.waveSizes).toEqual([6]);
  });

  it('checks compatibility before the installed version and before being online', () => {
    const hosts = [
      host('w-off', { os: 'windows', arch: 'x64', online: false }),
      host('w-cur', { os: 'windows', arch: 'x64', installed: { hello: '2.0.0' } }),
      host('l-cur-off', { os: 'linux', arch: 'x64', online: false, installed: { hello: '2.0.0' } }),
    ];
    const plan = byId(planRollout(hosts, [hello], { selector: all, waves: ['100%'], includeOffline: false }));
    expect(plan.get('w-off')?.reason).toMatch(/^incompatible: hello requires os linux/);
    expect(plan.get('w-cur')?.reason).toMatch(/^incompatible: hello requires os linux/);
    expect(plan.get('l-cur-off')?.reason).toBe('already at this version');
  });

  it('skips hosts with an incompatible architecture or unknown facts', () => {
    const pkg: PlanPackage = { name: 'agent', version: '1.0.0', requires: { os: ['linux', 'macos'], arch: ['x64'] } };
    const hosts = [host('arm', { os: 'linux', arch: 'arm64' }), host('mac', { os: 'macos', arch: 'x64' }), host('bare')];
    const plan = byId(planRollout(hosts, [pkg], { selector: all, waves: ['100%'], includeOffline: false }));
    expect(plan.get('arm')?.reason).toBe('incompatible: agent requires arch x64, host is arm64');
    expect(plan.get('mac')?.wave).toBe(0);
    expect(plan.get('bare')?.reason).toBe('incompatible: agent requires os linux|macos, host is unknown');
  });

  it('treats empty requirement lists as no requirement', () => {
    const pkg: PlanPackage = { name: 'x', version: '1.0.0', requires: { os: [], arch: [] } };
    const plan = planRollout([host('bare')], [pkg], { selector: all, waves: ['100%'], includeOffline: false });
    expect(plan.hosts[0]).toMatchObject({ agent: 'bare', wave: 0 });
  });

  it('is "already at this version" only when every package is', () => {
    const a: PlanPackage = { name: 'a', version: '1.0.0' };
    const b: PlanPackage = { name: 'b', version: '2.0.0' };
    const hosts = [host('both', { installed: { a: '1.0.0', b: '2.0.0' } }), host('one', { installed: { a: '1.0.0', b: '1.0.0' } })];
    const plan = byId(planRollout(hosts, [a, b], { selector: all, waves: ['100%'], includeOffline: false }));
    expect(plan.get('both')?.reason).toBe('already at this version');
    expect(plan.get('one')).toMatchObject({ wave: 0, fromVersions: { a: '1.0.0', b: '1.0.0' } });
  });

  it.each([
    ['tag.role=web', ['web-1', 'web-2', 'web-3', 'web-4']],
    ['role=db', ['db-1']],
    ['hostname=web-1*', ['web-1']],
    ['hostname=web-?.example', ['web-1', 'web-2', 'web-3', 'web-4']],
    ['id=off-1', ['off-1']],
    ['os=linux,arch=arm64', ['db-1']],
    ['installed.hello=1.*', ['web-1', 'web-2', 'db-1', 'win-1', 'off-1']],
    ['installed.hello=1.0.0,os=linux', ['web-1', 'db-1', 'off-1']],
    ['installed.hello!=*', ['web-3']],
    ['installed.other=*', ['web-1']],
    ['tag.role!=web', ['db-1', 'win-1', 'off-1', 'cur-1']],
  ])('filters with the selector %s', (text, expected) => {
    const plan = planRollout(fleet, [hello], { selector: parseSelector(text), waves: ['100%'], includeOffline: false });
    expect(plan.hosts.map((h) => h.agent).sort()).toEqual([...expected].sort());
  });

  it('does not count unselected hosts as skipped', () => {
    const plan = planRollout(fleet, [hello], { selector: parseSelector('tag.role=web'), waves: ['1', '100%'], includeOffline: false });
    expect(plan.skipped).toBe(0);
    expect(plan.waveSizes).toEqual([1, 3]);
  });

  it('is deterministic for the same fleet in any order', () => {
    const opts = { selector: all, waves: ['1', '50%', '100%'], includeOffline: true };
    const expected = planRollout(fleet, [hello], opts);
    for (const seed of [3, 5, 8]) {
      const got = planRollout(shuffled(fleet, seed), [hello], opts);
      expect(got.waveSizes).toEqual(expected.waveSizes);
      expect(got.hosts.filter((h) => h.wave !== null)).toEqual(expected.hosts.filter((h) => h.wave !== null));
      expect(new Map(got.hosts.map((h) => [h.agent, h]))).toEqual(new Map(expected.hosts.map((h) => [h.agent, h])));
    }
  });

  it('plans nothing for an empty fleet or an empty selection', () => {
    expect(planRollout([], [hello], { selector: all, waves: ['1', '100%'], includeOffline: false })).toEqual({ hosts: [], waveSizes: [], skipped: 0 });
    const none = planRollout(fleet, [hello], { selector: parseSelector('role=nothing'), waves: ['1', '100%'], includeOffline: false });
    expect(none).toEqual({ hosts: [], waveSizes: [], skipped: 0 });
  });

  it('plans nothing but reports skips when every host is skipped', () => {
    const plan = planRollout([fleet[5]!, fleet[7]!], [hello], { selector: all, waves: ['1', '100%'], includeOffline: false });
    expect(plan.waveSizes).toEqual([]);
    expect(plan.skipped).toBe(2);
  });

  it('propagates invalid wave lists', () => {
    expectInvalid(() => planRollout(fleet, [hello], { selector: all, waves: ['1', '50%'], includeOffline: false }));
  });
});
