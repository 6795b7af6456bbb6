// A citizen's first visit, in a real browser: search the catalogue without
// diacritics, open a procedure, switch to English, and check every page
// against WCAG 2.1 A and AA with axe-core. Runs `egov demo` (the debug build
// made by `cargo nextest`) on a free port with a fresh data folder.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const egov = process.env.EGOV_BIN ?? join(root, "target", "debug", "egov");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let server, browser, base, dataDir;
const cspViolations = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitReady(url) {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`egov demo did not become ready at ${url}`);
}

before(async () => {
  const port = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), "egov-browser-"));
  server = spawn(egov, ["demo", "--port", String(port), "--data", dataDir], { stdio: "ignore" });
  base = `http://localhost:${port}`;
  await waitReady(`${base}/readyz`);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function newPage() {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  return page;
}

async function expectAccessible(page, name) {
  // The CSP forbids inline scripts, so axe is evaluated through the
  // DevTools protocol rather than injected as a <script> tag.
  const hasAxe = await page.evaluate(() => typeof window.axe !== "undefined");
  if (!hasAxe) await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  );
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(summary, [], `${name} has accessibility violations`);
}

test("a citizen finds a procedure without typing diacritics and switches to English", async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  assert.equal(await page.getAttribute("html", "lang"), "vi");
  await expectAccessible(page, "home page");

  await page.getByLabel("Tìm thủ tục").fill("dang ky khai sinh");
  await page.getByLabel("Tìm thủ tục").press("Enter");
  await page.waitForURL(/\/procedures\?q=dang/);
  const first = page.locator(".results li h2 a").first();
  assert.equal(await first.textContent(), "Đăng ký khai sinh");
  await expectAccessible(page, "results page");

  await first.click();
  await page.waitForURL(/\/procedures\/1\.001193$/);
  assert.equal(await page.locator("h1").textContent(), "Đăng ký khai sinh");
  assert.ok(await page.getByRole("link", { name: "Nộp hồ sơ trực tuyến" }).isVisible());
  await expectAccessible(page, "procedure page");

  await page.getByRole("button", { name: "Chuyển ngôn ngữ: English" }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.equal(await page.locator("h1").textContent(), "Birth registration");
  assert.ok(await page.getByRole("link", { name: "Apply online" }).isVisible());
  await expectAccessible(page, "procedure page in English");

  // The choice persists across pages.
  await page.goto(`${base}/procedures?online=full`);
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.ok(await page.getByRole("heading", { name: "Procedures" }).isVisible());
  await page.context().close();
});

test("the first Tab reaches a visible skip link that moves focus to the content", async () => {
  const page = await newPage();
  await page.goto(`${base}/procedures`);
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  assert.equal(focused, "Chuyển đến nội dung chính");
  const box = await page.locator(".skip-link").boundingBox();
  assert.ok(box && box.y >= 0, "the focused skip link is on screen");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
  await page.context().close();
});

test("no page breaks its own content security policy", () => {
  assert.deepEqual(cspViolations, []);
});
