// Enrollment and the shopper's own page. The shopper app's API key lives in this browser's
// storage (it is the app); the photos are sent once, in the enrollment request, and dropped.
"use strict";

const KEY_NAME = "facepay-shopper-key";
let key = localStorage.getItem(KEY_NAME);
let consentVersion = "";
let currency = "";

const CONSENT_PARTS = [
  ["purpose", "Why"],
  ["stored", "What is stored"],
  ["retention", "For how long"],
  ["who_sees", "Who sees it"],
];

async function showConsent() {
  const consent = await callApi("GET", "/v1/consent");
  consentVersion = consent.text_version;
  const list = $("#consent-text");
  list.replaceChildren();
  for (const [field, title] of CONSENT_PARTS) {
    const term = document.createElement("dt");
    term.textContent = title;
    const detail = document.createElement("dd");
    detail.textContent = consent[field];
    list.append(term, detail);
  }
  const version = document.createElement("dd");
  version.textContent = `Consent text version ${consent.text_version}. You can delete everything at any time from your page.`;
  list.append(version);
  show("consent");
}

async function signUp(event) {
  event.preventDefault();
  try {
    const created = await callApi("POST", "/v1/shoppers", {
      consent_text_version: consentVersion, phone_last4: $("#phone").value, name: $("#name").value,
    });
    key = created.api_key;
    localStorage.setItem(KEY_NAME, key);
    await startFace();
  } catch (error) {
    $("#consent-error").textContent = error.message;
  }
}

async function startFace() {
  show("face");
  try {
    await openCamera($("#video"));
  } catch (error) {
    $("#face-error").textContent = "The camera is not available: allow it, or use another device.";
  }
}

async function enrollFace() {
  const button = $("#enroll-capture");
  button.disabled = true;
  $("#face-error").textContent = "";
  try {
    const captures = await captureBurst($("#video"), 3, 150);
    await callApi("PUT", "/v1/shopper/face", { captures }, withKey(key));
    closeCamera($("#video"));
    show("bank");
  } catch (error) {
    // Guidance for the next try: move closer, more light, one face only...
    $("#face-hint").textContent = error instanceof ApiError ? captureAdvice(error) : error.message;
    $("#face-error").textContent = "Please try again.";
  } finally {
    button.disabled = false;
  }
}

async function addBank(event) {
  event.preventDefault();
  try {
    await callApi("POST", "/v1/shopper/bank-accounts", {
      issuer: Number($("#bank-issuer").value), reference: $("#bank-reference").value, make_default: true,
    }, withKey(key));
    show("pin");
  } catch (error) {
    $("#bank-error").textContent = error.message;
  }
}

async function setPin(event) {
  event.preventDefault();
  try {
    await callApi("PUT", "/v1/shopper/pin", { pin: $("#pin-input").value }, withKey(key));
    $("#pin-input").value = "";
    await showAccount();
  } catch (error) {
    $("#pin-error").textContent = error.message;
  }
}

async function showAccount() {
  const me = await callApi("GET", "/v1/shopper", undefined, withKey(key));
  $("#who").textContent = me.masked_name || "";
  $("#account-state").textContent = me.paused
    ? "Face payment is paused. Your payment code still works."
    : "Face payment is on.";
  $("#toggle-pause").textContent = me.paused ? "Resume face payment" : "Pause face payment";
  $("#toggle-pause").dataset.paused = String(me.paused);
  const wallets = $("#wallets");
  wallets.replaceChildren();
  for (const wallet of me.wallets) {
    currency = wallet.currency;
    const card = document.createElement("div");
    card.className = "card";
    card.innerHTML = '<div class="value"></div><div class="label">facepay wallet</div>';
    card.querySelector(".value").textContent = formatMoney(wallet.balance_minor, wallet.currency);
    wallets.append(card);
  }
  // Each bank account, and what its bank said of it: one not yet approved does not pay.
  const STATES = { usable: "pays", awaiting_bank: "waiting for your bank to confirm it" };
  $("#bank-accounts").replaceChildren(...me.bank_accounts.map((account) => {
    const item = document.createElement("li");
    const said = account.state === "refused" ? account.refusal : STATES[account.state];
    item.textContent = `Bank ${account.issuer}, ${account.reference || "account"}${account.default ? " (default)" : ""}: ${said}`;
    if (account.state === "refused") item.className = "error";
    return item;
  }));
  $("#limit-per").value = me.limit ? me.limit.per_transaction_minor / 100 : "";
  $("#limit-daily").value = me.limit ? me.limit.daily_minor / 100 : "";
  await showTrips();
  show("account");
}

const JOURNEY_KINDS = {
  complete: "", no_exit: "no exit: maximum fare", no_entry: "no entry: maximum fare",
  over_time: "over the time limit: maximum fare", auto_completed: "no exit: priced as your usual journey",
  claimed: "as you claimed",
};

/// The rider's travel days: each journey and the day's one charge after caps; a journey with no
/// exit offers a claim for where it ended.
async function showTrips() {
  const trips = await callApi("GET", "/v1/shopper/transit", undefined, withKey(key));
  $("#trips").hidden = trips.days.length === 0 && trips.owed_minor === 0;
  $("#trips-standing").textContent = trips.denied
    ? `Gates will not let you in: ${formatMoney(trips.owed_minor, trips.currency)} is owed. Top up or change your bank account.`
    : trips.owed_minor > 0 ? `Owed: ${formatMoney(trips.owed_minor, trips.currency)}` : "";
  const days = $("#trip-days");
  days.replaceChildren();
  for (const day of trips.days) {
    const card = document.createElement("div");
    card.className = "card trip-day";
    const title = document.createElement("div");
    title.className = "value";
    title.textContent = `${day.day}: ${formatMoney(day.charge_minor, trips.currency)}`;
    card.append(title);
    if (day.capped_by.length) {
      const capped = document.createElement("div");
      capped.className = "label";
      capped.textContent = `capped (fares ${formatMoney(day.fares_minor, trips.currency)})`;
      card.append(capped);
    }
    for (const journey of day.journeys) card.append(journeyRow(journey, trips.currency));
    days.append(card);
  }
}

function journeyRow(journey, currency) {
  const row = document.createElement("div");
  row.className = "journey";
  const where = (passage) => passage ? `${passage.station} ${new Date(passage.at_ms).toLocaleTimeString()}` : "?";
  const note = JOURNEY_KINDS[journey.kind];
  row.textContent = `${where(journey.entry)} → ${journey.exit ? where(journey.exit) : journey.priced_to || "?"}: ` +
    `${formatMoney(journey.fare_minor, currency)}${note ? " (" + note + ")" : ""}`;
  if (journey.entry_ref) {
    const form = document.createElement("form");
    form.className = "claim";
    form.innerHTML = '<label>Where did you leave? <input name="station" autocomplete="off" required></label>' +
      '<button type="submit" class="secondary">Claim</button>';
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const station = form.querySelector("input").value.trim();
      await guarded(() => callApi("POST", "/v1/shopper/transit/claims", { entry_ref: journey.entry_ref, station }, withKey(key)));
      await showTrips();
    });
    row.append(form);
  }
  return row;
}

async function togglePause() {
  const paused = $("#toggle-pause").dataset.paused === "true";
  await guarded(() => callApi("PUT", "/v1/shopper/paused", { paused: !paused }, withKey(key)));
  await showAccount();
}

let codeTimer = null;
async function paymentCode() {
  await guarded(async () => {
    const code = await callApi("POST", "/v1/shopper/payment-code", undefined, withKey(key));
    const digits = $("#code-digits");
    digits.textContent = code.code.replace(/(\d{6})(?=\d)/g, "$1 ");
    digits.hidden = false;
    const qr = $("#code-qr");
    qr.src = "data:image/svg+xml;base64," + btoa(code.qr_svg);
    qr.hidden = false;
    clearInterval(codeTimer);
    const tick = () => {
      const left = Math.max(0, Math.round((code.expires_at_ms - Date.now()) / 1000));
      $("#code-expiry").textContent = left > 0 ? `Good for one payment, ${left} s more.` : "Expired: ask for a new one.";
      if (left === 0) {
        digits.hidden = true;
        $("#code-qr").hidden = true;
        clearInterval(codeTimer);
      }
    };
    tick();
    codeTimer = setInterval(tick, 1000);
  });
}

// ---- the travel pass -------------------------------------------------------------------------
// This phone's Ed25519 key (made here; the private half cannot leave the browser) and the pass
// the switch signed for it. Shown at a gate as a QR code of the pass, the time and this key's
// signature over both, drawn afresh every few seconds, so it works with the phone offline and a
// picture of the screen is soon worth nothing.

const passStore = browserStore("facepay-travel-pass", "pass");
const PASS_SHOWN_CONTEXT = new TextEncoder().encode("facepay travel pass shown v1\n");
/// How often the showing is drawn afresh, and for how long before the rider taps again.
const PASS_REDRAW_MS = 5_000;
const PASS_SHOWN_FOR_MS = 120_000;
let passTimer = null;

/// This phone's pass, renewed while the switch can be reached once it has a day left.
async function currentPass() {
  let kept = await passStore.get(key);
  if (kept && kept.lapses_at_ms - Date.now() > 86_400_000) return kept;
  const keys = kept ? { privateKey: kept.privateKey, publicKey: kept.publicKey }
    : await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  try {
    const publicKey = toBase64(await crypto.subtle.exportKey("raw", keys.publicKey));
    const issued = await callApi("POST", "/v1/shopper/transit/pass", { public_key: publicKey }, withKey(key));
    kept = { ...keys, pass: issued.pass, lapses_at_ms: issued.lapses_at_ms };
    await passStore.put(key, kept);
  } catch (error) {
    if (!kept || kept.lapses_at_ms <= Date.now()) throw error; // offline with a pass still good: show it
  }
  return kept;
}

/// The pass as shown now: the pass, the time and this phone's signature, base64url.
async function showing(kept) {
  const pass = fromBase64Url(kept.pass);
  const at = timeBytes(Date.now());
  const signed = concatBytes(PASS_SHOWN_CONTEXT, pass, at);
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, kept.privateKey, signed));
  return toBase64Url(concatBytes(pass, at, signature));
}

async function travelPass() {
  await guarded(async () => {
    const kept = await currentPass();
    const canvas = $("#pass-qr");
    const until = Date.now() + PASS_SHOWN_FOR_MS;
    clearInterval(passTimer);
    const draw = async () => {
      if (Date.now() > until) {
        canvas.hidden = true;
        $("#pass-hint").textContent = "Tap Travel pass to show it again.";
        clearInterval(passTimer);
        return;
      }
      const shown = await showing(kept);
      QR.draw(canvas, shown, 4);
      canvas.hidden = false;
    };
    await draw();
    const lapses = new Date(kept.lapses_at_ms).toLocaleDateString();
    $("#pass-hint").textContent = `Show this at a gate, even without a network. Good until ${lapses}.`;
    passTimer = setInterval(draw, PASS_REDRAW_MS);
  });
}

async function saveLimits(event) {
  event.preventDefault();
  const per = $("#limit-per").value.trim();
  const daily = $("#limit-daily").value.trim();
  const body = per === "" && daily === ""
    ? { per_transaction_minor: null, daily_minor: null }
    : { per_transaction_minor: Math.round(Number(per) * 100), daily_minor: Math.round(Number(daily) * 100) };
  await guarded(() => callApi("PUT", "/v1/shopper/limit", body, withKey(key)));
  await showAccount();
}

async function deleteEverything() {
  if (!confirm("Delete your face and your account? This cannot be undone.")) return;
  await guarded(async () => {
    const deleted = await callApi("DELETE", "/v1/shopper", undefined, withKey(key));
    await passStore.remove(key);
    localStorage.removeItem(KEY_NAME);
    key = null;
    $("#deleted-detail").textContent = deleted.face_shredded
      ? "Your face template was destroyed and cannot be recovered. Your account is closed."
      : "Your account is closed.";
    show("deleted");
  });
}

async function guarded(action) {
  $("#account-error").textContent = "";
  try {
    await action();
  } catch (error) {
    $("#account-error").textContent = error.message;
  }
}

async function start() {
  $("#signup-form").addEventListener("submit", signUp);
  $("#enroll-capture").addEventListener("click", enrollFace);
  $("#bank-form").addEventListener("submit", addBank);
  $("#bank-skip").addEventListener("click", () => show("pin"));
  $("#pin-form").addEventListener("submit", setPin);
  $("#toggle-pause").addEventListener("click", togglePause);
  $("#payment-code").addEventListener("click", paymentCode);
  $("#travel-pass").addEventListener("click", travelPass);
  $("#limit-form").addEventListener("submit", saveLimits);
  $("#delete").addEventListener("click", deleteEverything);
  if (key) {
    try {
      await showAccount();
      return;
    } catch (error) {
      localStorage.removeItem(KEY_NAME); // revoked or from another switch: start over
      key = null;
    }
  }
  await showConsent();
}

start();
