// facepay's pages in a real Chromium (Debian's, driven by Playwright) against a running
// `facepay serve`: a person enrolls on the enrollment page through the fake camera, the kiosk
// pays with another photo of them and shows the approval, a stranger is declined (and the
// shopper's payment code, shown as a QR code on their page, pays instead), and the
// operator console shows the payment. Then the metro: the operator imports fare files and
// places two gates in the console; the person enters by face at one station and leaves by face
// at another, enters by payment code and leaves by face, and the day is one charge, on the
// shopper's page too. Last, a gate cut off from the switch lets the person in by the travel pass
// their page draws as a QR code (read back here with jsQR, as a scanner would), refuses their
// face and the same showing again, and uploads the passage once it is back; the journey out by
// face ends a day capped at 7.00. Every page is checked at 800x1280 and 1280x800, and no page may send a
// request to any host but the switch. Screenshots go to SCREENSHOT_DIR.
//
// Environment: FACEPAY_URL, FACEPAY_OPERATOR_KEY, SCREENSHOT_DIR, and the fake camera videos
// ENROLL_Y4M, PAY_Y4M, STRANGER_Y4M (see y4m.py); PERSON_NAME and PERSON_PHONE for the shopper.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jsQR from "jsqr";
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
let shopperKey = "";

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
  shopperKey = await page.evaluate(() => localStorage.getItem("facepay-shopper-key"));
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
  // The day's settlement: the merchant's acquirer is owed the payment, and its file downloads.
  await page.click('#tabs [data-tab="settlement"]');
  await page.waitForFunction(() => [...document.querySelectorAll("#settlement-rows tr")].some((row) => row.textContent.startsWith("acquirer-")));
  const acquirerRow = page.locator("#settlement-rows tr", { hasText: "acquirer-" }).first();
  const acquirerLine = await acquirerRow.textContent();
  assert.ok(acquirerLine.endsWith("yesCSVcamt.053"), `the acquirer's line equals the ledger: ${acquirerLine}`);
  assert.match(await page.textContent("#settlement-summary"), /the day's totals balance/);
  await snap(page, "console-settlement");
  const [csvFile] = await Promise.all([page.waitForEvent("download"), acquirerRow.locator("button", { hasText: "CSV" }).click()]);
  assert.match(csvFile.suggestedFilename(), /^facepay-settlement-\d{4}-\d{2}-\d{2}-acquirer-\d+\.csv$/);
  const csv = readFileSync(await csvFile.path(), "utf8");
  assert.ok(csv.startsWith("booking_date,") && csv.includes(",payment,credit,1250,EUR,"), `the acquirer's CSV: ${csv}`);
  const [camtFile] = await Promise.all([page.waitForEvent("download"), acquirerRow.locator("button", { hasText: "camt.053" }).click()]);
  const camt = readFileSync(await camtFile.path(), "utf8");
  assert.ok(camt.includes("camt.053.001.02") && camt.includes("<Amt Ccy=\"EUR\">12.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>"), camt);
  await context.close();
}

// 5. The metro: fares and gates from the console, then two journeys through the gate pages.
const FARE_FILES = {
  "networks.txt": "network_id,network_name\nmetro,Metro\n",
  "areas.txt": "area_id,area_name\nz1,Zone 1\nz2,Zone 2\n",
  "stop_areas.txt": "area_id,stop_id\nz1,central\nz2,harbour\n",
  "fare_products.txt": "fare_product_id,amount,currency\ninner,2.00,EUR\nacross,3.00,EUR\n",
  "fare_leg_rules.txt": "leg_group_id,network_id,from_area_id,to_area_id,fare_product_id\n" +
    "inner,metro,z1,z1,inner\ninner,metro,z2,z2,inner\nacross,metro,z1,z2,across\nacross,metro,z2,z1,across\n",
  "facepay_networks.txt": "network_id,maximum_fare,max_journey_minutes,currency\nmetro,6.00,120,EUR\n",
  "facepay_fare_caps.txt": "cap_id,network_id,rider_category_id,period,week_start_day,amount,currency\nday,,,day,,7.00,EUR\n",
};
const metro = await api("POST", "/v1/operator/merchants", operatorKey, { risk: "low", acquirer: 1 });
const central = await api("POST", "/v1/merchant/terminals", metro.api_key);
const harbour = await api("POST", "/v1/merchant/terminals", metro.api_key);
{
  const fareDir = mkdtempSync(join(tmpdir(), "facepay-fares-"));
  const files = Object.entries(FARE_FILES).map(([name, text]) => { writeFileSync(join(fareDir, name), text); return join(fareDir, name); });
  const { context, page } = await browser(join(profiles, "operator"));
  await page.goto(`${base}/console`);
  await visible(page, "#sign-in");
  await page.fill("#operator-key", operatorKey);
  await page.click("#sign-in-form button[type=submit]");
  await visible(page, "#dashboard");
  await page.click('#tabs [data-tab="transit"]');
  await visible(page, "#fares-form");
  await page.fill("#fares-merchant", metro.merchant_id);
  await page.setInputFiles("#fare-files", files);
  await page.fill("#fares-hold", "7.00");
  await page.fill("#entries-closed-from", "8");
  await page.click("#fares-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#fares-result").textContent !== "" ||
    document.querySelector("#transit-error").textContent !== "");
  assert.match(await page.textContent("#fares-result"), /metro/, await page.textContent("#transit-error"));
  for (const [gate, station] of [[central, "central"], [harbour, "harbour"]]) {
    await page.fill("#gate-terminal", gate.terminal_id);
    await page.fill("#gate-network", "metro");
    await page.fill("#gate-station", station);
    await page.click("#gate-form button[type=submit]");
    await page.waitForFunction((station) => document.querySelector("#gate-result").textContent.includes(station), station);
  }
  await snap(page, "console-transit");
  await context.close();
}

/// A gate page, activated, with the person's second photo as its camera.
async function gatePage(name, registered) {
  const opened = await browser(join(profiles, name), env("PAY_Y4M"));
  const { page } = opened;
  await page.goto(`${base}/gate`);
  await visible(page, "#activate");
  await page.fill("#terminal-id", registered.terminal_id);
  await page.fill("#activation-code", registered.activation_code);
  await page.click("#activate-form button[type=submit]");
  await visible(page, "#gate");
  await page.waitForFunction(() => document.querySelector("#video").videoWidth > 0);
  return opened;
}

/// The barrier's word after the rider presents themselves (`present` clicks what they show),
/// typing the phone digits when the gate asks for them.
async function passThrough(page, direction, present) {
  const answered = () => page.waitForFunction(() => !document.querySelector("#digits").hidden ||
    (!document.querySelector("#gate").hidden && document.querySelector("#gate-message").textContent !== ""),
  null, { timeout: 30_000 });
  const clearMessage = () => page.evaluate(() => { document.querySelector("#gate-message").textContent = ""; });
  await page.check(`#direction-${direction}`);
  await clearMessage();
  await present();
  await answered();
  if (await page.locator("#digits").isVisible()) {
    await snap(page, "gate-phone-digits");
    await page.fill("#digits-input", personPhone);
    await clearMessage();
    await page.click("#digits-form button[type=submit]");
    await page.waitForFunction(() => !document.querySelector("#gate").hidden &&
      document.querySelector("#gate-message").textContent !== "", null, { timeout: 30_000 });
  }
  return { barrier: await page.textContent("#barrier"), message: await page.textContent("#gate-message") };
}

/// When the rider entered harbour by code: a second entry there within a minute would be the same
/// passage read twice (one passage, one tap), so section 7 comes back later than that.
let codeEntryAt = 0;
{
  const atCentral = await gatePage("gate-central", central);
  const atHarbour = await gatePage("gate-harbour", harbour);
  await snap(atCentral.page, "gate-closed");
  const byFace = () => atCentral.page.click("#present-face");
  const entered = await passThrough(atCentral.page, "entry", byFace);
  assert.equal(entered.barrier, "Open", `the rider was not let in by face: ${entered.message}`);
  await snap(atCentral.page, "gate-open");
  const left = await passThrough(atHarbour.page, "exit", () => atHarbour.page.click("#present-face"));
  assert.equal(left.barrier, "Open", `the rider was not let out by face: ${left.message}`);
  await atHarbour.page.waitForFunction(() => document.querySelector("#fare").textContent !== "");
  assert.equal(await atHarbour.page.textContent("#fare"), "Today so far: 3.00 EUR");
  await snap(atHarbour.page, "gate-exit-fare");
  // Back by payment code at harbour, out by face at central: one journey whatever the media.
  const code = (await api("POST", "/v1/shopper/payment-code", shopperKey)).code;
  const byCode = await passThrough(atHarbour.page, "entry", async () => {
    await atHarbour.page.click("#present-code");
    await atHarbour.page.fill("#code-input", code);
    await atHarbour.page.click("#code-form button[type=submit]");
  });
  assert.equal(byCode.barrier, "Open", `the payment code did not open the gate: ${byCode.message}`);
  codeEntryAt = Date.now();
  const home = await passThrough(atCentral.page, "exit", () => atCentral.page.click("#present-face"));
  assert.equal(home.barrier, "Open", `the rider was not let out by face: ${home.message}`);
  await atCentral.page.waitForFunction(() => document.querySelector("#fare").textContent !== "");
  assert.equal(await atCentral.page.textContent("#fare"), "Today so far: 6.00 EUR");
  await atCentral.context.close();
  await atHarbour.context.close();
}

// 6. The day on the shopper's page: two journeys, one charge.
{
  const trips = await api("GET", "/v1/shopper/transit", shopperKey);
  assert.equal(trips.days.length, 1, JSON.stringify(trips));
  const [day] = trips.days;
  assert.equal(day.charge_minor, 600, JSON.stringify(day));
  assert.deepEqual(day.journeys.map((j) => [j.entry.medium, j.exit.medium, j.fare_minor]),
    [["face", "face", 300], ["payment_code", "face", 300]]);
  const { context, page } = await browser(join(profiles, "shopper"));
  await page.goto(`${base}/enroll`);
  await visible(page, "#trips");
  assert.ok((await page.textContent("#trip-days")).includes("6.00 EUR"), await page.textContent("#trip-days"));
  await snap(page, "enroll-trips");
  await context.close();
}

// 7. A gate cut off from the switch decides the travel pass alone and uploads it once back.
/// The text of the QR code drawn on `selector`'s canvas, read as a gate's scanner would.
async function readQr(page, selector) {
  const image = await page.evaluate((selector) => {
    const canvas = document.querySelector(selector);
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    return { width: canvas.width, height: canvas.height, data: Array.from(pixels.data) };
  }, selector);
  const code = jsQR(Uint8ClampedArray.from(image.data), image.width, image.height);
  assert.ok(code, "the travel pass's QR code does not read");
  return code.data;
}

/// A gate page activated earlier in `name`'s profile: it keeps its key and its passages.
async function reopenGate(name) {
  const opened = await browser(join(profiles, name), env("PAY_Y4M"));
  await opened.page.goto(`${base}/gate`);
  await visible(opened.page, "#gate");
  await opened.page.waitForFunction(() => document.querySelector("#video").videoWidth > 0);
  return opened;
}

{
  const shopper = await browser(join(profiles, "shopper"));
  await shopper.page.goto(`${base}/enroll`);
  await visible(shopper.page, "#account");
  await shopper.page.click("#travel-pass");
  await visible(shopper.page, "#pass-qr");
  await snap(shopper.page, "enroll-travel-pass");
  const atHarbour = await reopenGate("gate-harbour");
  const atCentral = await reopenGate("gate-central");
  // The gate holds the operator's rule from the console, for deciding alone.
  await atHarbour.page.waitForFunction(() => localStorage.getItem("facepay-gate-pack") !== null);
  const pack = JSON.parse(await atHarbour.page.evaluate(() => localStorage.getItem("facepay-gate-pack")));
  assert.deepEqual(pack.rider_entries, { window_minutes: 10, code_from: 3, closed_from: 8 });
  const wait = codeEntryAt + 61_000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  // The page draws a fresh showing every 5 s: the one on screen now.
  const showing = await readQr(shopper.page, "#pass-qr");
  await shopper.context.close();
  await atHarbour.context.setOffline(true);
  const face = await passThrough(atHarbour.page, "entry", () => atHarbour.page.click("#present-face"));
  assert.equal(face.barrier, "Closed", "an offline gate cannot match a face");
  assert.match(face.message, /travel pass/);
  const byPass = () => passThrough(atHarbour.page, "entry", async () => {
    await atHarbour.page.click("#present-pass");
    await atHarbour.page.fill("#pass-input", showing);
    await atHarbour.page.click("#pass-form button[type=submit]");
  });
  const entered = await byPass();
  assert.equal(entered.barrier, "Open", `the offline gate did not open for the pass: ${entered.message}`);
  assert.match(await atHarbour.page.textContent("#pending"), /^1 passage/);
  await snap(atHarbour.page, "gate-offline-pass");
  const copied = await byPass();
  assert.equal(copied.barrier, "Closed", "the same showing opened the gate twice");
  await atHarbour.context.setOffline(false);
  await atHarbour.page.waitForFunction(() => document.querySelector("#pending").textContent === "", null, { timeout: 40_000 });
  const left = await passThrough(atCentral.page, "exit", () => atCentral.page.click("#present-face"));
  assert.equal(left.barrier, "Open", `the rider who entered offline was not let out: ${left.message}`);
  await atCentral.page.waitForFunction(() => document.querySelector("#fare").textContent !== "");
  assert.equal(await atCentral.page.textContent("#fare"), "Today so far: 7.00 EUR");
  await atCentral.context.close();
  await atHarbour.context.close();
  const [day] = (await api("GET", "/v1/shopper/transit", shopperKey)).days;
  assert.deepEqual(day.journeys.map((j) => [j.entry.medium, j.exit.medium]).at(-1), ["travel_pass", "face"]);
  assert.equal(day.charge_minor, 700, JSON.stringify(day));
}

assert.deepEqual(offHost, [], "no page may call another host");
console.log(`browser tests passed; screenshots in ${shots}`);
