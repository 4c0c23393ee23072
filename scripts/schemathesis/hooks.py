"""schemathesis hooks that let generated requests reach facepay's logic: each request carries the
credentials of the role its path belongs to (the operator's, merchant's, bank's or shopper's API
key; a terminal's signature over the exact body sent); half the generated path ids are replaced
by ids that exist (setup.py's payment and shopper, and a second merchant and terminal for the
commands that suspend or blacklist), so refunds, voids, statuses and disputes are tried on real
payments (the first, and every one the run makes), not only refused as unknown; and a third of
the generated payments carry a fresh payment code of the shopper's, so they reach the payment
core. Reads the parties from the JSON
file named by FACEPAY_PARTIES."""

import json
import os
import random
import secrets
import urllib.parse
import urllib.request

import schemathesis
from schemathesis.core import NotSet

from signing import signed_headers

PARTIES = json.load(open(os.environ["FACEPAY_PARTIES"]))
BASE = os.environ["FACEPAY_BASE_URL"]
# A generator of our own: Hypothesis reseeds the global one for every example it draws.
CHANCE = random.Random(2026)
# Which key each path prefix is called with; the first match wins.
ROLES = [
    ("/v1/operator/", "operator"),
    ("/v1/disputes/", "operator"),
    ("/v1/merchant/", "merchant"),
    ("/v1/issuer/", "bank"),
    ("/v1/shopper", "shopper"),
]


# Every payment the run made, for later requests to act on.
PAYMENTS = [PARTIES["ids"]["payment_id"]]


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    for name in list(path_parameters or {}):
        if name in PARTIES["ids"] and CHANCE.random() < 0.5:
            path_parameters[name] = CHANCE.choice(PAYMENTS) if name == "payment_id" else PARTIES["ids"][name]
    return path_parameters


@schemathesis.hook
def after_call(ctx, case, response):
    if case.formatted_path == "/v1/terminal/payments" and response.status_code == 200:
        PAYMENTS.append(response.json()["payment_id"])


@schemathesis.hook
def map_body(ctx, body):
    if ctx.operation.path != "/v1/terminal/payments" or CHANCE.random() >= 1 / 3:
        return body
    request = urllib.request.Request(
        BASE + "/v1/shopper/payment-code", method="POST", headers={"authorization": "Bearer " + PARTIES["shopper"]}
    )
    with urllib.request.urlopen(request) as response:
        code = json.load(response)["code"]
    return {
        "amount_minor": CHANCE.randint(1, 5000), "currency": "EUR", "order_id": secrets.token_hex(6),
        "idempotency_key": secrets.token_hex(8), "payment_code": code,
    }


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # The paying terminal and its merchant are never the ones suspended, revoked or blacklisted.
    for name, spare in (("terminal_id", PARTIES["terminal"]["terminal_id"]), ("merchant_id", PARTIES["merchant_id"])):
        if (case.path_parameters or {}).get(name) == spare:
            case.path_parameters[name] = PARTIES["ids"][name]
    path = case.formatted_path
    headers = dict(case.headers or {})
    if (path.startswith("/v1/terminal/") and path != "/v1/terminal/activation") or path.startswith("/v1/gate/"):
        # Signed over the bytes sent, so the body is serialized here and handed over as they are.
        body = wire_bytes(case.body)
        if not isinstance(case.body, NotSet):
            kwargs["data"] = body
        query = urllib.parse.urlencode(case.query or {}, doseq=True)
        signed = path + ("?" + query if query else "")
        terminal = PARTIES["terminal"]
        headers.update(signed_headers(terminal["terminal_id"], terminal["private_key"], case.method, signed, body))
    else:
        role = next((role for prefix, role in ROLES if path.startswith(prefix)), None)
        if (case.method.upper(), path) == ("DELETE", "/v1/shopper"):
            role = "doomed_shopper"
        if role:
            headers["Authorization"] = "Bearer " + PARTIES[role]
    case.headers = headers


def wire_bytes(body) -> bytes:
    """The bytes a generated body goes out as: raw bytes (a negative case's) as they are, else JSON."""
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return json.dumps(body).encode()
