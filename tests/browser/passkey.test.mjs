// Passkeys in a real browser, with Chromium's virtual authenticator (a
// platform authenticator that verifies the user): a citizen adds a passkey
// in "my account", signs in to a relying party with it and no password,
// uses it as the second step after a password, and removes it.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
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

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

async function signInWithPassword(page) {
  await page.getByLabel("Số định danh cá nhân hoặc thư điện tử").fill("001090012345");
  await page.getByLabel("Mật khẩu", { exact: true }).fill("Hoa-sen-no-2026");
  await page.getByRole("button", { name: "Đăng nhập", exact: true }).click();
  await page.waitForLoadState("load");
}

/** Sends the browser to demo-rp's authorization request; returns the PKCE verifier. */
async function authorize(page) {
  const { verifier, challenge } = pkce();
  const params = new URLSearchParams({
    response_type: "code", client_id: "demo-rp", redirect_uri: callback, scope: "openid profile",
    state: "passkey-journey", nonce: "n", code_challenge: challenge, code_challenge_method: "S256",
  });
  await page.goto(`${demo.base}/oauth/authorize?${params}`);
  return verifier;
}

/** Waits for the relying party's callback; redeems the code; returns the ID token's claims. */
async function redeem(page, returned, verifier) {
  await page.waitForURL(`${callback}**`);
  const code = new URL(returned.at(-1)).searchParams.get("code");
  assert.ok(code, "the browser came back with a code");
  const tokens = await fetch(`${demo.base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callback, client_id: "demo-rp", code_verifier: verifier }),
  }).then((response) => response.json());
  assert.ok(tokens.id_token, JSON.stringify(tokens));
  return claims(tokens.id_token);
}

test("a citizen adds a passkey, signs in with it without a password, uses it as a second step, and removes it", async () => {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  const violations = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  // The relying party's callback is a real listener here: with the
  // virtual authenticator attached, Chromium sends some redirected
  // navigations to the network before Playwright's routing sees them.
  const returned = [];
  const relyingParty = createServer((request, response) => {
    // Only the callback: the browser also asks for /favicon.ico.
    if (request.url.startsWith("/callback")) returned.push(new URL(request.url, callback).href);
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<title>RP</title><p>back at the relying party</p>");
  });
  await new Promise((resolve) => relyingParty.listen(8400, "127.0.0.1", resolve));

  // The device: a platform authenticator that holds discoverable
  // credentials and verifies its user (a PIN or a fingerprint).
  const devtools = await context.newCDPSession(page);
  await devtools.send("WebAuthn.enable");
  const { authenticatorId } = await devtools.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  // My account: sign in with the password, add a passkey.
  await page.goto(`${demo.base}/account`);
  await signInWithPassword(page);
  assert.equal(await page.locator("h1").textContent(), "Tài khoản của tôi");
  assert.match(await page.locator("main").textContent(), /Bạn chưa có khóa truy cập nào/);
  await page.getByLabel("Tên khóa (để bạn nhận ra thiết bị)").fill("Điện thoại của An");
  await page.getByRole("button", { name: "Thêm khóa truy cập" }).click();
  await page.waitForURL(/done=passkey_added/);
  assert.match(await page.getByRole("status").textContent(), /Đã thêm khóa truy cập/);
  assert.match(await page.locator("li.passkey").textContent(), /Điện thoại của An/);
  const { credentials } = await devtools.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, "the passkey is discoverable");
  await expectAccessible(page, "my account with a passkey");

  // Sign out, then sign in to a relying party with the passkey alone.
  await page.goto(`${demo.base}/oauth/logout`);
  let verifier = await authorize(page);
  assert.equal(await page.locator("h1").textContent(), "Đăng nhập");
  await expectAccessible(page, "sign-in page offering a passkey");
  await page.getByRole("button", { name: "Đăng nhập bằng khóa truy cập (passkey)" }).click();
  await page.waitForURL(/\/oauth\/authorize\/passkey$/);
  assert.equal(await page.locator("h1").textContent(), "Cho phép chia sẻ thông tin");
  await page.getByRole("button", { name: "Đồng ý" }).click();
  let idToken = await redeem(page, returned, verifier);
  assert.equal(idToken.acr, "2", "a verified passkey is two factors");
  assert.deepEqual(idToken.amr, ["hwk", "mfa"]);

  // With a passkey set up, a password sign-in asks for it as the second step.
  await page.goto(`${demo.base}/oauth/logout`);
  verifier = await authorize(page);
  await signInWithPassword(page);
  assert.equal(await page.locator("h1").textContent(), "Xác thực hai yếu tố");
  await expectAccessible(page, "second step with a passkey");
  await page.getByRole("button", { name: "Xác thực bằng khóa truy cập (passkey)" }).click();
  idToken = await redeem(page, returned, verifier);
  assert.equal(idToken.acr, "2");
  assert.deepEqual(idToken.amr, ["pwd", "hwk"]);

  // Remove it in my account: the list is empty again.
  await page.goto(`${demo.base}/account`);
  await page.getByRole("button", { name: /^Gỡ/ }).click();
  await page.waitForURL(/done=passkey_removed/);
  assert.match(await page.getByRole("status").textContent(), /Đã gỡ khóa truy cập/);
  assert.equal(await page.locator("li.passkey").count(), 0);

  assert.deepEqual(violations, []);
  await context.close();
  relyingParty.close();
});
