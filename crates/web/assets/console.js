// The operator console: every view is a read of the operator routes with the key from the
// sign-in, and every action one operator route. The dashboard refreshes every 5 seconds.
"use strict";

const SESSION_KEY = "facepay-operator-key";
let operatorKey = sessionStorage.getItem(SESSION_KEY);
let refresher = null;

const api = (method, path, body) => callApi(method, path, body, withKey(operatorKey));
const time = (ms) => new Date(ms).toLocaleTimeString();

// Replaces the rows of the table body `selector`: one row per item, filled by `fill(row, item)`.
function fillRows(selector, items, fill) {
  $(selector).replaceChildren(...items.map((item) => {
    const row = document.createElement("tr");
    fill(row, item);
    return row;
  }));
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function actionButton(td, label, action, className = "secondary") {
  const button = document.createElement("button");
  button.textContent = label;
  button.className = className;
  button.addEventListener("click", action);
  td.append(button);
}

/// Bars for `values` under `labels` in `svg`, scaled to the largest value.
function bars(svg, values, labels, className = "") {
  const width = 600, height = 180, bottom = 24;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const max = Math.max(1, ...values);
  const step = Math.min(width / Math.max(1, values.length), 120);
  const ns = "http://www.w3.org/2000/svg"; // an XML namespace name, not a request
  values.forEach((value, i) => {
    const barHeight = ((height - bottom) * value) / max;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", i * step + step * 0.1);
    rect.setAttribute("y", height - bottom - barHeight);
    rect.setAttribute("width", step * 0.8);
    rect.setAttribute("height", barHeight);
    if (className) rect.setAttribute("class", className);
    const title = document.createElementNS(ns, "title");
    title.textContent = `${labels[i]}: ${value}`;
    rect.append(title);
    svg.append(rect);
    if (labels[i] !== "") {
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", i * step + step / 2);
      text.setAttribute("y", height - 6);
      text.setAttribute("text-anchor", "middle");
      text.textContent = labels[i];
      svg.append(text);
    }
  });
}

async function loadDashboard() {
  try {
    const board = await api("GET", "/v1/operator/dashboard");
    const total = board.per_minute.reduce((a, b) => a + b, 0);
    $("#stat-payments").textContent = String(total);
    $("#stat-approval").textContent = board.approval_rate === null ? "–" : `${Math.round(board.approval_rate * 100)}%`;
    $("#stat-p95").textContent = board.decision_ms_p95 === null ? "–" : `${board.decision_ms_p95.toFixed(0)} ms`;
    $("#stat-switch").textContent = board.face_payment_off_everywhere ? "OFF" : "on";
    const minuteLabels = board.per_minute.map((_, i) => (i % 10 === 0 ? `-${60 - i}m` : ""));
    bars($("#chart-minutes"), board.per_minute, minuteLabels);
    const reasons = Object.keys(board.declines_by_reason);
    bars($("#chart-declines"), reasons.map((r) => board.declines_by_reason[r]), reasons, "bad");
    fillRows("#recent", board.recent, (row, payment) => {
      cell(row, time(payment.started_at_ms));
      cell(row, payment.merchant_id.slice(0, 12) + "…");
      cell(row, formatMoney(payment.amount_minor, payment.currency));
      cell(row, payment.decline_reason ? `declined: ${payment.decline_reason}` : payment.state);
      cell(row, payment.shopper || "");
    });
    $("#dashboard-error").textContent = "";
  } catch (error) {
    $("#dashboard-error").textContent = error.message;
  }
}

async function loadMerchants() {
  try {
    const [merchants, board] = await Promise.all([api("GET", "/v1/operator/merchants"), api("GET", "/v1/operator/dashboard")]);
    const off = board.face_payment_off_everywhere;
    const globalSwitch = $("#global-switch");
    globalSwitch.textContent = off ? "Switch face payment back on everywhere" : "Switch face payment off everywhere";
    globalSwitch.onclick = () => act("#merchants-error", () => api("PUT", "/v1/operator/emergency-switch", { scope: "everywhere", off: !off }), loadMerchants);
    fillRows("#merchant-rows", merchants, (row, merchant) => {
      cell(row, merchant.merchant_id);
      cell(row, merchant.risk + (merchant.limit ? ` (own limit ${merchant.limit.per_transaction_minor / 100})` : ""));
      cell(row, merchant.status + (merchant.face_payment_off ? ", face payment off" : ""));
      const terminals = cell(row, "");
      for (const terminal of merchant.terminals) {
        const line = document.createElement("div");
        const states = [
          terminal.revoked ? "revoked" : terminal.activated ? "active" : "not activated",
          terminal.suspended ? "suspended" : "",
          terminal.stale ? "not checked in" : "",
          terminal.face_payment_off ? "face payment off" : "",
        ].filter(Boolean).join(", ");
        line.textContent = `${terminal.terminal_id.slice(0, 12)}… ${states} `;
        actionButton(line, terminal.face_payment_off ? "Face on" : "Face off", () =>
          act("#merchants-error", () => api("PUT", "/v1/operator/emergency-switch",
            { scope: "terminal", id: terminal.terminal_id, off: !terminal.face_payment_off }), loadMerchants));
        const path = `/v1/merchant/terminals/${terminal.terminal_id}`;
        if (!terminal.revoked) {
          actionButton(line, terminal.suspended ? "Resume" : "Suspend", () => act("#merchants-error",
            () => api("PUT", `${path}/suspension`, { suspended: !terminal.suspended }), loadMerchants));
          actionButton(line, "Revoke", () => confirm("Revoke this terminal for good?") && act("#merchants-error",
            () => api("DELETE", path), loadMerchants), "danger");
        }
        terminals.append(line);
      }
      const actions = cell(row, "");
      const status = (next) => () => act("#merchants-error",
        () => api("PUT", `/v1/operator/merchants/${merchant.merchant_id}/status`, { status: next }), loadMerchants);
      if (merchant.status !== "active") actionButton(actions, "Reinstate", status("active"));
      if (merchant.status !== "suspended") actionButton(actions, "Suspend", status("suspended"));
      if (merchant.status !== "blacklisted") actionButton(actions, "Blacklist", status("blacklisted"), "danger");
      actionButton(actions, merchant.face_payment_off ? "Face on" : "Face off", () => act("#merchants-error",
        () => api("PUT", "/v1/operator/emergency-switch", { scope: "merchant", id: merchant.merchant_id, off: !merchant.face_payment_off }),
        loadMerchants));
    });
  } catch (error) {
    $("#merchants-error").textContent = error.message;
  }
}

async function loadRisk() {
  try {
    const events = await api("GET", "/v1/operator/risk-events");
    fillRows("#risk-rows", events, (row, event) => {
      cell(row, time(event.at_ms));
      cell(row, event.rule);
      cell(row, event.verdict);
      cell(row, event.payment_id);
      cell(row, event.detail);
      actionButton(cell(row, ""), "Handled", () => act("#risk-error",
        () => api("POST", "/v1/operator/risk-events/ack", { event_ids: [event.event_id] }), loadRisk));
    });
  } catch (error) {
    $("#risk-error").textContent = error.message;
  }
}

async function loadDisputes() {
  try {
    const disputes = await api("GET", "/v1/operator/disputes");
    fillRows("#dispute-rows", disputes, (row, dispute) => {
      cell(row, dispute.dispute_id.slice(0, 12) + "…");
      cell(row, dispute.payment_id.slice(0, 12) + "…");
      cell(row, (dispute.amount_minor / 100).toFixed(2));
      cell(row, dispute.state);
      cell(row, dispute.evidence.map((e) => `${e.party}: ${e.note ?? "(erased with the shopper)"}`).join(" | "));
      const actions = cell(row, "");
      const path = `/v1/operator/disputes/${dispute.dispute_id}`;
      if (dispute.state === "open") {
        actionButton(actions, "Compensate shopper", () => act("#disputes-error",
          () => api("POST", `${path}/resolution`, { finding: "shopper_not_shown_at_fault" }), loadDisputes));
        actionButton(actions, "Reject", () => act("#disputes-error",
          () => api("POST", `${path}/resolution`, { finding: "shopper_at_fault" }), loadDisputes), "danger");
      }
      if (dispute.state === "compensated") {
        actionButton(actions, "Charge back", () => act("#disputes-error", () => api("POST", `${path}/charge-back`), loadDisputes));
      }
    });
  } catch (error) {
    $("#disputes-error").textContent = error.message;
  }
}

async function loadAudit(event) {
  if (event) event.preventDefault();
  try {
    const query = new URLSearchParams({ limit: "200" });
    if ($("#audit-action").value) query.set("action", $("#audit-action").value);
    if ($("#audit-actor").value.trim()) query.set("actor", $("#audit-actor").value.trim());
    const page = await api("GET", `/v1/operator/audit?${query}`);
    $("#audit-head").textContent = `${page.length} entries; head ${page.head_hash} (keep it to check the log later)`;
    fillRows("#audit-rows", page.entries.slice().reverse(), (row, entry) => {
      cell(row, String(entry.seq));
      cell(row, time(entry.at_ms));
      cell(row, entry.action);
      cell(row, entry.actor);
      cell(row, entry.request);
      cell(row, String(entry.status));
      cell(row, entry.hash.slice(0, 16) + "…");
    });
  } catch (error) {
    $("#audit-error").textContent = error.message;
  }
}

async function loadTransit() {
  try {
    const denied = await api("GET", "/v1/operator/transit/deny-list");
    fillRows("#deny-rows", denied.riders, (row, rider) => {
      cell(row, rider.shopper_id);
      cell(row, (rider.owed_minor / 100).toFixed(2));
      cell(row, rider.overdue_since_ms ? new Date(rider.overdue_since_ms).toLocaleString() : "hold refused");
    });
  } catch (error) {
    $("#transit-error").textContent = error.message;
  }
}

/// Reads the chosen fare files as text and sets the scheme; shows what the import reported.
async function importFares(event) {
  event.preventDefault();
  const files = {};
  for (const file of $("#fare-files").files) files[file.name] = await file.text();
  const [hours, minutes] = $("#fares-day-start").value.split(":").map(Number);
  const body = {
    merchant_id: $("#fares-merchant").value.trim(),
    fare_files: files,
    day_hold_minor: Math.round(Number($("#fares-hold").value) * 100),
    day_starts_minute: hours * 60 + minutes,
    utc_offset_minutes: Number($("#fares-offset").value),
    rider_entries: {
      window_minutes: Number($("#entries-window").value),
      code_from: Number($("#entries-code-from").value),
      closed_from: Number($("#entries-closed-from").value),
    },
  };
  await act("#transit-error", async () => {
    const set = await api("PUT", "/v1/operator/transit/scheme", body);
    $("#fares-result").textContent = `Fares set for ${set.networks.join(", ")}; ${set.notices.length} notice(s).`;
    $("#fare-notices").replaceChildren(...set.notices.map((notice) => {
      const item = document.createElement("li");
      item.textContent = `${notice.file}${notice.line ? ":" + notice.line : ""} ${notice.code}: ${notice.detail}`;
      return item;
    }));
  }, loadTransit);
}

async function placeGate(event) {
  event.preventDefault();
  const terminal = $("#gate-terminal").value.trim();
  const place = { network: $("#gate-network").value.trim(), station: $("#gate-station").value.trim() };
  await act("#transit-error", async () => {
    await api("PUT", `/v1/operator/transit/gates/${terminal}`, place);
    $("#gate-result").textContent = `${terminal} stands at ${place.station} on ${place.network}.`;
  }, loadTransit);
}

async function showRider(event) {
  event.preventDefault();
  await act("#transit-error", async () => {
    const trips = await api("GET", `/v1/operator/transit/riders/${$("#rider-id").value.trim()}`);
    const rows = trips.days.flatMap((day) => day.journeys.map((journey) => ({ day, journey })));
    fillRows("#journey-rows", rows, (row, { day, journey }) => {
      cell(row, `${day.day} (day: ${(day.charge_minor / 100).toFixed(2)})`);
      const end = journey.exit ? journey.exit.station : journey.priced_to || "?";
      cell(row, `${journey.entry ? journey.entry.station : "?"} → ${end}`);
      cell(row, journey.kind);
      cell(row, (journey.fare_minor / 100).toFixed(2));
    });
  }, loadTransit);
}

// ---- settlement: a day's statements and their files -----------------------------------------

async function loadSettlement(event) {
  if (event) event.preventDefault();
  const input = $("#settlement-day");
  if (!input.value) input.value = new Date().toISOString().slice(0, 10);
  const day = input.value;
  try {
    const book = await api("GET", `/v1/operator/settlement/days/${day}`);
    const from = new Date(book.from_ms).toISOString(), to = new Date(book.to_ms).toISOString();
    $("#settlement-summary").textContent = `${book.day}: ${from} to ${to}, ${book.currency}; ` +
      (book.balances ? "the day's totals balance." : "THE DAY'S TOTALS DO NOT BALANCE.");
    fillRows("#settlement-rows", book.statements, (row, statement) => {
      cell(row, statement.party);
      cell(row, String(statement.lines));
      cell(row, formatMoney(statement.credits_minor, book.currency));
      cell(row, formatMoney(statement.debits_minor, book.currency));
      cell(row, formatMoney(statement.closing_minor, book.currency));
      cell(row, statement.equals_ledger ? "yes" : "NO");
      const files = cell(row, "");
      actionButton(files, "CSV", () => download(book.day, statement.party, "csv"));
      actionButton(files, "camt.053", () => download(book.day, statement.party, "camt053"));
    });
    $("#settlement-error").textContent = "";
  } catch (error) {
    $("#settlement-error").textContent = error.message;
  }
}

/// Fetches a statement file with the operator's key and hands it to the browser as a download.
async function download(day, party, format) {
  try {
    const response = await fetch(`/v1/operator/settlement/days/${day}/files/${party}?format=${format}`, { headers: withKey(operatorKey) });
    if (!response.ok) throw new Error(`the file could not be made (${response.status})`);
    const name = (response.headers.get("content-disposition") || "").split('filename="')[1]?.replace('"', "") || `${party}.${format}`;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    $("#settlement-error").textContent = error.message;
  }
}

async function act(errorTarget, action, reload) {
  $(errorTarget).textContent = "";
  try {
    await action();
    await reload();
  } catch (error) {
    $(errorTarget).textContent = error.message;
  }
}

const VIEWS = {
  dashboard: loadDashboard, merchants: loadMerchants, risk: loadRisk, disputes: loadDisputes, audit: loadAudit,
  transit: loadTransit, settlement: loadSettlement,
};

function openTab(tab) {
  for (const button of document.querySelectorAll("#tabs [data-tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  show(tab);
  clearInterval(refresher);
  VIEWS[tab]();
  if (tab === "dashboard") refresher = setInterval(loadDashboard, 5000);
}

async function signIn(event) {
  event.preventDefault();
  operatorKey = $("#operator-key").value.trim();
  try {
    await api("GET", "/v1/operator/dashboard");
    sessionStorage.setItem(SESSION_KEY, operatorKey);
    $("#operator-key").value = "";
    enter();
  } catch (error) {
    operatorKey = null;
    $("#sign-in-error").textContent = error.status === 401 || error.status === 403
      ? "That is not a valid operator key." : error.message;
  }
}

function enter() {
  $("#tabs").hidden = false;
  openTab("dashboard");
}

function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  operatorKey = null;
  clearInterval(refresher);
  $("#tabs").hidden = true;
  show("sign-in");
}

for (const button of document.querySelectorAll("#tabs [data-tab]")) {
  button.addEventListener("click", () => openTab(button.dataset.tab));
}
$("#sign-out").addEventListener("click", signOut);
$("#sign-in-form").addEventListener("submit", signIn);
$("#audit-form").addEventListener("submit", loadAudit);
$("#fares-form").addEventListener("submit", importFares);
$("#gate-form").addEventListener("submit", placeGate);
$("#rider-form").addEventListener("submit", showRider);
$("#settlement-form").addEventListener("submit", loadSettlement);
if (operatorKey) {
  api("GET", "/v1/operator/dashboard").then(enter, signOut);
} else {
  show("sign-in");
}
