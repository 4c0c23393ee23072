// The gate's flow: a face (with the phone digits when the switch asks), a payment code or a
// travel pass, the switch's decision, the barrier, and the passage reported once the rider is
// through. A passage the switch did not take (the network was down) waits in this browser and
// goes with the next report, as a batch the switch deduplicates; frames leave the browser once
// and are dropped.
//
// When the switch cannot be reached the gate decides travel passes alone, with the offline pack
// it fetched while it could (the switch's pass key, the deny list, the entries rule, the fares):
// both signatures must hold, the showing must be live and not seen here before, the rider not
// denied and not over the entries rule at this gate. Faces and payment codes need the switch.
"use strict";

const PENDING = "facepay-gate-pending";
const SEQ = "facepay-gate-seq";
const PACK = "facepay-gate-pack";
/// What this gate let through alone: [{rider, showing, direction, at_ms}], for its own rules.
const OFFLINE_LOG = "facepay-gate-offline-log";
const PACK_REFRESH_MS = 10 * 60_000;
const FLUSH_MS = 15_000;
const PASS_CONTEXT = new TextEncoder().encode("facepay travel pass v1\n");
const SHOWN_CONTEXT = new TextEncoder().encode("facepay travel pass shown v1\n");
const PASS_LENGTH = 121;
const SHOWING_LENGTH = PASS_LENGTH + 8 + 64;

let terminal = null;
let currency = "";
let frames = null;

const direction = () => document.querySelector("input[name=direction]:checked").value;
const pending = () => JSON.parse(localStorage.getItem(PENDING) || "[]");

/// The gate's own count of passages, kept across restarts: one passage, one number.
function nextSeq() {
  const seq = Number(localStorage.getItem(SEQ) || "0") + 1;
  localStorage.setItem(SEQ, String(seq));
  return seq;
}

function barrier(open, message) {
  const element = $("#barrier");
  element.textContent = open ? "Open" : "Closed";
  element.className = "barrier " + (open ? "open" : "closed");
  $("#gate-message").textContent = message;
}

function renderPending() {
  const waiting = pending().length;
  $("#pending").textContent = waiting ? `${waiting} passage(s) waiting for the switch` : "";
}

/// Whether a failed call means the switch is out of reach (not a refusal it made).
const unreachable = (error) => !(error instanceof ApiError) || error.status >= 502;

function setOffline(offline) {
  $("#offline").hidden = !offline;
}

async function refreshPack() {
  try {
    const pack = await signedCall(terminal, "GET", "/v1/gate/offline-pack");
    localStorage.setItem(PACK, JSON.stringify(pack));
  } catch (error) {
    if (unreachable(error)) setOffline(true); // keep the pack we have
  }
}

async function setUp() {
  const setup = await signedCall(terminal, "GET", "/v1/gate/setup");
  currency = setup.currency;
  $("#station").textContent = `${setup.station} · ${setup.network}`;
  $("#gate-label").textContent = setup.terminal_id.slice(0, 12) + "…";
  show("gate");
  barrier(false, "Look at the camera or show your payment code or travel pass.");
  renderPending();
  await refreshPack();
  setInterval(refreshPack, PACK_REFRESH_MS);
  setInterval(flush, FLUSH_MS);
  window.addEventListener("online", flush);
  await openCamera($("#video")).catch(() => { $("#gate-message").textContent = "The camera is not available: payment codes only."; });
}

/// Asks the switch; on open, the rider passes and the passage is reported.
async function decide(body) {
  $("#fare").textContent = "";
  let decision;
  try {
    decision = await signedCall(terminal, "POST", "/v1/gate/decisions", { direction: direction(), ...body });
    setOffline(false);
  } catch (error) {
    show("gate");
    if (unreachable(error)) {
      setOffline(true);
      await decideAlone(body);
      return;
    }
    barrier(false, error.code && error.code.startsWith("face_") ? captureAdvice(error) : error.message);
    return;
  }
  if (decision.code === "phone_digits_needed") {
    $("#digits-input").value = "";
    show("digits");
    return;
  }
  show("gate");
  barrier(decision.open, decision.message);
  if (decision.open) {
    frames = null;
    // The barrier's sensor: the rider is through.
    await report({ ticket: decision.ticket, seq: nextSeq(), at_ms: Date.now() }, direction() === "exit");
  }
}

/// Sends this passage (if any) with those waiting; keeps what the switch did not take.
async function report(passage, exit) {
  const batch = passage ? [...pending(), passage] : pending();
  if (batch.length === 0) return;
  // Kept first: a page closed mid-request loses no passage (the switch deduplicates).
  localStorage.setItem(PENDING, JSON.stringify(batch));
  try {
    const answer = await signedCall(terminal, "POST", "/v1/gate/passages", { passages: batch.slice(0, 1000) });
    localStorage.setItem(PENDING, JSON.stringify(pending().slice(answer.passages.length)));
    setOffline(false);
    const mine = answer.passages[answer.passages.length - 1];
    // After an exit: an entry's journey has no fare yet.
    if (passage && exit && mine.day_charge_minor !== null && mine.day_charge_minor !== undefined) {
      $("#fare").textContent = `Today so far: ${formatMoney(mine.day_charge_minor, currency)}`;
    }
  } catch (error) {
    if (unreachable(error)) setOffline(true);
  }
  renderPending();
}

const flush = () => report(null, false);

// ---- deciding alone ------------------------------------------------------------------------

const offlineLog = () => JSON.parse(localStorage.getItem(OFFLINE_LOG) || "[]");

/// The switch is out of reach: a travel pass is checked here, anything else waits for it.
async function decideAlone(body) {
  if (!body.travel_pass) {
    frames = null;
    barrier(false, "This gate cannot reach the switch: show your travel pass.");
    return;
  }
  const now = Date.now();
  const decision = await checkPass(body.travel_pass.trim(), now);
  if (!decision.open) {
    barrier(false, decision.message);
    return;
  }
  const pack = JSON.parse(localStorage.getItem(PACK));
  const here = direction();
  const log = offlineLog().filter((seen) => now - seen.at_ms < Math.max(3 * pack.shown_within_ms, pack.rider_entries.window_minutes * 60_000));
  log.push({ rider: decision.rider, showing: body.travel_pass.trim(), direction: here, at_ms: now });
  localStorage.setItem(OFFLINE_LOG, JSON.stringify(log));
  const fares = pack.fares;
  barrier(true, here === "exit"
    ? `Please pass. Offline: your journey is priced when this gate reaches the switch (at most ${formatMoney(fares.maximum_fare_minor, fares.currency)}).`
    : "Please pass. Offline: you are charged once the day closes.");
  // The barrier's sensor: the rider is through.
  await report({ travel_pass: body.travel_pass.trim(), direction: here, seq: nextSeq(), at_ms: Date.now() }, false);
}

/// Whether a showing opens this gate with only its offline pack, as the switch would judge it.
async function checkPass(showing, now) {
  const closed = (message) => ({ open: false, message });
  const pack = JSON.parse(localStorage.getItem(PACK) || "null");
  if (!pack || now > pack.issued_at_ms + pack.valid_for_ms) {
    return closed("This gate has no current pass list: please ask staff.");
  }
  let bytes;
  try {
    bytes = fromBase64Url(showing);
  } catch (error) {
    return closed("This is not a travel pass.");
  }
  if (bytes.length !== SHOWING_LENGTH || bytes[0] !== 1) return closed("This is not a travel pass.");
  const signed = bytes.slice(0, PASS_LENGTH - 64);
  const pass = bytes.slice(0, PASS_LENGTH);
  const shownAt = bytes.slice(PASS_LENGTH, PASS_LENGTH + 8);
  const ed25519 = { name: "Ed25519" };
  const verify = async (key, signature, message) => {
    try {
      const imported = await crypto.subtle.importKey("raw", key, ed25519, false, ["verify"]);
      return await crypto.subtle.verify(ed25519, imported, signature, message);
    } catch (error) {
      return false;
    }
  };
  const switchKey = Uint8Array.from(atob(pack.pass_public_key), (c) => c.charCodeAt(0));
  const genuine = await verify(switchKey, bytes.slice(PASS_LENGTH - 64, PASS_LENGTH), concatBytes(PASS_CONTEXT, signed)) &&
    await verify(signed.slice(17, 49), bytes.slice(PASS_LENGTH + 8), concatBytes(SHOWN_CONTEXT, pass, shownAt));
  if (!genuine) return closed("This pass was not issued here.");
  const view = new DataView(bytes.buffer);
  const lapsesAt = Number(view.getBigInt64(49));
  const shownAtMs = Number(view.getBigInt64(PASS_LENGTH));
  if (shownAtMs >= lapsesAt) return closed("This pass has lapsed: open your travel page to renew it.");
  if (Math.abs(now - shownAtMs) > pack.shown_within_ms) return closed("Show the pass live from your phone.");
  const rider = "shp_" + toHex(signed.slice(1, 17));
  const log = offlineLog();
  if (log.some((seen) => seen.showing === showing)) return closed("Show the pass live from your phone.");
  if (pack.denied_riders.includes(rider)) {
    return closed("Your travel account owes a fare its bank refused: settle it on your page.");
  }
  if (direction() === "entry") {
    const since = now - pack.rider_entries.window_minutes * 60_000;
    const entries = log.filter((seen) => seen.rider === rider && seen.direction === "entry" && seen.at_ms > since);
    if (entries.length + 1 >= pack.rider_entries.closed_from) {
      return closed("Too many entries in a short time: please ask staff.");
    }
  }
  return { open: true, rider };
}

async function presentFace() {
  const video = $("#video");
  if (!video.videoWidth) {
    barrier(false, "The camera is not available: show your payment code.");
    return;
  }
  $("#present-face").disabled = true;
  try {
    frames = await captureBurst(video, 2, 120);
    await decide({ captures: frames });
  } finally {
    $("#present-face").disabled = false;
  }
}

$("#present-face").addEventListener("click", presentFace);
$("#present-code").addEventListener("click", () => { $("#code-input").value = ""; show("code"); });
$("#present-pass").addEventListener("click", () => { $("#pass-input").value = ""; show("pass"); });
$("#pass-cancel").addEventListener("click", () => show("gate"));
$("#pass-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await decide({ travel_pass: $("#pass-input").value.trim() });
});
$("#code-cancel").addEventListener("click", () => show("gate"));
$("#digits-cancel").addEventListener("click", () => { frames = null; show("gate"); });
$("#code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await decide({ payment_code: $("#code-input").value.replaceAll(" ", "") });
});
$("#digits-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const captures = frames;
  frames = null;
  await decide({ captures, phone_last4: $("#digits-input").value });
});
$("#activate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#activate-error").textContent = "";
  try {
    terminal = await activateTerminal($("#terminal-id").value.trim(), $("#activation-code").value.trim());
    await setUp();
  } catch (error) {
    $("#activate-error").textContent = error.message;
  }
});

(async () => {
  terminal = await loadTerminal();
  if (!terminal) {
    show("activate");
    return;
  }
  try {
    await setUp();
  } catch (error) {
    show("activate");
    $("#activate-error").textContent = error.message;
  }
})();
