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
