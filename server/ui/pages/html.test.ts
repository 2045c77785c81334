import { describe, expect, it } from 'vitest';
import { badge, escapeHtml, html, raw } from './html.js';

describe('escapeHtml', () => {
  it('escapes the five characters that matter in text and quoted attributes', () => {
    expect(escapeHtml(`<script>alert("x" + 'y')</script> & more`)).toBe('&lt;script&gt;alert(&quot;x&quot; + &#39;y&#39;)&lt;/script&gt; &amp; more');
  });
  it('escapes an ampersand that already looks like an entity (no double-decoding)', () => {
    expect(escapeHtml('&lt;b&gt; &amp;')).toBe('&amp;lt;b&amp;gt; &amp;amp;');
  });
});

describe('html template', () => {
  it('escapes every interpolated value: strings, numbers, arrays, nested arrays', () => {
    const evil = '"><script>x()</script>';
    const out = html`<a title="${evil}">${evil}</a>${[evil, [evil]]}${42}`.text;
    expect(out).not.toMatch(/<script/i);
    expect(out).toBe(`<a title="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;">&quot;&gt;&lt;script&gt;x()&lt;/script&gt;</a>${'&quot;&gt;&lt;script&gt;x()&lt;/script&gt;'.repeat(2)}42`);
  });
  it('leaves out null, undefined and false, and keeps Html (from the template or raw) as is', () => {
    expect(html`[${null}${undefined}${false}]`.text).toBe('[]');
    expect(html`<p>${html`<b>${'<i>'}</b>`}${raw('<br>')}</p>`.text).toBe('<p><b>&lt;i&gt;</b><br></p>');
  });
  it('does not treat a plain object shaped like Html as markup', () => {
    // agent data comes from JSON: it can never be an Html instance, only look like one
    const fake = { text: '<script>x()</script>', toString: () => '<script>x()</script>' } as unknown as string;
    expect(html`${fake}`.text).toBe('&lt;script&gt;x()&lt;/script&gt;');
  });
});

describe('badge', () => {
  it('keeps the class to [a-z-] and escapes the word', () => {
    expect(badge('fai"led <x>').text).toBe('<span class="badge s-failedx">fai&quot;led &lt;x&gt;</span>');
  });
});
