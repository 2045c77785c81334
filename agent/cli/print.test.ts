import { describe, expect, it } from 'vitest';
import { errorFromWire } from '../../shared/errors.js';
import { errorText, humanText } from './print.js';

const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('what ferry-agent prints for a human', () => {
  it("an impostor server's error reaches stderr as one escaped line, no ESC byte in it", () => {
    // What `join` throws for {ok:false, error:{code, message}} from the challenge responder.
    const e = errorFromWire({ code: 'FERRY_X', message: '\u001b]0;pwned\u0007\u001b[2J', hint: 'run\r\n\u009b31m' });
    const line = errorText(e);
    expect(line).toBe('FERRY_X: \\x1b]0;pwned\\x07\\x1b[2J — hint: run \\x9b31m\n');
    expect(line.slice(0, -1)).not.toMatch(RAW_CONTROL);
    expect(line.slice(0, -1)).not.toContain('\n');
  });

  it("a hook's output line kept in the journal, or a drifted path, is escaped in status, history and verify", () => {
    const text = humanText(['  2026-01-01T00:00:00.000Z  install app@1.0.0  failed  (postinstall hook failed (exit 1): \u001b[2J\u001b]0;x\u0007)', 'app@1.0.0: modified bin/\u001b[31mx\u202e; missing none']);
    expect(text).toBe('  2026-01-01T00:00:00.000Z  install app@1.0.0  failed  (postinstall hook failed (exit 1): \\x1b[2J\\x1b]0;x\\x07)\napp@1.0.0: modified bin/\\x1b[31mx\\u202e; missing none\n');
    expect(text).not.toMatch(RAW_CONTROL);
  });

  it('a line cannot forge another: a newline inside one is shown, not printed', () => {
    expect(humanText(['error: x\nJoined nats://evil as a-1'])).toBe('error: x\\x0aJoined nats://evil as a-1\n');
  });
});
