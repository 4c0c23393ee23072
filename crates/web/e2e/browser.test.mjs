// facepay's pages in a real Chromium (Debian's, driven by Playwright) against a running
// `facepay serve`: a person enrolls on the enrollment page through the fake camera, the kiosk
// pays with another photo of them and shows the approval, a stranger is declined (and the
// shopper's payment code, shown as a QR code on their page, pays instead), and the
// operator console shows the payment. Every page is checked at 800x1280 and 1280x800, and no
// page may send a request to any host but the switch. Screenshots go to SCREENSHOT_DIR.
//
// Environment: FACEPAY_URL, FACEPAY_OPERATOR_KEY, SCREENSHOT_DIR, and the fake camera videos
// ENROLL_Y4M, PAY_Y4M, STRANGER_Y4M (see y4m.py); PERSON_NAME and PERSON_PHONE for the shopper.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} must be set`);
  return value;
};
const base = env("FACEPAY_URL");
const operatorKey = env("FACEPAY_OPERATOR_KEY");
const shots = env("SCREENSHOT_DIR");
const personName = env("PERSON_NAME");
const personPhone = env("PERSON_PHONE");
const PIN = "271828";
const ORIENTATIONS = { portrait: { width: 800, height: 1280 }, landscape: { width: 1280, height: 800 } };
const offHost = [];

// The flags Chromium needs on a machine without a network, plus the fake camera.
function chromiumArgs(video) {
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"];
  if (video) {
    args.push("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
      `--use-file-for-fake-video-capture=${video}`);
  }
  return args;
}

/// A browser profile in `dir` (kept, so a kiosk keeps its key across restarts) with `video` as camera.
async function browser(dir, video) {
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium", args: chromiumArgs(video), viewport: ORIENTATIONS.portrait,
  });
  await context.grantPermissions(["camera"], { origin: base });
  const page = context.pages()[0] || (await context.newPage());
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (["http:", "https:", "ws:", "wss:"].includes(url.protocol) && url.origin !== new URL(base).origin) {
      offHost.push(request.url());
    }
  });
  page.on("pageerror", (error) => { throw new Error(`a page script failed: ${error.message}`); });
  return { context, page };
}

/// Screenshots of the page as it stands, in both orientations, after checking that nothing
/// spills sideways and every visible button fits the width.
async function snap(page, name) {
  for (const [orientation, size] of Object.entries(ORIENTATIONS)) {
    await page.setViewportSize(size);
    const fits = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const overflowing = [...document.querySelectorAll("button, input, .keypad, .camera")]
        .filter((e) => e.offsetParent !== null)
        .filter((e) => { const r = e.getBoundingClientRect(); return r.left < -1 || r.right > width + 1; })
        .map((e) => e.id || e.textContent.trim().slice(0, 20));
      return { scroll: document.documentElement.scrollWidth <= width + 1, overflowing };
    });
    assert.ok(fits.scroll && fits.overflowing.length === 0, `${name} (${orientation}) spills: ${JSON.stringify(fits)}`);
    await page.screenshot({ path: join(shots, `${name}-${orientation}.png`), fullPage: true });
  }
  await page.setViewportSize(ORIENTATIONS.portrait);
}

async function api(method, path, key, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

const visible = (page, selector) => page.locator(selector).waitFor({ state: "visible", timeout: 30_000 });

/// Waits until one of the screens `ids` shows, and says which.
async function nextScreen(page, ids) {
  const shown = await page.waitForFunction(
    (ids) => ids.find((id) => !document.getElementById(id).hidden), ids, { timeout: 30_000 });
  return shown.jsonValue();
}

async function keyIn(page, pad, digits) {
  for (const digit of digits) await page.click(`${pad} button[data-key="${digit}"]`);
}

/// From the camera screen to a verdict, answering the phone digits with `digits` if asked.
async function payByFace(page, amountDigits, digits) {
  await keyIn(page, "#amount-keypad", amountDigits);
  await page.click("#pay-face");
  await visible(page, "#camera");
  await page.waitForFunction(() => document.querySelector("#video").videoWidth > 0);
  await page.click("#capture");
  let next = await nextScreen(page, ["digits", "pin", "result"]);
  if (next === "digits") {
    await snap(page, "kiosk-phone-digits");
    await keyIn(page, "#digits-keypad", digits);
    next = await nextScreen(page, ["pin", "result"]);
  }
  if (next === "pin") {
    await snap(page, "kiosk-pin");
    await keyIn(page, "#pin-keypad", PIN);
  }
  await nextScreen(page, ["result"]);
  return { verdict: await page.textContent("#verdict"), detail: await page.textContent("#verdict-detail") };
}

const profiles = mkdtempSync(join(tmpdir(), "facepay-browsers-"));
let paymentCode = "";

// The merchant and its terminal, through the API as their own tools would.
const merchant = await api("POST", "/v1/operator/merchants", operatorKey, { risk: "low", acquirer: 1 });
const registered = await api("POST", "/v1/merchant/terminals", merchant.api_key);

// 1. Enrollment, with the enrollment photo as the camera.
{
  const { context, page } = await browser(join(profiles, "shopper"), env("ENROLL_Y4M"));
  await page.goto(`${base}/enroll`);
  await visible(page, "#consent");
  await snap(page, "enroll-consent");
  await page.fill("#name", personName.replaceAll("_", " "));
  await page.fill("#phone", personPhone);
  await page.check("#agree");
  await page.click("#signup-form button[type=submit]");
  await visible(page, "#face");
  await page.waitForFunction(() => document.querySelector("#video").videoWidth > 0);
  await snap(page, "enroll-camera");
  await page.click("#enroll-capture");
  await page.waitForFunction(
    () => !document.querySelector("#bank").hidden || document.querySelector("#face-error").textContent !== "",
    null, { timeout: 30_000 });
  assert.ok(await page.locator("#bank").isVisible(), `enrollment refused: ${await page.textContent("#face-hint")}`);
  await snap(page, "enroll-bank");
  await page.click("#bank-skip");
  await visible(page, "#pin");
  await page.fill("#pin-input", PIN);
  await page.click("#pin-form button[type=submit]");
  await visible(page, "#account");
  // Money for the wallet, as a bank transfer would bring it.
  const shopperKey = await page.evaluate(() => localStorage.getItem("facepay-shopper-key"));
  const me = await api("GET", "/v1/shopper", shopperKey);
  await api("POST", "/v1/operator/top-ups", operatorKey,
    { account: me.wallets[0].account, amount_minor: 20_000, top_up_id: "browser-test" });
  await page.reload();
  await visible(page, "#account");
  await snap(page, "enroll-account");
  // The payment code, for when the face does not work: digits and a QR image.
  await page.click("#payment-code");
  await visible(page, "#code-qr");
  await page.waitForFunction(() => document.querySelector("#code-qr").naturalWidth > 0);
  paymentCode = (await page.textContent("#code-digits")).replaceAll(" ", "");
  assert.match(paymentCode, /^[0-9]{18}$/);
  await snap(page, "enroll-payment-code");
  await context.close();
}

// 2. The kiosk: activation, then the person pays with another photo of themselves.
const kioskProfile = join(profiles, "kiosk");
{
  const { context, page } = await browser(kioskProfile, env("PAY_Y4M"));
  await page.goto(`${base}/kiosk`);
  await visible(page, "#activate");
  await snap(page, "kiosk-activation");
  await page.fill("#terminal-id", registered.terminal_id);
  await page.fill("#activation-code", registered.activation_code);
  await page.click("#activate-form button[type=submit]");
  await visible(page, "#amount");
  await snap(page, "kiosk-amount");
  const paid = await payByFace(page, "1250", personPhone);
  await snap(page, "kiosk-approved");
  assert.equal(paid.verdict, "Approved", `the enrolled person was not approved: ${JSON.stringify(paid)}`);
  const masked = personName.split("_").map((w) => w[0] + "*".repeat(w.length - 1)).join(" ");
  assert.ok(paid.detail.includes(masked), `the kiosk shows the masked name: ${paid.detail}`);
  assert.ok(!paid.detail.includes(personName.split("_")[0]), "never the full name");
  await context.close();
}

// 3. The same kiosk after a restart (its key kept in the browser), with a stranger's face.
{
  const { context, page } = await browser(kioskProfile, env("STRANGER_Y4M"));
  await page.goto(`${base}/kiosk`);
  await visible(page, "#amount");
  const stranger = await payByFace(page, "990", "0000");
  await snap(page, "kiosk-stranger-declined");
  assert.equal(stranger.verdict, "Declined", `a stranger was not declined: ${JSON.stringify(stranger)}`);
  // The enrolled shopper's payment code pays where a face did not (it lives a minute).
  await page.click("#show-code");
  await visible(page, "#code");
  await page.fill("#code-input", paymentCode);
  await page.click("#code-form button[type=submit]");
  await nextScreen(page, ["result"]);
  assert.equal(await page.textContent("#verdict"), "Approved", await page.textContent("#verdict-detail"));
  await snap(page, "kiosk-paid-by-code");
  await context.close();
}

// 4. The operator console: nothing without the key; with it, the payment on the dashboard.
{
  const { context, page } = await browser(join(profiles, "operator"));
  await page.goto(`${base}/console`);
  await visible(page, "#sign-in");
  assert.equal(await page.locator("#dashboard").isVisible(), false, "no view without signing in");
  await page.fill("#operator-key", "fpk_wrong");
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#sign-in-error").textContent !== "");
  await snap(page, "console-sign-in");
  await page.fill("#operator-key", operatorKey);
  await page.click("#sign-in-form button[type=submit]");
  await visible(page, "#dashboard");
  await page.waitForFunction(() => document.querySelectorAll("#recent tr").length >= 2);
  const recent = await page.textContent("#recent");
  assert.ok(recent.includes("captured") && recent.includes("12.50"), `the dashboard lists the payment: ${recent}`);
  assert.ok(recent.includes("declined"), `and the stranger's decline: ${recent}`);
  await snap(page, "console-dashboard");
  await page.click('#tabs [data-tab="merchants"]');
  await page.waitForFunction(() => document.querySelectorAll("#merchant-rows tr").length >= 1);
  await snap(page, "console-merchants");
  await page.click('#tabs [data-tab="audit"]');
  await page.waitForFunction(() => document.querySelectorAll("#audit-rows tr").length >= 1);
  const audit = await page.textContent("#audit-rows");
  assert.ok(audit.includes("enrollment") && audit.includes("identification"), "the audit log shows both");
  await snap(page, "console-audit");
  await context.close();
}

assert.deepEqual(offHost, [], "no page may call another host");
console.log(`browser tests passed; screenshots in ${shots}`);
