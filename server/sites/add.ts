// `ferry site add NAME --out DIR`: checks everything, issues the site's link user, writes
// DIR/NAME.conf and DIR/NAME.creds (through temporary names) and records the site, as one step:
// a refused flag, a duplicate or a failed write leaves no file and no row behind (nor the --out
// directory, when this run made it): the row is inserted in the transaction that renames the files.
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { formatCreds } from '../../shared/nats/creds.js';
import { createNativeUser } from '../../shared/nats/nkey-auth.js';
import { siteDomain, subjects } from '../../shared/protocol/subjects.js';
import { parseRate } from '../../shared/rates.js';
import { silentLogger } from '../../shared/log.js';
import { dataPaths, type RuntimeInfo } from '../config.js';
import { openDatabase } from '../db/open.js';
import { assertInitialized } from '../init.js';
import { KeyRing } from '../keys.js';
import { NatsAuth } from '../nats/nats-auth.js';
import { makeOutDir } from '../util/out-dir.js';
import { DEFAULT_SITE_LISTEN, assertSiteName, parseHubUrl, parseSiteListen, renderSiteConfig, siteAgentUrl, siteFiles } from './config.js';
import { SiteStore } from './store.js';

export interface AddSiteRequest {
  dataDir: string;
  name: string;
  out: string;
  hubUrl?: string | undefined;
  listen?: string | undefined;
  agentUrl?: string | undefined;
  /** `--max-rate RATE` (e.g. 5MiB/s): what crosses the site's link is paced to it */
  maxRate?: string | undefined;
}

export interface AddSiteResult {
  name: string;
  domain: string;
  config: string;
  creds: string;
  systemCreds: string;
  hubUrl: string;
  agentUrl: string;
  /** bytes per second; null: not paced */
  maxRateBps: number | null;
}

export async function addSite(req: AddSiteRequest): Promise<AddSiteResult> {
  assertSiteName(req.name);
  const maxRateBps = req.maxRate !== undefined ? parseRate(req.maxRate) : null;
  const paths = dataPaths(req.dataDir);
  assertInitialized(paths);
  const runtime = readRuntime(paths.runtime);
  const hubUrl = req.hubUrl !== undefined ? parseHubUrl(req.hubUrl) : runtime?.leafUrl;
  if (!hubUrl) {
    throw new FerryError('FERRY_USAGE', 'no --hub-url, and the running server does not accept sites', {
      hint: 'start the hub with ferry server --leaf-listen HOST:PORT, or pass --hub-url nats-leaf://HOST:PORT',
    });
  }
  assertNotClientPort(hubUrl, runtime);
  const listen = parseSiteListen(req.listen ?? DEFAULT_SITE_LISTEN);
  const agentUrl = siteAgentUrl(req.name, listen, req.agentUrl);
  const out = resolve(req.out);
  if (existsSync(out) && !statSync(out).isDirectory()) throw new FerryError('FERRY_INVALID_INPUT', `--out ${out} is not a directory`);
  const files = siteFiles(out, req.name);
  for (const f of [files.configFile, files.credsFile, files.systemCredsFile]) {
    if (existsSync(f)) throw new FerryError('FERRY_CONFLICT', `${f} exists already`, { hint: 'choose another --out, or remove the old site files first' });
  }

  const db = openDatabase(paths.db);
  try {
    const sites = new SiteStore(db);
    if (sites.get(req.name)) throw duplicate(req.name);
    const keys = new KeyRing(paths);
    const auth = await NatsAuth.open(paths, db, () => keys.rootFingerprint, silentLogger);
    const user = createNativeUser();
    const creds = formatCreds({ jwt: await auth.issueSiteLink(req.name, user.publicKey), seed: user.seed });
    const systemUser = createNativeUser();
    const systemCreds = formatCreds({ jwt: await auth.issueSiteSystem(req.name, systemUser.publicKey), seed: systemUser.seed });
    const config = renderSiteConfig({ name: req.name, hubUrl, listen, agentUrl }, files, auth.operatorAuth, auth.accountIds.FERRY);

    const dir = makeOutDir(out); // refused: nothing made, no row
    const tmp = (f: string) => `${f}.${process.pid}.tmp`;
    try {
      // The link's seed and the account JWTs are in these files: owner only.
      const all: [string, string][] = [[files.credsFile, creds], [files.systemCredsFile, systemCreds], [files.configFile, config]];
      for (const [f, text] of all) writeFileSync(tmp(f), text, { mode: 0o600 });
      db.transaction(() => {
        if (!sites.insert({ name: req.name, agentUrl, listen: `${listen.host}:${listen.port}`, hubUrl, linkNkey: user.publicKey, systemNkey: systemUser.publicKey, maxRateBps, mirrorApi: subjects.siteMirrorApiPrefix(req.name) })) throw duplicate(req.name);
        for (const [f] of all) renameSync(tmp(f), f);
      })();
    } catch (err) {
      const all = [files.credsFile, files.systemCredsFile, files.configFile];
      for (const f of all) rmSync(tmp(f), { force: true });
      if (!sites.get(req.name)) {
        for (const f of all) rmSync(f, { force: true });
        dir.undo();
      }
      if (err instanceof FerryError) throw err;
      throw new FerryError('FERRY_INVALID_INPUT', `cannot write the site's files to ${out}: ${(err as Error).message}`, { cause: err });
    }
    return { name: req.name, domain: siteDomain(req.name), config: files.configFile, creds: files.credsFile, systemCreds: files.systemCredsFile, hubUrl, agentUrl, maxRateBps };
  } finally {
    db.close();
  }
}

function duplicate(name: string): FerryError {
  return new FerryError('FERRY_CONFLICT', `site ${name} exists already`, { hint: 'ferry site list shows the sites; choose another name' });
}

function readRuntime(file: string): RuntimeInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RuntimeInfo;
  } catch {
    return undefined;
  }
}

/** The hub's client port is the commonest wrong --hub-url: a leafnode link there is refused, over and over, in the site's log only. */
function assertNotClientPort(hubUrls: string, runtime: RuntimeInfo | undefined): void {
  if (!runtime?.natsUrl) return;
  for (const hubUrl of hubUrls.split(',')) assertNotClientPortOne(hubUrl, runtime.natsUrl, runtime.leafUrl);
}

function assertNotClientPortOne(hubUrl: string, natsUrl: string, leafUrl: string | undefined): void {
  const hub = new URL(hubUrl);
  for (const u of natsUrl.split(',')) {
    const client = new URL(u.trim());
    if (client.port === hub.port && client.hostname === hub.hostname) {
      throw new FerryError('FERRY_INVALID_INPUT', `--hub-url ${hubUrl} is the hub's client port, not its leafnode port`, {
        hint: leafUrl ? `the hub accepts sites at ${leafUrl}` : 'start the hub with ferry server --leaf-listen HOST:PORT and give that address',
      });
    }
  }
}
