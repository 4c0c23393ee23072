// The gate's flow: a face (with the phone digits when the switch asks) or a payment code, the
// switch's decision, the barrier, and the passage reported once the rider is through. A passage
// the switch did not take (the network was down) waits in this browser and goes with the next
// report, as a batch the switch deduplicates; frames leave the browser once and are dropped.
"use strict";

const PENDING = "facepay-gate-pending";
const SEQ = "facepay-gate-seq";

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

async function setUp() {
  const setup = await signedCall(terminal, "GET", "/v1/gate/setup");
  currency = setup.currency;
  $("#station").textContent = `${setup.station} · ${setup.network}`;
  $("#gate-label").textContent = setup.terminal_id.slice(0, 12) + "…";
  show("gate");
  barrier(false, "Look at the camera or show your payment code.");
  renderPending();
  await openCamera($("#video")).catch(() => { $("#gate-message").textContent = "The camera is not available: payment codes only."; });
}

/// Asks the switch; on open, the rider passes and the passage is reported.
async function decide(body) {
  $("#fare").textContent = "";
  let decision;
  try {
    decision = await signedCall(terminal, "POST", "/v1/gate/decisions", { direction: direction(), ...body });
  } catch (error) {
    show("gate");
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

/// Sends this passage with any that are waiting; keeps what the switch did not take.
async function report(passage, exit) {
  const batch = [...pending(), passage];
  try {
    const answer = await signedCall(terminal, "POST", "/v1/gate/passages", { passages: batch });
    localStorage.setItem(PENDING, "[]");
    const mine = answer.passages[answer.passages.length - 1];
    // After an exit: an entry's journey has no fare yet.
    if (exit && mine.day_charge_minor !== null && mine.day_charge_minor !== undefined) {
      $("#fare").textContent = `Today so far: ${formatMoney(mine.day_charge_minor, currency)}`;
    }
  } catch (error) {
    localStorage.setItem(PENDING, JSON.stringify(batch));
  }
  renderPending();
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
