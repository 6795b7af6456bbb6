// The one-stop journeys in a real browser, without JavaScript on our side:
// a citizen signs in through the central sign-in, fills the e-form with its
// documents, submits and pays the fee through the payment gateway
// (simulated); the one-stop desk (an official, second factor enrolled on
// the way) asks for a supplement, the citizen answers it, the desk receives
// the dossier, a specialist forwards it, the leader approves and signs, the
// desk returns the result (after a transfer to another commune and back);
// the citizen downloads the signed result, checks
// it on the verification page and rates the service. Every page of ours is
// checked with axe-core and for CSP violations.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startDemo, launchBrowser, expectAccessible } from "./support.mjs";

let demo, browser;
const password = "Hoa-sen-no-2026";

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  demo?.stop();
});

// RFC 6238 TOTP (SHA-1, 30 s, 6 digits), as an authenticator app computes it.
function totp(base32) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}

async function newPage() {
  const context = await browser.newContext({ locale: "vi-VN" });
  const page = await context.newPage();
  const violations = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return { page, violations };
}

async function signIn(page, login) {
  await page.getByLabel("Số định danh cá nhân hoặc thư điện tử").fill(login);
  await page.getByLabel("Mật khẩu").fill(password);
  await page.getByRole("button", { name: "Đăng nhập", exact: true }).click();
  await page.waitForLoadState("load");
  const secret = page.locator("#totp-secret");
  if (await secret.count()) {
    // Officials must use two factors: enrol an authenticator app.
    await page.getByLabel("Mã xác thực").fill(totp((await secret.textContent()).trim()));
    await page.getByRole("button", { name: "Xác nhận" }).click();
    await page.waitForLoadState("load");
    await page.getByRole("link", { name: "Tiếp tục" }).click();
    await page.waitForLoadState("load");
  }
}

const pdf = (name) => ({ name, mimeType: "application/pdf", buffer: Buffer.from(`%PDF-1.7\n% ${name}\n%%EOF\n`) });

async function act(page, button, note) {
  if (note) await page.getByLabel("Nội dung, lý do").fill(note);
  await page.getByRole("button", { name: button, exact: true }).click();
  await page.waitForLoadState("load");
  assert.match(await page.getByRole("status").textContent(), /Đã cập nhật hồ sơ/);
}

test("a citizen applies online and the agency takes the dossier to its result", async () => {
  const citizen = await newPage();
  let page = citizen.page;
  await page.goto(`${demo.base}/procedures/2.000815`);
  await page.getByRole("link", { name: "Nộp hồ sơ trực tuyến" }).click();
  assert.equal(await page.locator("h1").textContent(), "Đăng nhập để nộp hồ sơ");
  await expectAccessible(page, "sign in to apply");
  await page.getByRole("link", { name: "Đăng nhập" }).click();
  await signIn(page, "001090012345");
  assert.equal(await page.locator("h1").textContent(), "Nộp hồ sơ trực tuyến");
  await expectAccessible(page, "e-form");

  // A first try without the documents, and with a ward of Hà Nội under
  // Bắc Ninh, comes back with the problems listed and what was typed kept.
  await page.getByLabel("Cơ quan giải quyết").selectOption("000.00.01.H24");
  await page.getByLabel("Tỉnh, thành phố").selectOption("24");
  await page.getByLabel("Xã, phường, đặc khu").fill("Phường Ba Đình");
  await page.getByLabel("Số nhà, đường, thôn, tổ").fill("12 Nguyễn Trãi");
  await page.getByLabel("Nội dung yêu cầu").fill("Chứng thực 2 bản sao giấy khai sinh");
  await page.getByLabel(/Tôi cam đoan/).check();
  await page.getByRole("button", { name: "Nộp hồ sơ" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.getByRole("alert").textContent(), /Thiếu thành phần hồ sơ bắt buộc/);
  assert.equal(await page.getByLabel("Số nhà, đường, thôn, tổ").inputValue(), "12 Nguyễn Trãi");
  assert.match(await page.getByRole("alert").textContent(), /Không có xã, phường, đặc khu này/);
  // The suggestions are now the chosen province's communes.
  const suggestions = page.locator("datalist option");
  assert.equal(await suggestions.count(), 99, "Bắc Ninh's 99 communes and wards");
  await expectAccessible(page, "e-form with problems");
  await page.getByLabel("Xã, phường, đặc khu").fill("phuong kinh bac");

  await page.getByLabel(/Bản chính giấy tờ/).setInputFiles(pdf("ban-chinh.pdf"));
  await page.getByLabel(/Bản sao cần chứng thực/).setInputFiles(pdf("ban-sao.pdf"));
  await page.getByRole("button", { name: "Nộp hồ sơ" }).click();
  await page.waitForLoadState("load");
  const notice = await page.getByRole("status").textContent();
  const code = notice.match(/(\S+-\d{6}-\d{4,})/)[1];
  assert.match(await page.locator("dl.facts").first().textContent(), /Chờ tiếp nhận/);
  await expectAccessible(page, "the submitted dossier");

  // The fee (2.000 đồng) through the payment gateway, or a VietQR transfer.
  assert.match(await page.locator("#payment-title").textContent(), /Thanh toán phí/);
  assert.equal(await page.locator(".vietqr svg[role=img]").count(), 1);
  await page.getByRole("button", { name: "Thanh toán qua cổng thanh toán" }).click();
  await page.waitForLoadState("load");
  assert.match(page.url(), /\/vnpay\/pay\?/);
  await page.getByRole("button", { name: "Thanh toán", exact: true }).click();
  await page.waitForURL(/paid=1/);
  assert.match(await page.getByRole("status").textContent(), /Đã nhận kết quả thanh toán/);
  assert.equal(await page.locator("#payment-title").count(), 0, "nothing more is due");

  // The desk receives it.
  const desk = await newPage();
  await desk.page.goto(`${demo.base}/back-office`);
  await signIn(desk.page, "024185004321");
  assert.equal(await desk.page.locator("h1").textContent(), "Hồ sơ của cơ quan");
  await expectAccessible(desk.page, "back-office queue");
  await desk.page.getByRole("link", { name: code }).click();
  await expectAccessible(desk.page, "back-office dossier");
  await act(desk.page, "Yêu cầu bổ sung", "Bản sao chưa rõ nét, đề nghị tải lại");

  // The citizen answers the supplement request.
  await page.goto(`${demo.base}/portal/dossiers/${code}`);
  assert.match(await page.locator(".timeline").textContent(), /Bản sao chưa rõ nét/);
  await expectAccessible(page, "a dossier awaiting supplement");
  await page.getByLabel(/Bản sao cần chứng thực/).setInputFiles(pdf("ban-sao-ro-net.pdf"));
  await page.getByLabel("Nội dung, lý do").fill("Đã tải lại bản sao rõ nét");
  await page.getByRole("button", { name: "Bổ sung hồ sơ" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("dl.facts").first().textContent(), /Chờ tiếp nhận/);

  await desk.page.reload();
  await act(desk.page, "Tiếp nhận");
  await desk.page.getByRole("link", { name: "Phiếu tiếp nhận và hẹn trả kết quả" }).click();
  assert.match(await desk.page.locator("h1").textContent(), /Mẫu số 01/);
  await expectAccessible(desk.page, "Form 01");

  // The leader gives it to a specialist of the specialist division, who
  // reviews and forwards it; the leader approves and signs.
  const leader = await newPage();
  await leader.page.goto(`${demo.base}/back-office/dossiers/${code}`);
  await signIn(leader.page, "024179001122");
  assert.match(await leader.page.locator("main").textContent(), /Bộ phận:\s*Phòng chuyên môn/);
  await leader.page.getByLabel("Giao cho cán bộ").selectOption({ label: "Lê Văn Cường — Phòng chuyên môn" });
  await leader.page.getByRole("button", { name: "Giao xử lý" }).click();
  await leader.page.waitForLoadState("load");
  assert.match(await leader.page.locator("main").textContent(), /Người xử lý:\s*Lê Văn Cường/);
  await expectAccessible(leader.page, "a dossier assigned by the leader");
  const specialist = await newPage();
  await specialist.page.goto(`${demo.base}/back-office?mine=1&queue=all`);
  await signIn(specialist.page, "024088007654");
  await specialist.page.getByRole("link", { name: code }).click();
  assert.match(await specialist.page.locator("main").textContent(), /Người xử lý:\s*Lê Văn Cường/);
  // Liên thông: the Tiên Du commune checks its part and hands it back.
  await specialist.page.getByLabel("Chuyển đến cơ quan").selectOption("000.00.02.H24");
  await act(specialist.page, "Chuyển liên thông", "Đề nghị xác minh nơi cư trú");
  const other = await newPage();
  await other.page.goto(`${demo.base}/back-office?queue=processing`);
  await signIn(other.page, "024191002233");
  await other.page.getByRole("link", { name: code }).click();
  await expectAccessible(other.page, "a transferred dossier at the other agency");
  await act(other.page, "Trả hồ sơ liên thông", "Đã xác minh, thông tin cư trú đúng");
  await specialist.page.reload();
  await act(specialist.page, "Chuyển bước tiếp", "Hồ sơ đầy đủ, đề nghị phê duyệt");
  await leader.page.goto(`${demo.base}/back-office/dossiers/${code}`);
  await act(leader.page, "Phê duyệt");
  await act(leader.page, "Ký kết quả");
  await desk.page.goto(`${demo.base}/back-office/dossiers/${code}`);
  await act(desk.page, "Trả kết quả");
  await desk.page.getByRole("link", { name: "Phiếu kiểm soát quá trình giải quyết" }).click();
  assert.match(await desk.page.locator("table").textContent(), /Phê duyệt/);
  await expectAccessible(desk.page, "Form 06");

  // The citizen sees the result returned, with the signed result document
  // (rendered by a background job), and checks it.
  await page.goto(`${demo.base}/portal/dossiers/${code}`);
  assert.match(await page.locator("dl.facts").first().textContent(), /Đã trả kết quả/);
  for (let attempt = 0; (await page.getByRole("link", { name: /Tải văn bản kết quả/ }).count()) === 0; attempt++) {
    assert.ok(attempt < 40, "the result document was rendered");
    await new Promise((resolve) => setTimeout(resolve, 250));
    await page.reload();
  }
  await expectAccessible(page, "the returned dossier");
  const download = await fetch(new URL(await page.getByRole("link", { name: /Tải văn bản kết quả/ }).getAttribute("href"), demo.base), {
    headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ") },
  });
  assert.equal(download.headers.get("content-type"), "application/pdf");
  const signed = Buffer.from(await download.arrayBuffer());
  assert.equal(signed.subarray(0, 5).toString(), "%PDF-");
  await page.getByRole("link", { name: "Kiểm tra tính xác thực" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.getByRole("status").first().textContent(), /Văn bản xác thực, còn hiệu lực/);
  await expectAccessible(page, "the verification page");
  await page.getByLabel("Tệp kết quả (PDF)").setInputFiles({ name: "ket-qua.pdf", mimeType: "application/pdf", buffer: signed });
  await page.getByRole("button", { name: "Kiểm tra", exact: true }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator("main").textContent(), /Tệp bạn chọn đúng là văn bản đã ký này/);
  await page.goto(`${demo.base}/portal/dossiers/${code}`);
  await page.getByLabel("5", { exact: true }).check();
  await page.getByRole("button", { name: "Gửi đánh giá" }).click();
  await page.waitForLoadState("load");
  assert.match(await page.locator(".timeline").textContent(), /5\/5/);

  for (const who of [citizen, desk, specialist, other, leader]) assert.deepEqual(who.violations, []);
});
