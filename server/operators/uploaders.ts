// Who uploads packages (`ferry dml add`): each active operator whose role may call dml.add has an
// upload bucket of their own (shared/protocol/subjects.ts uploadBucket), made by the server, and —
// but for the bootstrap admin, a user of FERRY — the FERRY exports that reach it (server/nats/auth-config.ts uploadServices).
import { isRole, mayCall, type Role } from '../../shared/operators/roles.js';
import type { Db } from '../db/open.js';

export const mayUpload = (role: Role): boolean => mayCall(role, 'dml.add');

/** Active (not revoked) operators who may upload, by name; admins included (they upload too). */
export function activeUploaders(db: Db): { name: string; role: Role }[] {
  // The table exists once server/operators/schema.ts has run.
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'operators'").get()) return [];
  const rows = db.prepare('SELECT name, role FROM operators WHERE revoked_at IS NULL ORDER BY name').all() as { name: string; role: string }[];
  return rows.flatMap((r) => (isRole(r.role) && mayUpload(r.role) ? [{ name: r.name, role: r.role }] : []));
}
