// Each site's mirror of the DML: the hub's server creates it in the site's JetStream domain once
// the site's leafnode is linked (a site config cannot declare streams), and reports how far it is
// behind. The mirror has the DML stream's name, so the agents' direct gets at the site
// (`$JS.API.DIRECT.GET.OBJ_ferry-dml…`, through AGENTS's service imports) are answered there;
// mirrors keep the origin's sequence numbers, so the readers' `{seq, next_by_subj}` gets work on it.
//
// Requests to a site travel over its link, whose user may answer only on the reply prefix of
// that site (subjects.siteReplyPrefix): a site cannot answer for another, or for the server's
// other requests.
import { Objm } from '@nats-io/obj';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { BUCKETS, jsApiPrefix, siteDomain, subjects } from '../../shared/protocol/subjects.js';
import type { SiteStore } from './store.js';

const DML_STREAM = `OBJ_${BUCKETS.dml}`;
const REQUEST_TIMEOUT_MS = 3000;

export interface MirrorState {
  /** the site's leafnode answered (its JetStream domain is reachable) */
  linked: boolean;
  /** the mirror's last sequence (the hub's numbering), undefined without a mirror */
  lastSeq?: number;
  messages?: number;
  bytes?: number;
  error?: string;
  checkedAt: string;
}

interface StreamInfoReply {
  error?: { code: number; err_code?: number; description?: string };
  state?: { messages: number; bytes: number; first_seq: number; last_seq: number; num_deleted?: number; deleted?: number[] };
}

/**
 * The mirror's stream config: same name as the hub's DML stream, fed through the hub's server.
 * `mirrorApi`: the site's own API prefix (null: a site added before those, on the shared one).
 */
export function mirrorConfig(mirrorApi: string | null = null): Record<string, unknown> {
  return {
    name: DML_STREAM,
    // Its consumer request goes to the hub's server, which makes a checked consumer (mirror-consumers.ts).
    mirror: { name: DML_STREAM, external: { api: mirrorApi ?? subjects.mirrorApiPrefix, deliver: '' } },
    storage: 'file',
    retention: 'limits',
    discard: 'new',
    num_replicas: 1,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    max_msg_size: -1,
    // Agents read it with direct gets; object metadata is written with rollup headers.
    allow_direct: true,
    allow_rollup_hdrs: true,
  };
}

export class SiteMirrors {
  private readonly states = new Map<string, MirrorState>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly sites: SiteStore,
    private readonly log: Logger,
    private readonly intervalMs = Number(process.env.FERRY_SITE_CHECK_MS ?? 5000),
  ) {}

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** The last check of a site (undefined before the first). */
  state(site: string): MirrorState | undefined {
    return this.states.get(site);
  }

  /** Check every site now (site list asks for fresh figures). */
  tick(): Promise<void> {
    this.running ??= (async () => {
      try {
        await Promise.all(this.sites.list().map((s) => this.check(s.name, s.mirrorApi)));
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async check(site: string, mirrorApi: string | null): Promise<void> {
    const checkedAt = new Date().toISOString();
    try {
      let info = await this.request<StreamInfoReply>(site, 'STREAM.INFO', { deleted_details: true });
      if (info?.error?.err_code === 10059 /* stream not found */) {
        info = await this.request<StreamInfoReply>(site, 'STREAM.CREATE', mirrorConfig(mirrorApi));
        if (!info?.error) this.log.info({ site }, 'created the site\'s mirror of the DML');
      }
      if (info?.state && (await this.hasGaps(info.state))) {
        // nats-server 2.9 can skip messages when a mirror's consumer is remade mid-stream (the
        // first message of a new consumer is taken whatever its sequence): an object would then
        // never be whole at the site. A mirror made again takes everything from the start.
        this.log.warn({ site, mirror: info.state }, 'the site\'s mirror has gaps the hub has not; making it again');
        await this.request(site, 'STREAM.DELETE', undefined);
        info = await this.request<StreamInfoReply>(site, 'STREAM.CREATE', mirrorConfig(mirrorApi));
      }
      if (!info) {
        this.states.set(site, { linked: false, checkedAt });
      } else if (info.error) {
        this.states.set(site, { linked: true, error: info.error.description ?? `error ${info.error.code}`, checkedAt });
        this.log.warn({ site, error: info.error }, 'site mirror');
      } else {
        this.states.set(site, { linked: true, lastSeq: info.state?.last_seq ?? 0, messages: info.state?.messages ?? 0, bytes: info.state?.bytes ?? 0, checkedAt });
      }
    } catch (err) {
      this.states.set(site, { linked: false, error: err instanceof Error ? err.message : String(err), checkedAt });
    }
  }

  /**
   * A hole in the mirror where the hub still has the message: one it skipped. (Messages the hub
   * deleted are holes in a mirror made later, and a mirror keeps what the hub deletes after.)
   */
  private async hasGaps(mirror: NonNullable<StreamInfoReply['state']>): Promise<boolean> {
    if (!mirror.num_deleted) return false;
    const hub = (await this.nc.request(`$JS.API.STREAM.INFO.${DML_STREAM}`, JSON.stringify({ deleted_details: true }), { timeout: REQUEST_TIMEOUT_MS })).json<StreamInfoReply>().state;
    return hub !== undefined && mirrorSkipped(mirror.deleted ?? [], hub).length > 0;
  }

  /** A JetStream API request to the site's domain; undefined when nothing answers (the site is not linked). */
  private async request<T>(site: string, api: string, body: unknown): Promise<T | undefined> {
    const subject = `${jsApiPrefix(siteDomain(site))}.${api}.${DML_STREAM}`;
    try {
      const msg = await this.nc.request(subject, body === undefined ? '' : JSON.stringify(body), { timeout: REQUEST_TIMEOUT_MS, noMux: true, reply: `${subjects.siteReplyPrefix(site)}.${nuid.next()}` });
      return msg.json<T>();
    } catch (err) {
      if (/no responders|timeout|TIMEOUT/i.test(String(err))) return undefined;
      throw err;
    }
  }
}

/** The holes of a mirror at which the hub still holds a message (so the mirror skipped it). */
export function mirrorSkipped(mirrorHoles: readonly number[], hub: { first_seq: number; last_seq: number; deleted?: number[] }): number[] {
  const hubHoles = new Set(hub.deleted ?? []);
  return mirrorHoles.filter((seq) => seq >= hub.first_seq && seq <= hub.last_seq && !hubHoles.has(seq));
}

/** Each object of the hub's DML: the sequence of its metadata (written after its chunks) and its size. */
export async function dmlObjects(nc: NatsConnection): Promise<{ revision: number; size: number }[]> {
  const os = await new Objm(nc).open(BUCKETS.dml);
  const objects: { revision: number; size: number }[] = [];
  for (const listed of await os.list()) {
    // list() reads the metadata without its sequence; info() has it (the revision).
    const info = await os.info(listed.name);
    if (info) objects.push({ revision: info.revision, size: info.size });
  }
  return objects;
}

/** What the hub's DML holds beyond a mirror's last sequence: objects and their bytes. */
export function behindOf(objects: readonly { revision: number; size: number }[], mirrorLastSeq: number): { objects: number; bytes: number } {
  const behind = objects.filter((o) => o.revision > mirrorLastSeq);
  return { objects: behind.length, bytes: behind.reduce((n, o) => n + o.size, 0) };
}

/** What the hub's DML holds beyond a mirror's last sequence (one site). */
export async function dmlBehind(nc: NatsConnection, mirrorLastSeq: number): Promise<{ objects: number; bytes: number }> {
  return behindOf(await dmlObjects(nc), mirrorLastSeq);
}
