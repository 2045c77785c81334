// NAME@VERSION, as the CLI and releases name a package version. Apart from ./store.ts so that
// the CLI's dml commands read it without the release store's dependencies (semver).
import { FerryError } from '../../shared/errors.js';

export function parsePackageRef(ref: string): { name: string; version: string } {
  const at = ref.lastIndexOf('@');
  if (at <= 0 || at === ref.length - 1) throw new FerryError('FERRY_INVALID_INPUT', `"${ref}" is not NAME@VERSION`);
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}
