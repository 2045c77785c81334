// The frame around every page: navigation, who is signed in, the sign-out form, and the live
// region that console.js refreshes when the server's event stream says something changed.
import { html, type Html } from './html.js';
import type { Page, PageContext } from './context.js';

const NAV: [Page['section'], string, string][] = [
  ['fleet', '/', 'Fleet'],
  ['rollouts', '/rollouts', 'Rollouts'],
  ['releases', '/releases', 'DML & releases'],
  ['schedule', '/schedule', 'Schedule'],
  ['audit', '/audit', 'Audit log'],
];

export function layout(page: Page, ctx: PageContext | undefined): Html {
  const nav = ctx && !page.printable
    ? html`<header class="top">
  <a class="brand" href="/">Ferry</a>
  <nav aria-label="Sections"><ul>${NAV.map(([section, href, label]) => html`<li><a href="${href}"${section === page.section ? html` aria-current="page"` : ''}>${label}</a></li>`)}</ul></nav>
  <div class="who"><span class="live" id="live-state" role="status" aria-live="polite">live</span>
    <span title="your role">${ctx.caller.name} · ${ctx.caller.role}</span>
    <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${ctx.csrf}"><button type="submit" class="link">Sign out</button></form></div>
</header>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title} · Ferry</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/console.js" defer></script>
</head>
<body${page.printable ? html` class="printable"` : ''}>
${nav}
<main id="main"${ctx && !page.printable ? html` data-live="on" data-live-since="${ctx.liveSince ?? ''}"` : ''}>
<h1>${page.title}</h1>
${page.body}
</main>
</body>
</html>
`;
}

/** The page everyone without a session sees. */
export function signInPage(message?: string): Html {
  return layout(
    {
      title: 'Sign in',
      section: 'none',
      body: html`${message ? html`<p class="error" role="alert">${message}</p>` : ''}
<p>The console signs you in as your Ferry operator. On a machine with your credentials, run</p>
<pre><code>ferry ui login</code></pre>
<p>and open the one-time URL it prints (it works once, for a few minutes).</p>`,
    },
    undefined,
  );
}
