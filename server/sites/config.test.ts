import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { catchFerryError } from '../../test/helpers/errors.js';
import { buildAccountJwts } from '../nats/accounts.js';
import { siteLinkPermissions } from '../nats/auth-config.js';
import { ensureNatsKeys, loadNatsKeys } from '../nats/nats-keys.js';
import { findNatsServerBinary } from '../nats/server-config.js';
import { assertSiteName, parseHubUrl, parseSiteListen, renderSiteConfig, siteAgentUrl, siteFiles } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-site-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('site input', () => {
  it('site names are DNS-label-like tokens (they name a JetStream domain)', () => {
    for (const ok of ['paris', 'branch-7', 'a']) expect(() => assertSiteName(ok)).not.toThrow();
    for (const bad of ['', 'Paris', '7th', 'a.b', 'a b', 'x'.repeat(32), '../etc', 'a>']) catchFerryError(() => assertSiteName(bad));
  });

  it('the hub URL is a leafnode address: nats-leaf:// or tls://, host and port, no credentials or path', () => {
    expect(parseHubUrl('nats-leaf://hub.example.org:7422')).toBe('nats-leaf://hub.example.org:7422');
    expect(parseHubUrl('tls://10.0.0.1:7422')).toBe('tls://10.0.0.1:7422');
    // a cluster's nodes
    expect(parseHubUrl('nats-leaf://n1:7422, nats-leaf://n2:7422,nats-leaf://n3:7422')).toBe('nats-leaf://n1:7422,nats-leaf://n2:7422,nats-leaf://n3:7422');
    catchFerryError(() => parseHubUrl('nats-leaf://n1:7422,nats://n2:4222'));
    for (const bad of ['hub:7422', 'nats://hub:4222', 'http://hub:7422', 'nats-leaf://hub', 'nats-leaf://u:p@hub:7422', 'nats-leaf://hub:7422/x', 'not a url']) {
      expect(catchFerryError(() => parseHubUrl(bad)).hint).toMatch(/--hub-url nats-leaf:/);
    }
  });

  it('listen and agent URL: a wildcard listen address takes the site name as the agents\' host name', () => {
    expect(parseSiteListen('0.0.0.0:4222')).toEqual({ host: '0.0.0.0', port: 4222 });
    catchFerryError(() => parseSiteListen('4222'));
    catchFerryError(() => parseSiteListen('h:0'));
    expect(siteAgentUrl('paris', { host: '0.0.0.0', port: 4222 })).toBe('nats://paris:4222');
    expect(siteAgentUrl('paris', { host: '10.1.2.3', port: 4223 })).toBe('nats://10.1.2.3:4223');
    expect(siteAgentUrl('paris', { host: '0.0.0.0', port: 4222 }, 'nats://leaf.paris.example.org:4222')).toBe('nats://leaf.paris.example.org:4222');
    catchFerryError(() => siteAgentUrl('paris', { host: '0.0.0.0', port: 4222 }, 'http://x:1'));
  });
});

describe('renderSiteConfig', () => {
  it('operator mode with the hub\'s JWTs, a domain of its own, one leafnode remote for FERRY with the site\'s creds; nats-server -t accepts it', async () => {
    const keysFile = join(dir, 'nats.json');
    ensureNatsKeys(keysFile);
    const keys = loadNatsKeys(keysFile);
    const jwts = await buildAccountJwts(keys, { agentRevocations: {}, enrollRevocations: {}, rootFingerprint: 'test', agentsToMigrate: 0 });
    const files = siteFiles(dir, 'paris');
    writeFileSync(files.credsFile, 'placeholder');
    writeFileSync(files.systemCredsFile, 'placeholder');
    const conf = renderSiteConfig({ name: 'paris', hubUrl: 'nats-leaf://127.0.0.1:7422,nats-leaf://127.0.0.1:7423', listen: { host: '127.0.0.1', port: 4333 }, agentUrl: 'nats://127.0.0.1:4333' }, files, { operatorJwt: jwts.operator, systemAccount: jwts.systemAccount, accounts: jwts.accounts }, jwts.ids.FERRY);
    expect(conf).toContain('  domain: site-paris\n');
    expect(conf).toContain(`account: "${jwts.ids.FERRY}"`);
    expect(conf).toContain(`credentials: "${files.credsFile}"`);
    // the system account too (account updates only): revocations reach the site's resolver
    expect(conf).toContain(`account: "${jwts.systemAccount}"`);
    expect(conf).toContain(`credentials: "${files.systemCredsFile}"`);
    expect(conf).toContain('urls: ["nats-leaf://127.0.0.1:7422", "nats-leaf://127.0.0.1:7423"]');
    for (const jwt of Object.values(jwts.accounts)) expect(conf).toContain(jwt);
    writeFileSync(files.configFile, conf);
    const res = spawnSync(findNatsServerBinary(), ['-t', '-c', files.configFile], { encoding: 'utf8' });
    expect(res.status, res.stderr + res.stdout).toBe(0);
  });

  it('the link user of a site may publish reports and hub reads, and answer only on its own reply prefix', () => {
    const p = siteLinkPermissions('paris');
    expect(p.publish).toContain('ferry.site.paris.reply.>');
    expect(p.publish.some((s) => s.startsWith('$JS.API') || s === '>' || s.startsWith('_INBOX') || s.startsWith('$KV') || s.startsWith('$O.'))).toBe(false);
    expect(p.subscribe).toContain('$JS.site-paris.API.STREAM.CREATE.OBJ_ferry-dml');
    expect(p.subscribe.some((s) => s.includes('site-') && !s.includes('site-paris'))).toBe(false);
  });
});
