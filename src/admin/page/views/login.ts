// The login form: the admin token, posted to /admin/login.

import { html } from "../html";
import { page } from "./layout";

export function loginPage(error?: string): string {
  return page({
    title: "Log in",
    flash: error ? { error } : undefined,
    body: html`<section class="card login">
      <h1>ParrotRouter admin</h1>
      <form method="post" action="/admin/login" class="stack">
        <label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
        <button type="submit">Log in</button>
      </form>
    </section>`,
  });
}

/** Shown instead of acting when a state change fails the session, Origin or CSRF checks. */
export function refusedPage(message: string): string {
  return page({ title: "Refused", flash: { error: message }, body: html`<p><a href="/admin">Back to the admin page</a></p>` });
}
