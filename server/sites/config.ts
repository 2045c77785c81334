// `ferry site add`: the nats-server configuration of a site, a leafnode distribution point.
//
// A site trusts the same operator and holds the same account JWTs as the hub, so the agents' user
// JWTs (signed by the AGENTS account's key) are good there; it has a JetStream domain of its own
// (`site-<name>`), so `$JS.API` at the site is the site's: the hub's server creates there a mirror
// of the DML's stream under the same name (server/sites/mirrors.ts), which the agents' existing
// direct gets then reach locally. Its FERRY account is linked to the hub's AGENTS account with the
// site's own least-privilege user (siteLinkPermissions): what the site sends reaches the hub's
// FERRY only through AGENTS's service imports, so no reply subject set at the site is a write there.
// At the site, AGENTS reaches FERRY through the same imports as at the hub, so reports, heartbeats
// and commands cross the one link.
//
// Pure: validates, then renders text. Every string that goes into the file is validated or quoted.
import { join } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { siteDomain } from '../../shared/protocol/subjects.js';
import { DEFAULT_MAX_PAYLOAD, hostPort, quote, renderOperatorAuth, type OperatorAuth } from '../nats/server-config.js';

export const SITE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
export const DEFAULT_SITE_LISTEN = '0.0.0.0:4222';

export interface SiteSpec {
  name: string;
  /** nats-leaf://HOST:PORT of the hub's leafnode listener (a cluster's: several, separated by commas) */
  hubUrl: string;
  /** where the site's nats-server listens for agents */
  listen: { host: string; port: number };
  /** how agents reach the site (nats://HOST:PORT) */
  agentUrl: string;
}

export function assertSiteName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SITE_NAME_PATTERN.test(name)) {
    throw new FerryError('FERRY_INVALID_INPUT', `invalid site name ${JSON.stringify(name)}`, {
      hint: 'a site name is 1-31 characters of a-z, 0-9 and "-", starting with a letter (it names a JetStream domain and a host)',
    });
  }
}

const HOST_RE = /^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:.]+\]?$/;

/** nats-leaf:// (or tls://) HOST:PORT, nothing else, or several separated by commas (a cluster's nodes): the site's leafnode remote. */
export function parseHubUrl(value: string): string {
  const urls = value.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length > 1) return urls.map(parseOneHubUrl).join(',');
  return parseOneHubUrl(value);
}

function parseOneHubUrl(value: string): string {
  const refuse = (why: string) =>
    new FerryError('FERRY_INVALID_INPUT', `--hub-url ${JSON.stringify(value)} ${why}`, {
      hint: 'give the hub\'s leafnode address, e.g. --hub-url nats-leaf://hub.example.org:7422 (ferry server --leaf-listen, or ferry nats config --leaf-port)',
    });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refuse('is not a URL');
  }
  if (!['nats-leaf:', 'tls:'].includes(url.protocol)) throw refuse(`has the scheme ${url.protocol.replace(/:$/, '')}; a leafnode link is nats-leaf:// (or tls://)`);
  if (!url.hostname || !HOST_RE.test(url.hostname)) throw refuse('has no host');
  if (!url.port) throw refuse('has no port');
  if (url.username || url.password || (url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) throw refuse('must be only a scheme, a host and a port (the link authenticates with the site\'s credentials)');
  return `${url.protocol}//${url.host}`;
}

/** HOST:PORT for the site's client listener. */
export function parseSiteListen(value: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  const host = m ? m[1]!.replace(/^\[|\]$/g, '') : '';
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535 || !HOST_RE.test(host)) {
    throw new FerryError('FERRY_INVALID_INPUT', `--listen ${JSON.stringify(value)} is not HOST:PORT`, { hint: `e.g. --listen ${DEFAULT_SITE_LISTEN}` });
  }
  return { host, port: Number(m[2]) };
}

/** How agents reach the site: --agent-url, else the listen address (a wildcard one: the site's name as host name). */
export function siteAgentUrl(name: string, listen: { host: string; port: number }, agentUrl?: string): string {
  if (agentUrl === undefined) {
    const wildcard = ['0.0.0.0', '::', ''].includes(listen.host);
    return `nats://${hostPort(wildcard ? name : listen.host, listen.port)}`;
  }
  let url: URL;
  try {
    url = new URL(agentUrl);
  } catch {
    throw new FerryError('FERRY_INVALID_INPUT', `--agent-url ${JSON.stringify(agentUrl)} is not a URL`, { hint: 'e.g. --agent-url nats://site.example.org:4222' });
  }
  if (!['nats:', 'tls:'].includes(url.protocol) || !url.hostname || !url.port || url.username || url.password) {
    throw new FerryError('FERRY_INVALID_INPUT', `--agent-url ${JSON.stringify(agentUrl)} must be nats://HOST:PORT (or tls://)`, { hint: 'e.g. --agent-url nats://site.example.org:4222' });
  }
  return `${url.protocol}//${url.host}`;
}

export interface SiteFiles {
  /** absolute paths */
  configFile: string;
  credsFile: string;
  /** the system-account link's credential (account updates only) */
  systemCredsFile: string;
  storeDir: string;
}

export function siteFiles(outDir: string, name: string): SiteFiles {
  return { configFile: join(outDir, `${name}.conf`), credsFile: join(outDir, `${name}.creds`), systemCredsFile: join(outDir, `${name}.system.creds`), storeDir: join(outDir, name) };
}

const hubUrls = (hubUrl: string) => hubUrl.split(',').map((u) => quote(u, 'hub URL')).join(', ');

export function renderSiteConfig(site: SiteSpec, files: SiteFiles, auth: OperatorAuth, ferryAccount: string): string {
  assertSiteName(site.name);
  if (!/^A[A-Z2-7]{55}$/.test(ferryAccount)) throw new FerryError('FERRY_INTERNAL', 'invalid FERRY account id');
  return [
    `# Written by \`ferry site add ${site.name}\`: the distribution point "${site.name}", a leafnode of the Ferry hub.`,
    `# Start it with: nats-server -c ${files.configFile}`,
    `# Agents joined with \`ferry token create --site ${site.name}\` connect here (${site.agentUrl}) and download from its mirror of the DML.`,
    `server_name: ${quote(`ferry-site-${site.name}`, 'server name')}`,
    `listen: ${quote(hostPort(site.listen.host, site.listen.port), 'listen address')}`,
    `max_payload: ${DEFAULT_MAX_PAYLOAD}`,
    'write_deadline: "10s"',
    'jetstream {',
    `  store_dir: ${quote(join(files.storeDir, 'jetstream'), 'store dir')}`,
    // Its own domain: `$JS.API` here is the site's (the mirror), the hub is `$JS.hub.API`.
    `  domain: ${siteDomain(site.name)}`,
    '}',
    'authorization {',
    '  timeout: 10',
    '}',
    'leafnodes {',
    '  remotes: [',
    '    {',
    `      urls: [${hubUrls(site.hubUrl)}]`,
    // The site's FERRY account (AGENTS reaches it through its service imports, here as at the
    // hub), linked as the site's user of the hub's AGENTS account.
    `      account: ${quote(ferryAccount, 'account')}`,
    `      credentials: ${quote(files.credsFile, 'credentials file')}`,
    '    }',
    // The system account, so that account updates pushed at the hub (revocations) reach this
    // site's resolver; its user only receives them.
    '    {',
    `      urls: [${hubUrls(site.hubUrl)}]`,
    `      account: ${quote(auth.systemAccount, 'account')}`,
    `      credentials: ${quote(files.systemCredsFile, 'credentials file')}`,
    '    }',
    '  ]',
    '}',
    '',
    renderOperatorAuth(auth, join(files.storeDir, 'resolver')),
  ].join('\n');
}
