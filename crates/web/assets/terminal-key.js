// The terminal's Ed25519 key: made by this browser at activation (the private half cannot be
// exported) and kept in IndexedDB with the terminal's id. Every request is signed over
// "facepay-v1\nMETHOD\npath?query\ntimestamp\nnonce\nhex(sha256(body))", as the API checks.
"use strict";

const terminalStore = browserStore("facepay-terminal", "terminal");
const loadTerminal = () => terminalStore.get("self");
const saveTerminal = (terminal) => terminalStore.put("self", terminal);

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
