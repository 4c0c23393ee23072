// What every page shares: calling the switch's API (same origin only), showing errors,
// the camera (a burst of frames as base64 JPEG, dropped once sent), bytes in base64, keys kept
// in this browser, and small DOM helpers.
// No page talks to any host but the one that served it.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);

function show(id) {
  for (const screen of document.querySelectorAll("[data-screen]")) {
    screen.hidden = screen.id !== id;
  }
}

function formatMoney(minor, currency) {
  return `${(minor / 100).toFixed(2)} ${currency}`;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// A JSON request to this server's API; `headers` may carry a bearer key or a signature.
async function callApi(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (json && json.error) || {};
    throw new ApiError(response.status, error.code || "http_" + response.status, error.message || "The request failed.");
  }
  return json;
}

function withKey(key) {
  return { authorization: "Bearer " + key };
}

// ---- the camera ----------------------------------------------------------------------------

/// Opens the front camera into `video`; resolves once frames flow.
async function openCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
  video.srcObject = stream;
  await video.play();
  return stream;
}

function closeCamera(video) {
  const stream = video.srcObject;
  if (stream) {
    for (const track of stream.getTracks()) track.stop();
  }
  video.srcObject = null;
}

/// `count` frames `gapMs` apart, each a base64 JPEG (no data: prefix), as the API takes them.
async function captureBurst(video, count, gapMs) {
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const context = canvas.getContext("2d");
  const frames = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const url = canvas.toDataURL("image/jpeg", 0.92);
    frames.push(url.slice(url.indexOf(",") + 1));
  }
  context.clearRect(0, 0, canvas.width, canvas.height);
  return frames;
}

/// What to tell a person whose capture was refused, by the API's code.
const CAPTURE_ADVICE = {
  face_not_found: "We could not see a face. Look straight at the camera.",
  face_several: "Only one face, please: make sure nobody else is in the picture.",
  face_too_small: "Move a little closer to the camera.",
  face_too_dark: "More light, please: face a window or a lamp.",
  face_too_bright: "Too bright: step out of direct light.",
  face_blurred: "Hold still for a moment.",
  face_not_frontal: "Look straight at the camera.",
  face_at_edge: "Move to the middle of the picture.",
  face_not_live: "We could not confirm a live face. Look at the camera, not at a photo or a screen.",
  face_already_enrolled: "This face is already enrolled on another account.",
};

function captureAdvice(error) {
  return CAPTURE_ADVICE[error.code] || error.message;
}

// ---- bytes and keys kept in this browser -----------------------------------------------------

function toBase64(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text);
}

const toBase64Url = (bytes) => toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/// The bytes of unpadded base64url text; throws on anything else.
function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const standard = text.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(standard + "===".slice((standard.length + 3) % 4)), (c) => c.charCodeAt(0));
}

function toHex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function concatBytes(...parts) {
  const joined = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

/// `ms` as 8 bytes, big-endian, as the switch writes times into what it signs.
function timeBytes(ms) {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, BigInt(ms));
  return bytes;
}

/// One object store of this browser's IndexedDB: where a key that cannot be exported (a
/// terminal's, a phone's travel pass key) is kept across visits.
function browserStore(database, store) {
  const open = () => new Promise((resolve, reject) => {
    const request = indexedDB.open(database, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(store);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const run = async (mode, action) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const request = action(tx.objectStore(store));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  };
  return {
    get: (name) => run("readonly", (objects) => objects.get(name)),
    put: (name, value) => run("readwrite", (objects) => objects.put(value, name)),
    remove: (name) => run("readwrite", (objects) => objects.delete(name)),
  };
}
