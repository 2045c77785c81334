import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { agentPermissions, renderAuthConfig, type AuthIdentities } from './auth-config.js';
import { findNatsServerBinary } from './embedded.js';
import { catchFerryError } from '../../test/helpers/errors.js';

const pub = () => createUser().getPublicKey();

function identities(agents: AuthIdentities['agents'] = []): AuthIdentities {
  return { serverNkey: pub(), adminNkey: pub(), enrollPassword: 'p'.repeat(40), agents };
}

const expectInvalid = (fn: () => unknown): void => void catchFerryError(fn);

describe('renderAuthConfig', () => {
  it('renders one FERRY account with jetstream and explicit users only', () => {
    const ids = identities([{ id: 'a1', nkey: pub() }]);
    const text = renderAuthConfig(ids);
    expect(text).toMatch(/^accounts \{\n {2}"FERRY": \{\n {4}jetstream: enabled\n/);
    expect(text).not.toMatch(/no_auth_user|authorization\s*\{/);
    // The only password user is enrolment; everyone else logs in with an nkey.
    expect(text.match(/password:/g)).toHaveLength(1);
    expect(text).toContain(`user: "ferry-enroll"`);
    expect(text).toContain(`password: "${ids.enrollPassword}"`);
    for (const k of [ids.serverNkey, ids.adminNkey, ids.agents[0]!.nkey]) {
      expect(text).toContain(`nkey: "${k}"`);
    }
    expect(text).toContain('publish: { allow: ["ferry.enroll"] }');
    expect(text).toContain('subscribe: { allow: ["_INBOX_enroll.>"] }');
    expect(text).toContain('"$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1"');
    // full access only for server and admin
    expect(text.match(/publish: \{ allow: \[">"\] \}/g)).toHaveLength(2);
  });

  it('gives agents exactly the documented permissions', () => {
    expect(agentPermissions('a1')).toEqual({
      publish: [
        'ferry.agent.a1.>',
        '$JS.API.INFO',
        '$JS.API.STREAM.INFO.OBJ_ferry-dml',
        '$JS.API.DIRECT.GET.OBJ_ferry-dml',
        '$JS.API.DIRECT.GET.OBJ_ferry-dml.>',
        '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired.a1',
        // the signed trust document, readable by every agent
        '$JS.API.DIRECT.GET.KV_ferry-desired.$KV.ferry-desired._trust',
      ],
      subscribe: ['ferry.cmd.a1', 'ferry.broadcast.>', '_INBOX_a1.>'],
    });
  });

  it('rejects bad agent ids', () => {
    for (const id of ['a"; x', '', '-a', 'A1', 'a.b', 'a*', 'a>', 'a b', 'a\nb', 'x'.repeat(64), 'enroll']) {
      expectInvalid(() => renderAuthConfig(identities([{ id, nkey: pub() }])));
      expectInvalid(() => agentPermissions(id));
    }
    expect(() => renderAuthConfig(identities([{ id: 'x'.repeat(63), nkey: pub() }]))).not.toThrow();
  });

  it('rejects bad nkeys', () => {
    const bad = ['', 'U', `${pub()}"`, pub().slice(0, 55), pub().toLowerCase(), `A${pub().slice(1)}`, `U${'1'.repeat(55)}`];
    for (const nkey of bad) {
      expectInvalid(() => renderAuthConfig(identities([{ id: 'a1', nkey }])));
      expectInvalid(() => renderAuthConfig({ ...identities(), adminNkey: nkey }));
      expectInvalid(() => renderAuthConfig({ ...identities(), serverNkey: nkey }));
    }
  });

  it('rejects enroll passwords that are short or could break the config', () => {
    for (const password of ['', 'short', `${'p'.repeat(40)}"`, `${'p'.repeat(40)} x`, `${'p'.repeat(40)}\n`, 'p'.repeat(129)]) {
      expectInvalid(() => renderAuthConfig({ ...identities(), enrollPassword: password }));
    }
  });

  it('rejects duplicate agent ids and reused nkeys', () => {
    const k = pub();
    expectInvalid(() => renderAuthConfig(identities([{ id: 'a1', nkey: pub() }, { id: 'a1', nkey: pub() }])));
    expectInvalid(() => renderAuthConfig(identities([{ id: 'a1', nkey: k }, { id: 'a2', nkey: k }])));
    const ids = identities();
    expectInvalid(() => renderAuthConfig({ ...ids, agents: [{ id: 'a1', nkey: ids.adminNkey }] }));
    expectInvalid(() => renderAuthConfig({ ...ids, serverNkey: ids.adminNkey }));
  });

  it('is accepted by nats-server (-t)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-auth-config-'));
    try {
      const file = join(dir, 'nats.conf');
      writeFileSync(file, `listen: "127.0.0.1:-1"\njetstream { store_dir: "${dir}" }\n${renderAuthConfig(identities([{ id: 'a1', nkey: pub() }, { id: 'a-2', nkey: pub() }]))}`);
      const res = spawnSync(findNatsServerBinary(), ['-t', '-c', file], { encoding: 'utf8' });
      expect(res.status, res.stderr + res.stdout).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
