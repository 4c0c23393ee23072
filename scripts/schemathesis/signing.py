"""A facepay terminal's request signature, in Python, for the schemathesis run: the same bytes
`crates/api/src/auth.rs` (`signed_message`) checks, signed with the terminal's Ed25519 key."""

import base64
import hashlib
import secrets
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def signed_headers(terminal_id: str, private_key_hex: str, method: str, path_and_query: str, body: bytes) -> dict:
    """The four headers that make a request this terminal's, with a fresh nonce and the time now."""
    timestamp_ms = int(time.time() * 1000)
    nonce = secrets.token_hex(16)
    message = "facepay-v1\n{}\n{}\n{}\n{}\n{}".format(
        method.upper(), path_and_query, timestamp_ms, nonce, hashlib.sha256(body).hexdigest()
    )
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private_key_hex))
    return {
        "x-facepay-terminal": terminal_id,
        "x-facepay-timestamp": str(timestamp_ms),
        "x-facepay-nonce": nonce,
        "x-facepay-signature": base64.b64encode(key.sign(message.encode())).decode(),
    }
