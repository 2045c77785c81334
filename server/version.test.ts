import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ferryVersion } from './version.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-version-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('ferryVersion', () => {
  it('reads the package.json named ferry above the module, from tsc\'s output and from the bundle\'s chunks', () => {
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'ferry', version: '9.8.7' }));
    // another package's package.json on the way up is passed over
    mkdirSync(join(root, 'dist', 'bundle', 'chunks'), { recursive: true });
    writeFileSync(join(root, 'dist', 'package.json'), JSON.stringify({ name: 'other', version: '1.0.0' }));
    for (const module of ['dist/server/cli/main.js', 'dist/bundle/ferry.js', 'dist/bundle/chunks/chunk-X.js']) {
      expect(ferryVersion(pathToFileURL(join(root, module)).href), module).toBe('9.8.7');
    }
  });

  it('is unknown with no such package.json above', () => {
    expect(ferryVersion(pathToFileURL(join(tmpdir(), 'no-ferry-here', 'x.js')).href)).toBe('unknown');
  });
});
