// The admin page end to end in real headless Chromium (Debian's, driven by playwright-core):
// log in, create a project, issue a key and read it once, call the API with it through the
// official openai SDK, find the request and its cost on the usage page, revoke the key in the
// page, and see the SDK's next call rejected. Skipped, saying why, when Chromium is missing.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import OpenAI from "openai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { costOfUsage } from "../../src/credits/pricing";
import { formatUsd } from "../../src/admin/page/views/format";
import { ADMIN_TOKEN, startTestServer, type TestServer } from "../support/server";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`SKIPPED the admin page browser test: ${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does this).`);

describe.skipIf(!haveChromium)("admin page in headless Chromium", () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer();
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
    // A phone-sized window: the page must be usable at that width.
    context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Nothing overflows sideways at phone width (wide tables scroll inside their own box). */
  const fitsPhoneWidth = () =>
    page.evaluate(() => {
      const window = globalThis as any; // runs in the page, which has a DOM
      return window.document.documentElement.scrollWidth <= window.innerWidth + 1;
    });

  test(
    "log in, create a project, issue a key, use it, see its cost, revoke it",
    async () => {
      // Log in with the admin token.
      await page.goto(`${server.url}/admin`);
      expect(new URL(page.url()).pathname).toBe("/admin/login");
      await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { name: "Projects" }).waitFor();
      expect(await fitsPhoneWidth()).toBe(true);

      // Create a project with $2 of credits.
      await page.getByLabel("Name").fill("browser-project");
      await page.getByLabel("Starting credits (USD)").fill("2");
      await page.getByRole("button", { name: "Create project" }).click();
      await page.getByRole("heading", { name: "browser-project" }).waitFor();
      expect(await page.locator("#balance").textContent()).toBe("$2.00");

      // Issue a key: the secret is shown once, with the warning and a working copy button.
      await page.locator("#issue-key").getByLabel("Name").fill("browser-key");
      await page.getByRole("button", { name: "Issue key" }).click();
      await page.getByText("Copy your API key now, we only show it once.").waitFor();
      const secret = (await page.locator("#new-key-secret").textContent())!.trim();
      expect(secret).toMatch(/^pr-live-[a-z0-9]{32}$/);
      const copy = page.getByRole("button", { name: "Copy" });
      expect(await copy.isVisible()).toBe(true); // revealed by the script
      await copy.click();
      await page.getByRole("button", { name: "Copied" }).waitFor();
      expect(await page.evaluate(() => (navigator as any).clipboard.readText())).toBe(secret);
      expect(await fitsPhoneWidth()).toBe(true);
      await page.reload();
      expect(await page.locator("#new-key-secret").count()).toBe(0);
      expect(await page.content()).not.toContain(secret);

      // Use it through the official SDK.
      const client = new OpenAI({ apiKey: secret, baseURL: server.baseURL, maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Hello from the browser test" }] });
      const usage = completion.usage!;
      const costNanoUsd = costOfUsage({ inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, cachedInputTokens: 0 }, server.runtime.config.models["gpt-4o"]!.pricing);
      expect(costNanoUsd).toBeGreaterThan(0);

      // The usage page shows the request and its cost.
      await page.getByRole("link", { name: "Usage", exact: true }).click();
      await page.getByRole("heading", { name: "Usage" }).waitFor();
      const row = page.locator("#recent tbody tr").first();
      const cells = (await row.locator("td").allTextContents()).map((text) => text.trim());
      const display = `${secret.slice(0, 12)}…${secret.slice(-4)}`;
      expect(cells.slice(1)).toEqual([display, "gpt-4o", `${usage.prompt_tokens} / ${usage.completion_tokens}`, formatUsd(costNanoUsd), expect.stringMatching(/^\d+ ms$/), "200"]);
      expect(await page.locator("#total-spend").textContent()).toBe(formatUsd(costNanoUsd));
      expect(await page.locator("#by-model").textContent()).toContain(formatUsd(costNanoUsd));
      expect(await page.locator("#spend-chart rect").count()).toBe(30);
      expect(await fitsPhoneWidth()).toBe(true);

      // Revoke it in the page.
      await page.getByRole("link", { name: "Projects" }).click();
      await page.getByRole("link", { name: "browser-project" }).click();
      await page.getByRole("button", { name: "Revoke" }).click();
      await page.getByText(`Key ${display} revoked.`).waitFor();
      expect(await page.locator("#keys .status").textContent()).toBe("revoked");
      expect(await page.locator("#balance").textContent()).toBe(formatUsd(2_000_000_000 - costNanoUsd));

      // The SDK's next call is refused.
      const refused = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "again" }] }).catch((error) => error);
      expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(refused.status).toBe(401);
      expect(refused.code).toBe("invalid_api_key");

      // Log out: the page is closed again.
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByRole("button", { name: "Log in" }).waitFor();
      await page.goto(`${server.url}/admin/usage`);
      expect(new URL(page.url()).pathname).toBe("/admin/login");
    },
    120_000,
  );
});
