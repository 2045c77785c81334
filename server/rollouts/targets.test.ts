import { describe, expect, it } from 'vitest';
import { parseSelector } from '../../shared/selectors.js';
import { allSkipped } from './targets.js';

const sel = parseSelector('env=prod');
const what = 'rollout of g-1.0 refused';
const skip = (reason: string) => ({ wave: null, reason });

describe('a selection whose every host is skipped', () => {
  it('is nothing to decide when some host receives the rollout, or none matched', () => {
    expect(allSkipped([{ wave: 0, reason: 'matched the selector' }, skip('offline')], sel, what)).toBeUndefined();
    expect(allSkipped([], sel, what)).toBeUndefined();
  });

  it('every host already at this version is a success, said in a note', () => {
    expect(allSkipped([skip('already at this version')], sel, what)).toEqual({ note: 'nothing to do: the matched host is already at this version' });
    expect(allSkipped([skip('already at this version'), skip('already at this version')], sel, what)).toEqual({ note: 'nothing to do: all 2 matched hosts are already at this version' });
  });

  it('offline and incompatible hosts are counted in the refusal, with what to do about them', () => {
    const r = allSkipped([skip('offline'), skip('incompatible: greeter requires os linux, host is freebsd'), skip('offline')], sel, what);
    expect(r && 'error' in r).toBe(true);
    const err = (r as { error: { code: string; toLine(): string } }).error;
    expect(err.code).toBe('FERRY_NO_TARGETS');
    expect(err.toLine()).toBe(
      'FERRY_NO_TARGETS: rollout of g-1.0 refused: selector "env=prod" matches 3 host(s) but none would receive it: 2 offline, 1 incompatible' +
        ' — hint: --include-offline sends it to offline hosts when they return; incompatible hosts are listed by --dry-run; give --allow-empty to start it anyway',
    );
  });

  it('a removal whose every holder is offline is refused; hosts already there do not excuse an offline one', () => {
    const removal = allSkipped([skip('not installed'), skip('offline'), skip('not installed')], sel, 'rollout of remove greeter refused');
    expect((removal as { error: Error }).error.message).toBe('rollout of remove greeter refused: selector "env=prod" matches 3 host(s) but none would receive it: 2 not installed, 1 offline');
    const mixed = allSkipped([skip('already at this version'), skip('offline')], sel, what);
    expect((mixed as { error: Error }).error.message).toContain('1 already at this version, 1 offline');
  });
});
