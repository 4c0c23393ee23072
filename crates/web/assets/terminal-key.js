// The terminal's Ed25519 key: made by this browser at activation (the private half cannot be
// exported) and kept in IndexedDB with the terminal's id. Every request is signed over
// "facepay-v1\nMETHOD\npath?query\ntimestamp\nnonce\nhex(sha256(body))", as the API checks.
"use strict";

const KEY_STORE = "facepay-terminal";

function openKeyStore() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(KEY_STORE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("terminal");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function keyStore(mode, action) {
  const db = await openKeyStore();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("terminal", mode);
    const request = action(tx.objectStore("terminal"));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

const loadTerminal = () => keyStore("readonly", (store) => store.get("self"));
const saveTerminal = (terminal) => keyStore("readwrite", (store) => store.put(terminal, "self"));

function toBase64(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text);
}

function toHex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/// Makes the key, activates with the merchant's one-time code, and keeps the result.
async function activateTerminal(terminalId, activationCode) {
  const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const publicKey = toBase64(await crypto.subtle.exportKey("raw", keys.publicKey));
  const activated = await callApi("POST", "/v1/terminal/activation", {
    terminal_id: terminalId, activation_code: activationCode, public_key: publicKey,
  });
  const terminal = { id: activated.terminal_id, merchant: activated.merchant_id, privateKey: keys.privateKey };
  await saveTerminal(terminal);
  return terminal;
}

/// A signed request from `terminal` to the API.
async function signedCall(terminal, method, path, body) {
  const text = body === undefined ? "" : JSON.stringify(body);
  const encoder = new TextEncoder();
  const timestamp = String(Date.now());
  const nonce = toHex(crypto.getRandomValues(new Uint8Array(16)));
  const bodyHash = toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  const message = `facepay-v1\n${method}\n${path}\n${timestamp}\n${nonce}\n${bodyHash}`;
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, terminal.privateKey, encoder.encode(message));
  return callApi(method, path, body === undefined ? undefined : text, {
    "x-facepay-terminal": terminal.id,
    "x-facepay-timestamp": timestamp,
    "x-facepay-nonce": nonce,
    "x-facepay-signature": toBase64(signature),
  });
}
