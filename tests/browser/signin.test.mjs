// Central sign-in in a real browser: a relying party sends the citizen to
// the provider, the citizen signs in, the browser returns to the relying
// party with a code; RP-initiated logout ends the session. The relying
// party's callback is intercepted by the browser (no server listens there).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { startDemo, launchBrowser, expectAccessible } from "./support.mjs";

let demo, browser;
const callback = "http://127.0.0.1:8400/callback";

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  demo?.stop();
});

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

test("a citizen signs in through the provider, returns with a code, and signs out", async () => {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  const violations = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  const returned = [];
  await page.route(`${callback}**`, async (route) => {
    returned.push(route.request().url());
    await route.fulfill({ status: 200, contentType: "text/html", body: "<title>RP</title><p>back at the relying party</p>" });
  });

  const { verifier, challenge } = pkce();
  const params = new URLSearchParams({
    response_type: "code", client_id: "demo-rp", redirect_uri: callback, scope: "openid profile",
    state: "journey-state", nonce: "journey-nonce", code_challenge: challenge, code_challenge_method: "S256",
  });
  await page.goto(`${demo.base}/oauth/authorize?${params}`);
  assert.equal(await page.locator("h1").textContent(), "Đăng nhập");
  await expectAccessible(page, "sign-in page");

  // A wrong password keeps the citizen on the page with an error.
  await page.getByLabel("Số định danh cá nhân hoặc thư điện tử").fill("001090012345");
  await page.getByLabel("Mật khẩu").fill("not the password");
  await page.getByRole("button", { name: "Đăng nhập", exact: true }).click();
  await page.waitForLoadState("load");
  assert.match(await page.getByRole("alert").textContent(), /không đúng/);
  await expectAccessible(page, "sign-in page with an error");

  await page.getByLabel("Mật khẩu").fill("Hoa-sen-no-2026");
  await page.getByRole("button", { name: "Đăng nhập", exact: true }).click();
  await page.waitForLoadState("load");

  // The demo relying party is a third party: the citizen is asked, once,
  // what it may receive.
  assert.equal(await page.locator("h1").textContent(), "Cho phép chia sẻ thông tin");
  assert.match(await page.locator(".consent-scopes").textContent(), /Họ tên, ngày sinh, giới tính/);
  await expectAccessible(page, "consent page");
  await page.getByRole("button", { name: "Đồng ý" }).click();
  await page.waitForURL(`${callback}**`);
  const url = new URL(returned.at(-1));
  assert.equal(url.searchParams.get("state"), "journey-state");
  const code = url.searchParams.get("code");
  assert.ok(code, "the browser came back with a code");

  // The relying party redeems the code (a public client with PKCE).
  const tokens = await fetch(`${demo.base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callback, client_id: "demo-rp", code_verifier: verifier }),
  }).then((response) => response.json());
  assert.ok(tokens.id_token, JSON.stringify(tokens));

  // Signed in: a second authorization request needs no password. (Asked
  // through the context's request API, which shares the browser's cookies,
  // because the browser cannot intercept a redirect it follows itself.)
  const again = await context.request.get(`${demo.base}/oauth/authorize?${params}`, { maxRedirects: 0 });
  assert.equal(again.status(), 303);
  assert.ok(again.headers().location.startsWith(callback), again.headers().location);

  // Logout ends the session; the next request asks for the password again.
  await page.goto(`${demo.base}/oauth/logout`);
  assert.equal(await page.locator("h1").textContent(), "Bạn đã đăng xuất");
  await page.goto(`${demo.base}/oauth/authorize?${params}`);
  assert.equal(await page.locator("h1").textContent(), "Đăng nhập");
  assert.deepEqual(violations, []);
  await context.close();
});

test("a citizen signs in to the portal through the central sign-in and signs out of both", async () => {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  const violations = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  await page.goto(`${demo.base}/portal`);
  await expectAccessible(page, "portal, signed out");
  await page.getByRole("link", { name: "Đăng nhập", exact: true }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.locator("h1").textContent(), "Đăng nhập");
  await page.getByLabel("Số định danh cá nhân hoặc thư điện tử").fill("001090012345");
  await page.getByLabel("Mật khẩu").fill("Hoa-sen-no-2026");
  await page.getByRole("button", { name: "Đăng nhập", exact: true }).click();
  // The portal is a first-party client: no consent, straight back.
  await page.waitForURL(`${demo.base}/portal`);
  assert.match(await page.locator("#portal-user").textContent(), /Nguyễn Văn An/);
  await expectAccessible(page, "portal, signed in");

  await page.getByRole("button", { name: "Đăng xuất" }).click();
  await page.waitForURL(`${demo.base}/portal`);
  assert.equal(await page.locator("#portal-user").count(), 0, "signed out of the portal");
  await page.goto(`${demo.base}/account`);
  assert.equal(await page.locator("h1").textContent(), "Đăng nhập", "and out of the sign-in service");
  assert.deepEqual(violations, []);
  await context.close();
});
