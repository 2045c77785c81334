import { describe, expect, it } from 'vitest';
import type { ScheduleEntry } from '../../rollouts/schedule.js';
import { renderIcs } from './ics.js';

const NOW = new Date('2026-11-20T09:08:07.654Z');

function entry(over: Partial<ScheduleEntry> = {}): ScheduleEntry {
  return {
    rollout: 'ro-1',
    release: 'rel-1',
    state: 'scheduled',
    strategy: 'phased',
    target: 'env=prod',
    hosts: 12,
    owner: 'alice',
    rfc: 'CHG-42',
    risk: 'medium',
    rollbackPlan: 'ferry rollout rollback',
    window: 'Mon-Fri 22:00-05:00',
    timeZone: 'Europe/London',
    start: '2026-11-23T22:00:00.000Z',
    end: '2026-11-24T05:00:00.000Z',
    actor: 'alice',
    ...over,
  };
}

/** RFC 5545 3.1: remove every CRLF followed by one space or tab. */
const unfold = (ics: string) => ics.replace(/\r\n[ \t]/g, '');

/** The unfolded content lines (without the final empty string after the last CRLF). */
const contentLines = (ics: string) => unfold(ics).split('\r\n').slice(0, -1);

function events(ics: string): string[][] {
  const out: string[][] = [];
  let cur: string[] | null = null;
  for (const l of contentLines(ics)) {
    if (l === 'BEGIN:VEVENT') cur = [];
    else if (l === 'END:VEVENT') {
      out.push(cur!);
      cur = null;
    } else if (cur) cur.push(l);
  }
  return out;
}

const prop = (ev: string[], name: string) => ev.find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1);

/** Undo TEXT escaping (RFC 5545 3.3.11). */
const unescapeText = (s: string) => s.replace(/\\([\\;,nN])/g, (_, c: string) => (c === 'n' || c === 'N' ? '\n' : c));

describe('renderIcs', () => {
  it('wraps events in a VCALENDAR with CRLF line endings only', () => {
    const ics = renderIcs([entry()], NOW);
    expect(ics.startsWith('BEGIN:VCALENDAR\r\nVERSION:2.0\r\n')).toBe(true);
    expect(ics.endsWith('END:VCALENDAR\r\n')).toBe(true);
    expect(ics).toContain('PRODID:-//Ferry//Release schedule//EN\r\n');
    expect(ics.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
  });

  it('renders an empty calendar for no entries', () => {
    const ics = renderIcs([], NOW);
    expect(contentLines(ics)).toEqual(['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Ferry//Release schedule//EN', 'CALSCALE:GREGORIAN', 'METHOD:PUBLISH', 'END:VCALENDAR']);
  });

  it('renders one VEVENT per entry with a start and skips entries without one', () => {
    const ics = renderIcs([entry({ rollout: 'ro-a' }), entry({ rollout: 'ro-never', start: null }), entry({ rollout: 'ro-b' })], NOW);
    const evs = events(ics);
    expect(evs.map((e) => prop(e, 'UID'))).toEqual(['ro-a@ferry', 'ro-b@ferry']);
    expect(ics).not.toContain('ro-never');
    expect(ics.match(/BEGIN:VEVENT/g)).toHaveLength(2);
    expect(ics.match(/END:VEVENT/g)).toHaveLength(2);
  });

  it('writes DTSTAMP, DTSTART and DTEND as UTC basic format', () => {
    const [ev] = events(renderIcs([entry({ start: '2026-11-23T22:00:30.500Z', end: '2026-11-24T05:15:00.000Z' })], NOW));
    expect(prop(ev!, 'DTSTAMP')).toBe('20261120T090807Z');
    expect(prop(ev!, 'DTSTART')).toBe('20261123T220030Z');
    expect(prop(ev!, 'DTEND')).toBe('20261124T051500Z');
  });

  it('converts a start with an offset to UTC', () => {
    const [ev] = events(renderIcs([entry({ start: '2026-11-23T22:00:00+01:00', end: null })], NOW));
    expect(prop(ev!, 'DTSTART')).toBe('20261123T210000Z');
  });

  it('ends an hour after the start when there is no end', () => {
    const [ev] = events(renderIcs([entry({ start: '2026-12-31T23:30:00.000Z', end: null })], NOW));
    expect(prop(ev!, 'DTEND')).toBe('20270101T003000Z');
  });

  it('ends an hour after the start when the end is not after it', () => {
    const [same, before] = events(
      renderIcs([entry({ start: '2026-11-23T22:00:00Z', end: '2026-11-23T22:00:00Z' }), entry({ start: '2026-11-23T22:00:00Z', end: '2026-11-23T21:00:00Z' })], NOW),
    );
    expect(prop(same!, 'DTEND')).toBe('20261123T230000Z');
    expect(prop(before!, 'DTEND')).toBe('20261123T230000Z');
  });

  it('marks aborted rollouts CANCELLED and others CONFIRMED', () => {
    const evs = events(renderIcs([entry({ state: 'aborted' }), entry({ state: 'running' }), entry({ state: 'scheduled' })], NOW));
    expect(evs.map((e) => prop(e, 'STATUS'))).toEqual(['CANCELLED', 'CONFIRMED', 'CONFIRMED']);
  });

  it('escapes commas, semicolons, backslashes and newlines in TEXT values', () => {
    const plan = 'stop a, b; then run C:\\ferry\\undo\nand call ops';
    const ics = renderIcs([entry({ rollbackPlan: plan, rfc: 'CHG;1,2' })], NOW);
    const [ev] = events(ics);
    const description = prop(ev!, 'DESCRIPTION')!;
    expect(description).toContain('Rollback plan: stop a\\, b\\; then run C:\\\\ferry\\\\undo\\nand call ops');
    // Every `,` `;` `\` in the value is escaped, and there are no raw newlines.
    expect(description.replace(/\\[\\;,n]/g, '')).not.toMatch(/[,;\\\n]/);
    expect(unescapeText(description).split('\n')).toEqual([
      'Rollout ro-1 of release rel-1 (phased), state scheduled',
      'Scope: 12 host(s), target env=prod',
      'Owner: alice; RFC: CHG;1,2; risk: medium',
      'Window: Mon-Fri 22:00-05:00 (Europe/London)',
      `Rollback plan: stop a, b; then run C:\\ferry\\undo`,
      'and call ops',
    ]);
    expect(unescapeText(prop(ev!, 'SUMMARY')!)).toBe('Ferry: rel-1 (CHG;1,2) — 12 host(s), risk medium');
  });

  it('escapes CRLF newlines and drops other control characters', () => {
    const [ev] = events(renderIcs([entry({ rollbackPlan: 'one\r\ntwo\tthree\u0007' })], NOW));
    expect(prop(ev!, 'DESCRIPTION')).toMatch(/Rollback plan: one\\ntwothree$/);
  });

  it('leaves out the window line and shows dashes for missing fields', () => {
    const [ev] = events(renderIcs([entry({ window: null, timeZone: null, owner: null, rfc: null, risk: null, rollbackPlan: null })], NOW));
    const description = unescapeText(prop(ev!, 'DESCRIPTION')!);
    expect(description).not.toContain('Window:');
    expect(description).toContain('Owner: -; RFC: -; risk: -');
    expect(description).toContain('Rollback plan: -');
    expect(unescapeText(prop(ev!, 'SUMMARY')!)).toBe('Ferry: rel-1 — 12 host(s), risk -');
  });

  it('folds lines longer than 75 octets with CRLF and a space, and unfolding restores them', () => {
    const plan = 'x'.repeat(400);
    const ics = renderIcs([entry({ rollbackPlan: plan })], NOW);
    const physical = ics.split('\r\n').slice(0, -1);
    for (const l of physical) expect(Buffer.byteLength(l, 'utf8')).toBeLessThanOrEqual(75);
    expect(physical.some((l) => l.startsWith(' '))).toBe(true);
    // A folded line uses the full 75 octets (the first part) or 1 space + 74.
    const descStart = physical.findIndex((l) => l.startsWith('DESCRIPTION:'));
    expect(Buffer.byteLength(physical[descStart]!, 'utf8')).toBe(75);
    expect(Buffer.byteLength(physical[descStart + 1]!, 'utf8')).toBe(75);
    const [ev] = events(ics);
    expect(unescapeText(prop(ev!, 'DESCRIPTION')!)).toContain(`Rollback plan: ${plan}`);
  });

  it('does not fold a line of exactly 75 octets', () => {
    // SUMMARY:Ferry: <release> — 12 host(s), risk medium — pick the release name to land on 75 octets.
    const fixed = Buffer.byteLength('SUMMARY:Ferry:  — 12 host(s)\\, risk medium', 'utf8'); // `,` is escaped
    const at75 = renderIcs([entry({ release: 'r'.repeat(75 - fixed), rfc: null })], NOW);
    const line = at75.split('\r\n').find((l) => l.startsWith('SUMMARY:'))!;
    expect(Buffer.byteLength(line, 'utf8')).toBe(75);
    expect(at75).toContain(`${line}\r\nDESCRIPTION:`);
    // one octet more and it folds
    const at76 = renderIcs([entry({ release: 'r'.repeat(76 - fixed), rfc: null })], NOW);
    expect(at76).toContain(`risk mediu\r\n m\r\nDESCRIPTION:`);
  });

  it('never splits a multi-byte UTF-8 character when folding', () => {
    // Offsets of 0..3 ASCII characters shift where the 75-octet boundary falls inside the
    // 2-, 3- and 4-byte characters.
    for (let pad = 0; pad < 4; pad++) {
      const plan = `${'a'.repeat(pad)}${'é日🚀'.repeat(40)}`;
      const ics = renderIcs([entry({ rollbackPlan: plan })], NOW);
      // A character cut in two would decode as U+FFFD on both sides of the fold.
      expect(ics).not.toContain('\uFFFD');
      const physical = ics.split('\r\n').slice(0, -1);
      for (const l of physical) expect(Buffer.byteLength(l, 'utf8')).toBeLessThanOrEqual(75);
      const [ev] = events(ics);
      expect(unescapeText(prop(ev!, 'DESCRIPTION')!)).toContain(`Rollback plan: ${plan}`);
    }
  });
});
