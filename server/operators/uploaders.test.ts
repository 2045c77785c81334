// Who gets an upload bucket (and, but for the bootstrap admin, its export): active operators whose role may call dml.add.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/open.js';
import { OperatorRegistry } from './registry.js';
import { ensureOperatorSchema } from './schema.js';
import { activeUploaders, mayUpload } from './uploaders.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-uploaders-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('activeUploaders', () => {
  it('lists active release managers and admins by name; not other roles, not revoked operators', () => {
    const db = openDatabase(join(dir, 'a.db'));
    try {
      expect(activeUploaders(db)).toEqual([]); // before the operators table exists
      ensureOperatorSchema(db);
      const registry = new OperatorRegistry(db);
      const add = (name: string, role: 'viewer' | 'deployer' | 'release-manager' | 'approver' | 'admin') => registry.add({ name, role, natsKey: `U${name}`, signingKey: name, createdBy: 'test' });
      add('vera', 'viewer');
      add('rolf', 'release-manager');
      add('dan', 'deployer');
      add('rita', 'release-manager');
      add('alex', 'approver');
      add('ada', 'admin');
      add('ruth', 'release-manager');
      registry.revoke('ruth', 'ada');
      expect(activeUploaders(db)).toEqual([
        { name: 'ada', role: 'admin' },
        { name: 'rita', role: 'release-manager' },
        { name: 'rolf', role: 'release-manager' },
      ]);
      expect(['viewer', 'deployer', 'approver'].map((r) => mayUpload(r as 'viewer'))).toEqual([false, false, false]);
    } finally {
      db.close();
    }
  });
});
