// Public API of the `.ferry` package format: build, inspect, verify and extract packages.
// Import from here; the individual modules are implementation detail.

export { ferryJsonSchema, manifestSchema, loadFerryJson } from './manifest.js';
export type { FerryJson, Manifest, ManifestFile } from './manifest.js';
export { buildPackage, defaultPackageFileName, sourceDateEpoch } from './build.js';
export type { BuildOptions, BuildResult } from './build.js';
export { readPackageManifest, verifyPackageArchive, defaultArchiveLimits } from './read.js';
export type { ArchiveLimits } from './read.js';
export { extractPackage } from './extract.js';
export type { ExtractOptions } from './extract.js';
