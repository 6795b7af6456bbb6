// Self-service in a real browser: a citizen registers, follows the
// verification link from the demo's mailbox (mail went over SMTP to the
// demo's sink), signs into "my account", forgets the password and resets it
// with the e-mailed link. Every page is checked with axe-core.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, expectAccessible } from "./support.mjs";

let demo, browser;

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  demo?.stop();
});

/** Waits for the demo's job worker to deliver a mail with `subject`; returns its link to `path`. */
async function linkFromMailbox(page, subject, path) {
  for (let attempt = 0; attempt < 40; attempt++) {
    await page.goto(`${demo.base}/demo/mailbox`);
    const mail = page.locator("article.mail", { hasText: subject }).first();
    if (await mail.count()) {
      return mail.locator(`a[href*="${path}"]`).first().getAttribute("href");
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no mail "${subject}" in the demo mailbox`);
}

async function signIn(page, login, password) {
  await page.getByLabel("Số định danh cá nhân hoặc thư điện tử").fill(login);
  await page.getByLabel("Mật khẩu", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Đăng nhập", exact: true }).click();
  await page.waitForLoadState("load");
}

test("a citizen registers, verifies the address from the mail, and manages the account", async () => {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  const password = "Trong-dam-gi-dep-bang-sen";

  await page.goto(`${demo.base}/account/register`);
  assert.equal(await page.locator("h1").textContent(), "Đăng ký tài khoản công dân");
  await expectAccessible(page, "registration page");

  // A mistake is reported next to its field, and the form keeps what was typed.
  await page.getByLabel("Số định danh cá nhân").fill("0011950");
  await page.getByLabel("Họ và tên").fill("Đỗ Thị Lan");
  await page.getByLabel("Thư điện tử").fill("lan.do@example.vn");
  await page.getByLabel("Mật khẩu mới").fill(password);
  await page.getByLabel("Nhập lại mật khẩu").fill(password);
  await page.getByRole("button", { name: "Đăng ký" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.getByRole("alert").textContent(), /12 chữ số/);
  assert.equal(await page.getByLabel("Họ và tên").inputValue(), "Đỗ Thị Lan");
  await expectAccessible(page, "registration page with errors");

  await page.getByLabel("Số định danh cá nhân").fill("001195001234");
  await page.getByLabel("Mật khẩu mới").fill(password);
  await page.getByLabel("Nhập lại mật khẩu").fill(password);
  await page.getByRole("button", { name: "Đăng ký" }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.locator("h1").textContent(), "Kiểm tra hộp thư của bạn");

  const verifyLink = await linkFromMailbox(page, "Xác minh địa chỉ thư điện tử", "/account/verify");
  await expectAccessible(page, "demo mailbox");
  await page.goto(verifyLink);
  await expectAccessible(page, "verification page");
  await page.getByRole("button", { name: "Xác minh" }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.locator("h1").textContent(), "Đã xác minh thư điện tử");

  // "My account" sends the visitor through the sign-in page and back.
  await page.goto(`${demo.base}/account`);
  assert.equal(await page.locator("h1").textContent(), "Đăng nhập");
  await signIn(page, "001195001234", password);
  assert.equal(await page.locator("h1").textContent(), "Tài khoản của tôi");
  assert.equal(await page.locator("#profile-name").textContent(), "Đỗ Thị Lan");
  assert.equal(await page.locator("tr.session").count(), 1);
  await expectAccessible(page, "account page");

  await page.getByRole("button", { name: "Đăng xuất" }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.locator("h1").textContent(), "Bạn đã đăng xuất");
  await context.close();
});

test("a citizen who forgot the password resets it with the e-mailed link", async () => {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  const password = "Ca-dao-tuc-ngu-Viet-Nam";

  await page.goto(`${demo.base}/account`);
  await page.getByRole("link", { name: "Quên mật khẩu?" }).click();
  await page.waitForLoadState("load");
  await expectAccessible(page, "forgotten password page");
  await page.getByLabel("Số định danh cá nhân hoặc thư điện tử").fill("001090012345");
  await page.getByRole("button", { name: "Gửi đường dẫn" }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.locator("h1").textContent(), "Đã gửi yêu cầu");

  const resetLink = await linkFromMailbox(page, "Đặt lại mật khẩu", "/account/reset");
  await page.goto(resetLink);
  await expectAccessible(page, "reset page");
  await page.getByLabel("Mật khẩu mới").fill(password);
  await page.getByLabel("Nhập lại mật khẩu").fill(password);
  await page.getByRole("button", { name: "Đặt lại mật khẩu" }).click();
  await page.waitForLoadState("load");
  assert.equal(await page.locator("h1").textContent(), "Đã đặt lại mật khẩu");

  await page.getByRole("link", { name: "Đăng nhập" }).click();
  await page.waitForLoadState("load");
  await signIn(page, "001090012345", "Hoa-sen-no-2026");
  assert.match(await page.getByRole("alert").textContent(), /không đúng/, "the old password still works");
  await signIn(page, "001090012345", password);
  assert.equal(await page.locator("h1").textContent(), "Tài khoản của tôi");
  await context.close();
});
