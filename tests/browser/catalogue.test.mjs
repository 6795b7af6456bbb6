// A citizen's first visit, in a real browser: search the catalogue without
// diacritics, open a procedure, switch to English, and check every page
// against WCAG 2.1 A and AA with axe-core. Runs `egov demo` (the debug build
// made by `cargo nextest`) on a free port with a fresh data folder.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, expectAccessible } from "./support.mjs";

let demo, browser, base;
const cspViolations = [];

before(async () => {
  demo = await startDemo();
  base = demo.base;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  demo?.stop();
});

async function newPage() {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  return page;
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
