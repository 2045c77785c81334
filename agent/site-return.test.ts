import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { atSite, hostPort } from './site-return.js';

const on = (server: string) => ({ getServer: () => server }) as unknown as NatsConnection;

describe('site return', () => {
  it('names a URL as the client names its server', () => {
    expect(hostPort('nats://10.1.2.3:7422')).toBe('10.1.2.3:7422');
    expect(hostPort('tls://site.example.org')).toBe('site.example.org:4222');
  });

  it('is at the site only when connected to one of the site\'s URLs', () => {
    const site = { url: 'nats://10.0.0.5:4222' };
    expect(atSite(on('10.0.0.5:4222'), site)).toBe(true);
    expect(atSite(on('hub.example.org:4222'), site)).toBe(false);
    expect(atSite(on('10.0.0.5:4223'), site)).toBe(false);
    expect(atSite(on('10.0.0.6:4222'), { url: 'nats://10.0.0.5:4222, nats://10.0.0.6:4222' })).toBe(true);
  });
});
