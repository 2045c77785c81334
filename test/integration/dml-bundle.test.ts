// Offline bundles (issue 17, part 3), with two real servers: `ferry dml export` on one, `ferry dml
// import --trust-root` on the other (a disconnected site's own server). A bundle tampered anywhere
// — a package byte, the signed index, a record, the trust document, the tar itself — is refused
// with one line and nothing is imported.
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, keyFingerprint, signEnvelope } from '../../shared/crypto/sign.js';
import { apiRequest, buildPackage, cleanupFleet, initServer, runFerry, tempDir, type ServerHandle } from '../helpers/fleet.js';

afterAll(cleanupFleet, 60_000);

interface BundleDoc {
  trust: { payload: string; signatures: unknown[] };
  index: { payload: string; sig: string; key: string };
  packages: { name: string; version: string; file: string; record: { payload: string; sig: string; key: string } }[];
}

describe('offline bundles: dml export | dml import --trust-root', () => {
  let hub: ServerHandle;
  let site: ServerHandle;
  /** an empty DML for the tampered bundles; one holding another db@2.1.0 */
  let fresh: ServerHandle;
  let other: ServerHandle;
  let bundle: string;
  let root: string;
  const work = tempDir('ferry-bundle-');

  const ferry = (s: ServerHandle, args: string[]) => runFerry(s.home, args);
  const fails = (s: ServerHandle, args: string[]) => runFerry(s.home, args, { allowFail: true });
  // `dml list --json` prints this reply as it is; read in this process (a CLI call per read is slow).
  const siteDml = async () => apiRequest(site.home, 'dml.list', {});

  /** The bundle unpacked, changed by `mutate`, and packed again as a new file. */
  async function tampered(name: string, mutate: (dir: string, doc: BundleDoc) => void): Promise<string> {
    const dir = join(work, `t-${name}`);
    mkdirSync(dir);
    await tar.x({ file: bundle, cwd: dir });
    const doc = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8')) as BundleDoc;
    mutate(dir, doc);
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify(doc));
    const out = join(work, `${name}.bundle`);
    await tar.c({ file: out, cwd: dir }, readdirSync(dir));
    return out;
  }

  async function expectRefused(file: string, code: string, message: RegExp, trustRoot = root): Promise<void> {
    const before = await siteDml();
    const r = await fails(site, ['dml', 'import', file, '--trust-root', trustRoot]);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${code}: `));
    expect(lines[0]).toMatch(message);
    expect(await siteDml()).toEqual(before);
  }

  beforeAll(async () => {
    [hub, site, fresh, other] = await Promise.all([initServer(), initServer(), initServer(), initServer()]);
    await Promise.all(
      (
        [
          ['web', '1.0.0'],
          ['db', '2.1.0'],
          ['old', '0.1.0'],
        ] as const
      ).map(async ([name, version]) => {
        const file = await buildPackage({ name, version, files: { 'bin/run': `#!/bin/sh\necho ${name} ${version}\n`, 'etc/big.conf': `${name}\n${'x'.repeat(200_000)}\n` } });
        await ferry(hub, ['dml', 'add', file]);
      }),
    );
    await ferry(hub, ['dml', 'retire', 'old@0.1.0']);
    bundle = join(work, 'site.bundle');
    const exp = (await ferry(hub, ['dml', 'export', 'web@1.0.0', 'db@2.1.0', '--out', bundle, '--json'])).json<{ rootFingerprint: string; packages: { name: string; digest: string }[] }>();
    root = exp.rootFingerprint;
    expect(exp.packages.map((p) => p.name)).toEqual(['web', 'db']);
  }, 180_000);

  it('a release manager exports; the disconnected server imports after checking against the root', async () => {
    // The export above ran as the bootstrap admin; a release manager may export too (NATS direct gets on the DML).
    const creds = join(work, 'rita.creds');
    const viewerCreds = join(work, 'vera.creds');
    await Promise.all([ferry(hub, ['operator', 'add', 'rita', '--role', 'release-manager', '--out', creds]), ferry(hub, ['operator', 'add', 'vera', '--role', 'viewer', '--out', viewerCreds])]);
    const [again, viewer, hubDmlRun] = await Promise.all([
      runFerry(hub.home, ['dml', 'export', 'web@1.0.0', '--out', join(work, 'rita.bundle'), '--creds', creds, '--json']),
      runFerry(hub.home, ['dml', 'export', 'web@1.0.0', '--out', join(work, 'vera.bundle'), '--creds', viewerCreds], { allowFail: true }),
      ferry(hub, ['dml', 'list', '--json']),
    ]);
    expect(again.json<{ packages: unknown[] }>().packages).toHaveLength(1);
    expect(viewer.code).toBe(8);
    expect(viewer.stderr).toMatch(/^FERRY_FORBIDDEN: /);

    const hubDml = hubDmlRun.json<{ name: string; version: string; digest: string }[]>();
    const imported = (await ferry(site, ['dml', 'import', bundle, '--trust-root', root, '--json'])).json<{ rootFingerprint: string; packages: { name: string; version: string; digest: string; added: boolean; state: string }[] }>();
    expect(imported.rootFingerprint).toBe(root);
    expect(imported.packages.map((p) => [p.name, p.added, p.state])).toEqual([
      ['web', true, 'draft'],
      ['db', true, 'draft'],
    ]);
    const onSite = await siteDml();
    for (const p of imported.packages) expect(onSite.find((q) => q.name === p.name)?.digest).toBe(hubDml.find((q) => q.name === p.name)?.digest);
    // Importing again changes nothing.
    const twice = (await ferry(site, ['dml', 'import', bundle, '--trust-root', root, '--json'])).json<{ packages: { added: boolean }[] }>();
    expect(twice.packages.map((p) => p.added)).toEqual([false, false]);
  });

  it('refuses what may not be exported, and never overwrites a file', async () => {
    const [retired, missing, exists] = await Promise.all([
      fails(hub, ['dml', 'export', 'old@0.1.0', '--out', join(work, 'old.bundle')]),
      fails(hub, ['dml', 'export', 'nope@1.0.0', '--out', join(work, 'nope.bundle')]),
      fails(hub, ['dml', 'export', 'web@1.0.0', '--out', bundle]),
    ]);
    expect(retired.code).toBe(4);
    expect(retired.stderr).toMatch(/^FERRY_CONFLICT: old@0\.1\.0 is retired/);
    expect(missing.code).toBe(3);
    expect(exists.code).toBe(4);
    expect(exists.stderr).toMatch(/^FERRY_ALREADY_EXISTS: /);
  });

  it('a bundle tampered anywhere is refused with one line, and nothing is imported', async () => {
    site = fresh; // an empty DML, so "nothing imported" is visible
    const flipped = await tampered('flipped', (dir, doc) => {
      const file = join(dir, doc.packages[1]!.file);
      const bytes = readFileSync(file);
      bytes[bytes.length - 100] ^= 0xff;
      writeFileSync(file, bytes);
    });
    await expectRefused(flipped, 'FERRY_DIGEST_MISMATCH', /packages\/db@2\.1\.0\.ferry has SHA-256/);

    const dropped = await tampered('dropped', (_dir, doc) => {
      doc.packages.pop();
    });
    await expectRefused(dropped, 'FERRY_BUNDLE_INVALID', /not the ones its signed index lists/);

    const swapped = await tampered('swapped', (_dir, doc) => {
      doc.packages[0]!.record = doc.packages[1]!.record;
    });
    await expectRefused(swapped, 'FERRY_BUNDLE_INVALID', /record of web@1\.0\.0 does not match/);

    const forger = generateSigningKeyPair();
    const reindexed = await tampered('reindexed', (_dir, doc) => {
      doc.index = signEnvelope(forger, JSON.parse(doc.index.payload));
    });
    await expectRefused(reindexed, 'FERRY_UNTRUSTED_KEY', /bundle index is signed by/);

    const editedTrust = await tampered('trust', (_dir, doc) => {
      const t = JSON.parse(doc.trust.payload) as { keys: { publicKey: string; roles: string[] }[] };
      t.keys.push({ publicKey: forger.publicKey, roles: ['packages'] });
      doc.trust.payload = JSON.stringify(t);
    });
    await expectRefused(editedTrust, 'FERRY_SIGNATURE_INVALID', /trust document/);

    await expectRefused(bundle, 'FERRY_UNTRUSTED_KEY', /root key/, keyFingerprint(forger.publicKey));

    const linked = await tampered('linked', (dir) => {
      symlinkSync('/etc/passwd', join(dir, 'packages', 'evil@1.0.0.ferry'));
    });
    await expectRefused(linked, 'FERRY_ARCHIVE_UNSAFE', /evil@1\.0\.0\.ferry/);

    const notTar = join(work, 'not-a-bundle');
    writeFileSync(notTar, 'hello');
    await expectRefused(notTar, 'FERRY_BUNDLE_INVALID', /not a readable bundle|no bundle\.json/);

    // Still nothing on the fresh server; the untouched bundle imports.
    expect(await siteDml()).toEqual([]);
    await ferry(site, ['dml', 'import', bundle, '--trust-root', root]);
    expect((await siteDml()).map((p) => p.name).sort()).toEqual(['db', 'web']);
  }, 180_000);

  it('a name@version this DML holds with other bytes stops the import before anything is added', async () => {
    const clash = await buildPackage({ name: 'db', version: '2.1.0', files: { 'bin/run': '#!/bin/sh\necho other\n' } });
    await ferry(other, ['dml', 'add', clash]);
    const r = await fails(other, ['dml', 'import', bundle, '--trust-root', root]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^FERRY_CONFLICT: db@2\.1\.0 is already in this DML with other content/);
    const names = (await ferry(other, ['dml', 'list', '--json'])).json<{ name: string }[]>().map((p) => p.name);
    expect(names).toEqual(['db']); // web was not added either
  }, 120_000);
});
