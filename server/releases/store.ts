// Releases: named sets of DML packages that ship together, with an optional RFC and notes.
import { FerryError } from '../../shared/errors.js';
import type { Db } from '../db/open.js';
import type { DmlService } from '../dml/service.js';

export interface Release {
  name: string;
  packages: { name: string; version: string }[];
  rfc?: string;
  notes?: string;
  createdAt: string;
}

export class ReleaseStore {
  constructor(
    private readonly db: Db,
    private readonly dml: DmlService,
  ) {}

  create(input: { name: string; packages: string[]; rfc?: string | undefined; notes?: string | undefined }): Release {
    if (this.get(input.name)) throw new FerryError('FERRY_ALREADY_EXISTS', `release ${input.name} already exists`, { hint: 'releases are immutable: use a new name' });
    const packages = input.packages.map(parsePackageRef);
    const names = new Set<string>();
    for (const p of packages) {
      if (names.has(p.name)) throw new FerryError('FERRY_INVALID_INPUT', `release names ${p.name} twice`);
      names.add(p.name);
      this.dml.require(p.name, p.version);
    }
    this.db
      .prepare('INSERT INTO releases (name, packages, rfc, notes, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(input.name, JSON.stringify(packages), input.rfc ?? null, input.notes ?? null, Date.now());
    return this.get(input.name)!;
  }

  get(name: string): Release | undefined {
    const row = this.db.prepare('SELECT * FROM releases WHERE name = ?').get(name) as
      | { name: string; packages: string; rfc: string | null; notes: string | null; created_at: number }
      | undefined;
    if (!row) return undefined;
    return {
      name: row.name,
      packages: JSON.parse(row.packages) as Release['packages'],
      ...(row.rfc ? { rfc: row.rfc } : {}),
      ...(row.notes ? { notes: row.notes } : {}),
      createdAt: new Date(row.created_at).toISOString(),
    };
  }

  require(name: string): Release {
    const r = this.get(name);
    if (!r) throw new FerryError('FERRY_NOT_FOUND', `release ${name} does not exist`, { hint: 'see: ferry release list' });
    return r;
  }

  list(): Release[] {
    return (this.db.prepare('SELECT name FROM releases ORDER BY created_at DESC').all() as { name: string }[]).map((r) => this.get(r.name)!);
  }
}

export function parsePackageRef(ref: string): { name: string; version: string } {
  const at = ref.lastIndexOf('@');
  if (at <= 0 || at === ref.length - 1) throw new FerryError('FERRY_INVALID_INPUT', `"${ref}" is not NAME@VERSION`);
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}
