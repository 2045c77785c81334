// Planning a removal (`ferry rollout start --remove PACKAGE`): who is skipped and why, and the
// versions recorded for a fleet rollback.
import { describe, expect, it } from 'vitest';
import { parseSelector } from '../../shared/selectors.js';
import { planRemoval, type PlanHost } from './plan.js';

function host(id: string, installed: Record<string, string>, opts: { online?: boolean; tags?: Record<string, string> } = {}): PlanHost {
  return { id, hostname: `${id}.example`, facts: { os: 'linux' }, tags: opts.tags ?? {}, online: opts.online ?? true, installed };
}

const all = { selector: parseSelector('all'), waves: ['1', '100%'], includeOffline: false };

describe('planRemoval', () => {
  it('targets only hosts that have the package, whatever its version, and records that version', () => {
    const plan = planRemoval([host('a', { web: '1.0.0' }), host('b', {}), host('c', { web: '2.1.0', db: '1.0.0' })], 'web', all);
    const byId = Object.fromEntries(plan.hosts.map((h) => [h.agent, h]));
    expect(byId.b).toMatchObject({ wave: null, reason: 'not installed' });
    expect(byId.a!.wave).not.toBeNull();
    expect(byId.c!.wave).not.toBeNull();
    expect(byId.a!.fromVersions).toEqual({ web: '1.0.0' });
    expect(byId.c!.fromVersions).toEqual({ web: '2.1.0' }); // only the removed package
    expect(plan.waveSizes).toEqual([1, 1]);
    expect(plan.skipped).toBe(1);
  });

  it('skips offline hosts unless they are included, and never says "already at this version"', () => {
    const fleet = [host('a', { web: '1.0.0' }, { online: false }), host('b', { web: '1.0.0' })];
    expect(planRemoval(fleet, 'web', all).hosts.find((h) => h.agent === 'a')).toMatchObject({ wave: null, reason: 'offline' });
    expect(planRemoval(fleet, 'web', { ...all, includeOffline: true }).hosts.every((h) => h.wave !== null)).toBe(true);
  });

  it('honours the selector', () => {
    const plan = planRemoval([host('a', { web: '1.0.0' }, { tags: { env: 'prod' } }), host('b', { web: '1.0.0' }, { tags: { env: 'test' } })], 'web', { ...all, selector: parseSelector('env=test') });
    expect(plan.hosts.map((h) => h.agent)).toEqual(['b']);
  });
});
