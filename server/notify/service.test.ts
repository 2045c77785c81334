import { describe, expect, it } from 'vitest';
import { FerryError } from '../../shared/errors.js';
import { shownWebhookUrl, validateWebhookUrl } from './service.js';

describe('webhook URLs', () => {
  it('refuses user info (shown to every viewer otherwise) without echoing it', () => {
    for (const url of ['https://user:s3cret-pw@hooks.example.com/x', 'https://user@hooks.example.com/x', 'https://:s3cret-pw@hooks.example.com/x']) {
      let err: unknown;
      try {
        validateWebhookUrl(url);
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('FERRY_INVALID_INPUT');
      expect((err as FerryError).message).not.toContain('s3cret');
      expect((err as FerryError).hint).toMatch(/--secret/);
    }
    expect(validateWebhookUrl('https://hooks.example.com/x?token=t').href).toBe('https://hooks.example.com/x?token=t');
  });

  it('shows a URL without its query, fragment or user info', () => {
    expect(shownWebhookUrl('https://hooks.example.com/x?token=abc')).toBe('https://hooks.example.com/x?…');
    expect(shownWebhookUrl('https://hooks.example.com:8443/a/b#frag')).toBe('https://hooks.example.com:8443/a/b#…');
    expect(shownWebhookUrl('https://u:pw@hooks.example.com/x')).toBe('https://hooks.example.com/x');
    expect(shownWebhookUrl('http://127.0.0.1:9/hook')).toBe('http://127.0.0.1:9/hook');
  });
});
