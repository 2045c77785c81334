import { describe, expect, it } from 'vitest';
import { checkedMirrorConsumer } from './mirror-consumers.js';

const mirrorAsks = (config: Record<string, unknown>) => checkedMirrorConsumer({ stream_name: 'OBJ_ferry-dml', config: { deliver_subject: '$JS.M.abc123', deliver_policy: 'all', ack_policy: 'none', flow_control: true, idle_heartbeat: 1e9, direct: true, ...config } });

describe('checkedMirrorConsumer', () => {
  it('a mirror\'s request becomes a push consumer to its $JS.M.<token>, nothing else kept', () => {
    expect(mirrorAsks({ deliver_policy: 'by_start_sequence', opt_start_seq: 42, max_ack_pending: 5, sample_freq: '100%' })).toEqual({
      config: { deliver_subject: '$JS.M.abc123', deliver_policy: 'by_start_sequence', opt_start_seq: 42, ack_policy: 'none', ack_wait: 22 * 3600 * 1e9, max_deliver: 1, idle_heartbeat: 1e9, flow_control: true, direct: true },
    });
  });

  it('a delivery subject anywhere else (a JetStream API, a key, a report subject) is refused', () => {
    for (const deliver of ['$JS.API.STREAM.PURGE.FERRY_REPORTS', '$KV.ferry-desired.host-1', 'ferry.agent.a.status', '$JS.M.>', '$JS.M.a.b', '$JS.M.*', '']) {
      expect(mirrorAsks({ deliver_subject: deliver }), deliver).toHaveProperty('error');
    }
  });

  it('another stream, a filter, a pull consumer or another policy is refused', () => {
    expect(checkedMirrorConsumer({ stream_name: 'FERRY_REPORTS', config: { deliver_subject: '$JS.M.x', deliver_policy: 'all' } })).toHaveProperty('error');
    expect(mirrorAsks({ filter_subject: '$O.ferry-dml.M.>' })).toHaveProperty('error');
    expect(mirrorAsks({ deliver_subject: undefined })).toHaveProperty('error');
    expect(mirrorAsks({ deliver_policy: 'last_per_subject' })).toHaveProperty('error');
    expect(mirrorAsks({ deliver_policy: 'by_start_sequence', opt_start_seq: -1 })).toHaveProperty('error');
    expect(checkedMirrorConsumer({})).toHaveProperty('error');
  });

  it('a site\'s --max-rate (bytes per second) becomes rate_limit_bps, in bits per second; none without a rate', () => {
    const req = { stream_name: 'OBJ_ferry-dml', config: { deliver_subject: '$JS.M.abc123', deliver_policy: 'all', rate_limit_bps: 1 } };
    const paced = checkedMirrorConsumer(req, { maxRateBps: 5 * 1024 * 1024 });
    expect(paced).toHaveProperty('config.rate_limit_bps', 5 * 1024 * 1024 * 8);
    expect(paced).toHaveProperty('config.deliver_subject', '$JS.M.abc123');
    // The mirror's own rate_limit_bps is never kept: the site does not choose its rate.
    expect(checkedMirrorConsumer(req, { maxRateBps: null })).not.toHaveProperty('config.rate_limit_bps');
    expect(checkedMirrorConsumer(req)).not.toHaveProperty('config.rate_limit_bps');
    // A refused request stays refused with a rate.
    expect(checkedMirrorConsumer({ ...req, config: { ...req.config, deliver_subject: '$JS.API.STREAM.PURGE.X' } }, { maxRateBps: 1024 })).toHaveProperty('error');
  });
});

describe('siteOfRequest', () => {
  it('the site a per-site request subject names; none for the shared subject of older sites', async () => {
    const { siteOfRequest } = await import('./mirror-consumers.js');
    const { mirrorConsumerCreate, LEGACY_MIRROR_CONSUMER_CREATE, siteLinkPermissions } = await import('../nats/auth-config.js');
    expect(siteOfRequest(mirrorConsumerCreate('paris'))).toBe('paris');
    expect(siteOfRequest(LEGACY_MIRROR_CONSUMER_CREATE)).toBeUndefined();
    // A site's link may publish its own request subject only: not another site's, not the shared one.
    const paris = siteLinkPermissions('paris').publish;
    expect(paris).toContain('ferry.mirror.paris.CONSUMER.CREATE.OBJ_ferry-dml');
    expect(paris.some((s) => s.startsWith('ferry.mirror.') && s !== 'ferry.mirror.paris.CONSUMER.CREATE.OBJ_ferry-dml')).toBe(false);
  });
});

describe('mirrorSkipped', () => {
  it('a hole the hub has a message for is a skip; holes the hub has too, or before its first message, are not', async () => {
    const { mirrorSkipped } = await import('./mirrors.js');
    expect(mirrorSkipped([12], { first_seq: 1, last_seq: 40 })).toEqual([12]);
    expect(mirrorSkipped([12, 13], { first_seq: 1, last_seq: 40, deleted: [12, 13] })).toEqual([]);
    expect(mirrorSkipped([3, 12], { first_seq: 10, last_seq: 40, deleted: [] })).toEqual([12]);
    expect(mirrorSkipped([50], { first_seq: 1, last_seq: 40 })).toEqual([]);
  });
});

describe('asNotYetDelivered', () => {
  it('the reply says nothing was delivered yet: a mirror then skips nothing it is about to receive', async () => {
    const { asNotYetDelivered } = await import('./mirror-consumers.js');
    const reply = { name: 'c1', delivered: { consumer_seq: 3, stream_seq: 14, last_active: 'x' } };
    expect(asNotYetDelivered(reply, { deliver_policy: 'by_start_sequence', opt_start_seq: 12 }).delivered).toEqual({ consumer_seq: 0, stream_seq: 11, last_active: 'x' });
    expect(asNotYetDelivered(reply, { deliver_policy: 'all' }).delivered).toEqual({ consumer_seq: 0, stream_seq: 0, last_active: 'x' });
    const refused = { error: { code: 400 } };
    expect(asNotYetDelivered(refused, { deliver_policy: 'all' })).toBe(refused);
  });
});
