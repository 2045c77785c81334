// An action button: a POST form with the session's CSRF token. Destructive ones carry a
// confirmation text that console.js asks before the form is sent.
import { html, type Html } from './html.js';
import type { PageContext } from './context.js';

export function actionButton(ctx: PageContext, action: string, label: string, opts: { confirm?: string; danger?: boolean; id?: string } = {}): Html {
  return html`<form method="post" action="${action}" class="inline"${opts.confirm ? html` data-confirm="${opts.confirm}"` : ''}>
<input type="hidden" name="csrf" value="${ctx.csrf}"><button type="submit"${opts.id ? html` id="${opts.id}"` : ''} class="${opts.danger ? 'danger' : ''}">${label}</button></form>`;
}
