// The release schedule as an iCalendar file (RFC 5545), one event per rollout, for the calendars
// change boards already use.
import type { ScheduleEntry } from '../../rollouts/schedule.js';

const HOUR = 3_600_000;

export function renderIcs(entries: ScheduleEntry[], now = new Date()): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Ferry//Release schedule//EN', 'CALSCALE:GREGORIAN', 'METHOD:PUBLISH'];
  for (const e of entries) {
    if (!e.start) continue; // a window that never opens has no date to show
    const start = new Date(e.start);
    const end = e.end ? new Date(e.end) : new Date(start.getTime() + HOUR);
    const description = [
      `Rollout ${e.rollout} of release ${e.release} (${e.strategy}), state ${e.state}`,
      `Scope: ${e.hosts} host(s), target ${e.target}`,
      `Owner: ${e.owner ?? '-'}; RFC: ${e.rfc ?? '-'}; risk: ${e.risk ?? '-'}`,
      ...(e.window ? [`Window: ${e.window} (${e.timeZone})`] : []),
      `Rollback plan: ${e.rollbackPlan ?? '-'}`,
    ].join('\n');
    lines.push(
      'BEGIN:VEVENT',
      `UID:${e.rollout}@ferry`,
      `DTSTAMP:${stamp(now)}`,
      `DTSTART:${stamp(start)}`,
      `DTEND:${stamp(end.getTime() > start.getTime() ? end : new Date(start.getTime() + HOUR))}`,
      `SUMMARY:${text(`Ferry: ${e.release}${e.rfc ? ` (${e.rfc})` : ''} — ${e.hosts} host(s), risk ${e.risk ?? '-'}`)}`,
      `DESCRIPTION:${text(description)}`,
      `STATUS:${e.state === 'aborted' ? 'CANCELLED' : 'CONFIRMED'}`,
      'END:VEVENT',
    );
  }
  lines.push('END:VCALENDAR');
  return lines.map(fold).join('\r\n') + '\r\n';
}

/** UTC date-time: 20261123T220000Z. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** TEXT values escape backslash, semicolon, comma and newline (RFC 5545 3.3.11). */
function text(s: string): string {
  return s.replace(/[\u0000-\u0009\u000b-\u001f\u007f]/g, '').replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\r?\n/g, '\\n');
}

/** Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1). */
function fold(line: string): string {
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= 75) return line;
  const parts: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(bytes.length, start + (parts.length === 0 ? 75 : 74));
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--; // never split a UTF-8 sequence
    parts.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
  }
  return parts.join('\r\n ');
}
