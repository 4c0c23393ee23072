// The kiosk's flow: amount, face (or payment code), then whatever the switch asks for (phone
// digits, PIN), then the verdict; an authorization is confirmed at once, as the till has the
// goods to hand over. Frames leave the browser once, in the signed pay request, and are dropped.
"use strict";

let terminal = null;
let currency = "";
let amountMinor = 0;
let idempotencyKey = "";
let payment = null;
let typed = "";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "⌫"];

function keypad(container, onKey) {
  container.replaceChildren();
  for (const key of KEYS) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = key;
    button.dataset.key = key;
    button.setAttribute("aria-label", key === "C" ? "clear" : key === "⌫" ? "delete" : key);
    button.addEventListener("click", () => onKey(key));
    container.append(button);
  }
}

function edit(text, key, max) {
  if (key === "C") return "";
  if (key === "⌫") return text.slice(0, -1);
  return text.length < max ? text + key : text;
}

function renderAmount() {
  $("#amount-display").textContent = formatMoney(amountMinor, currency);
}

function newCustomer() {
  amountMinor = 0;
  payment = null;
  idempotencyKey = crypto.randomUUID();
  renderAmount();
  $("#amount-error").textContent = "";
  show("amount");
}

async function heartbeat() {
  try {
    const beat = await signedCall(terminal, "POST", "/v1/terminal/heartbeat", {});
    currency = beat.currency;
  } catch (error) {
    $("#amount-error").textContent = error.message;
  }
}

async function startCamera() {
  if (amountMinor <= 0) {
    $("#amount-error").textContent = "Key in the amount first.";
    return;
  }
  $("#camera-amount").textContent = formatMoney(amountMinor, currency);
  $("#camera-hint").textContent = "Keep your face inside the oval.";
  show("camera");
  try {
    await openCamera($("#video"));
  } catch (error) {
    verdict(false, "The camera is not available.", "Please pay with your payment code.", true);
  }
}

async function captureAndPay() {
  const video = $("#video");
  $("#capture").disabled = true;
  try {
    const captures = await captureBurst(video, 3, 120);
    show("working");
    await pay({ captures });
    closeCamera(video);
  } catch (error) {
    if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.code.startsWith("face_")) {
      // The photo was unusable: no payment was made; the shopper tries again.
      $("#camera-hint").textContent = captureAdvice(error);
      show("camera");
    } else {
      closeCamera(video);
      failed(error);
    }
  } finally {
    $("#capture").disabled = false;
  }
}

async function pay(how) {
  const body = {
    amount_minor: amountMinor, currency, order_id: "kiosk-" + idempotencyKey.slice(0, 8),
    idempotency_key: idempotencyKey, ...how,
  };
  await handle(await signedCall(terminal, "POST", "/v1/terminal/payments", body));
}

async function handle(answer) {
  payment = answer;
  const path = `/v1/terminal/payments/${answer.payment_id}`;
  switch (answer.state) {
    case "needs_phone_digits":
      typed = "";
      $("#digits-dots").textContent = "";
      show("digits");
      return;
    case "needs_pin":
      typed = "";
      $("#pin-dots").textContent = "";
      show("pin");
      return;
    case "awaiting_issuer":
      show("working");
      await new Promise((resolve) => setTimeout(resolve, 500));
      return handle(await signedCall(terminal, "GET", path));
    case "authorized":
      return handle(await signedCall(terminal, "POST", `${path}/confirm`, {}));
    case "captured":
      return verdict(true, "Approved", `${formatMoney(answer.amount_minor, answer.currency)} paid — thank you, ${answer.shopper || ""}`.trim());
    case "declined":
      return verdict(false, "Declined", answer.decline_message || "Please pay another way.", true);
    default:
      return verdict(false, "Not completed", "Please pay another way.", true);
  }
}

async function answerChallenge(kind, value) {
  typed = ""; // keys pressed while this is on its way start a new entry
  show("working");
  try {
    const path = `/v1/terminal/payments/${payment.payment_id}/${kind}`;
    await handle(await signedCall(terminal, "POST", path, kind === "pin" ? { pin: value } : { digits: value }));
  } catch (error) {
    failed(error);
  }
}

function verdict(good, headline, detail, offerCode = false) {
  const element = $("#verdict");
  element.textContent = headline;
  element.className = "verdict " + (good ? "good" : "bad");
  $("#verdict-detail").textContent = detail;
  $("#show-code").hidden = good || !offerCode;
  $("#retry").hidden = good;
  show("result");
}

function failed(error) {
  verdict(false, "Something went wrong", error.message || "Please try again.", true);
}

function retry() {
  // A new attempt is a new payment: the declined one stays declined.
  idempotencyKey = crypto.randomUUID();
  startCamera();
}

function payByCode() {
  idempotencyKey = crypto.randomUUID();
  $("#code-input").value = "";
  show("code");
  $("#code-input").focus();
}

async function start() {
  keypad($("#amount-keypad"), (key) => {
    const digits = edit(amountMinor ? String(amountMinor) : "", key, 9);
    amountMinor = Number(digits || "0");
    renderAmount();
  });
  keypad($("#digits-keypad"), (key) => {
    typed = edit(typed, key, 4);
    $("#digits-dots").textContent = "•".repeat(typed.length);
    if (typed.length === 4) answerChallenge("phone-digits", typed);
  });
  keypad($("#pin-keypad"), (key) => {
    typed = edit(typed, key, 6);
    $("#pin-dots").textContent = "•".repeat(typed.length);
    if (typed.length === 6) answerChallenge("pin", typed);
  });
  $("#activate-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      terminal = await activateTerminal($("#terminal-id").value.trim(), $("#activation-code").value.trim());
      await ready();
    } catch (error) {
      $("#activate-error").textContent = error.message;
    }
  });
  $("#pay-face").addEventListener("click", startCamera);
  $("#pay-code").addEventListener("click", () => {
    if (amountMinor <= 0) {
      $("#amount-error").textContent = "Key in the amount first.";
      return;
    }
    payByCode();
  });
  $("#capture").addEventListener("click", captureAndPay);
  $("#camera-cancel").addEventListener("click", () => { closeCamera($("#video")); newCustomer(); });
  $("#code-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    show("working");
    try {
      await pay({ payment_code: $("#code-input").value.trim() });
    } catch (error) {
      failed(error);
    }
  });
  $("#code-cancel").addEventListener("click", newCustomer);
  $("#retry").addEventListener("click", retry);
  $("#show-code").addEventListener("click", payByCode);
  $("#next").addEventListener("click", newCustomer);

  terminal = await loadTerminal();
  if (terminal) {
    await ready();
  } else {
    show("activate");
  }
}

async function ready() {
  $("#terminal-label").textContent = terminal.id.slice(0, 12) + "…";
  await heartbeat();
  setInterval(heartbeat, 60_000);
  newCustomer();
}

start();
