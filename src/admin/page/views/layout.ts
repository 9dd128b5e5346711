// The frame of every admin page: viewport meta, stylesheet, navigation, logout and flash.

import { html, type HtmlPart, type SafeHtml } from "../html";
import type { AdminSession, Flash } from "../sessions";

export interface PageFrame {
  title: string;
  /** Absent on the login page. */
  session?: AdminSession;
  flash?: Flash;
  body: HtmlPart;
}

/** The hidden field every state-changing form carries. */
export function csrfField(session: AdminSession): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${session.csrfToken}">`;
}

function flashMessages(flash: Flash | undefined): SafeHtml {
  if (!flash) return html``;
  const issued = flash.issuedKey;
  return html`
    ${flash.notice ? html`<div class="notice" role="status">${flash.notice}</div>` : ""}
    ${flash.error ? html`<div class="error" role="alert">${flash.error}</div>` : ""}
    ${issued
      ? html`<section class="secret" role="alert" id="issued-key">
          <strong>Copy your API key now, we only show it once.</strong>
          <div class="muted">Key “${issued.name}” (${issued.display}). Only its hash is stored; if you lose it, rotate the key.</div>
          <code id="new-key-secret">${issued.secret}</code>
          <button type="button" data-copy="new-key-secret" hidden>Copy</button>
        </section>`
      : ""}`;
}

export function page(frame: PageFrame): string {
  const session = frame.session;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${session ? html`<meta name="csrf-token" content="${session.csrfToken}">` : ""}
<title>${frame.title} · ParrotRouter admin</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
</head>
<body>
${session
  ? html`<header>
      <span class="brand">ParrotRouter</span>
      <a href="/admin">Projects</a>
      <a href="/admin/usage">Usage</a>
      <form method="post" action="/admin/logout">${csrfField(session)}<button class="secondary" type="submit">Log out</button></form>
    </header>`
  : ""}
<main>
${flashMessages(frame.flash)}
${frame.body}
</main>
<script src="/admin/assets/copy.js" defer></script>
</body>
</html>
`.value;
}
