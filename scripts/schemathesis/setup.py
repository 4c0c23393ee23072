"""Gives the schemathesis run a switch with someone behind every role: a merchant, a bank, a
terminal activated with a key made here (also a metro gate of the merchant's), a shopper with a
funded wallet who paid once by payment code, and spares for the commands that end a party (a merchant to blacklist, a terminal to revoke,
a shopper to delete). Prints their keys and ids as JSON for hooks.py, so that generated requests reach the logic
behind authentication instead of stopping at 401 and 403.

usage: setup.py BASE_URL OPERATOR_KEY > parties.json"""

import base64
import json
import secrets
import sys
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signing import signed_headers

BASE, OPERATOR = sys.argv[1], sys.argv[2]


def call(method, path, body=None, key=None, terminal=None):
    data = b"" if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if body is not None else {}
    if key:
        headers["authorization"] = "Bearer " + key
    if terminal:
        headers.update(signed_headers(terminal["terminal_id"], terminal["private_key"], method, path, data))
    request = urllib.request.Request(BASE + path, data=data if body is not None else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        sys.exit(f"setup: {method} {path} answered {error.code}: {error.read().decode()}")


merchant = call("POST", "/v1/operator/merchants", {"risk": "low", "acquirer": 1}, key=OPERATOR)
bank = call("POST", "/v1/operator/issuers", {"issuer": 7}, key=OPERATOR)
registered = call("POST", "/v1/merchant/terminals", key=merchant["api_key"])
private = Ed25519PrivateKey.generate()
public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
call("POST", "/v1/terminal/activation", {
    "terminal_id": registered["terminal_id"],
    "activation_code": registered["activation_code"],
    "public_key": base64.b64encode(public).decode(),
})
terminal = {
    "terminal_id": registered["terminal_id"],
    "private_key": private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ).hex(),
}
call("PUT", f"/v1/operator/terminals/{registered['terminal_id']}/device-templates", {"allowed": True}, key=OPERATOR)
consent = call("GET", "/v1/consent")
shopper = call("POST", "/v1/shoppers", {
    "consent_text_version": consent["text_version"], "phone_last4": "1234", "name": "Schema Thesis",
})
# A second shopper for the fuzzed DELETE /v1/shopper, which revokes the key it is called with.
doomed = call("POST", "/v1/shoppers", {
    "consent_text_version": consent["text_version"], "phone_last4": "4321", "name": "Doomed Shopper",
})
call("POST", "/v1/operator/top-ups",
     {"account": shopper["wallet"], "amount_minor": 1_000_000, "top_up_id": "schemathesis"}, key=OPERATOR)
# A second merchant for the operator's fuzzed commands (blacklisting, risk) and a second terminal
# of the paying merchant for the merchant's (suspension, revocation, a new activation code), so
# that neither locks the paying terminal out.
target = call("POST", "/v1/operator/merchants", {"risk": "low", "acquirer": 1}, key=OPERATOR)
target_terminal = call("POST", "/v1/merchant/terminals", key=merchant["api_key"])
code = call("POST", "/v1/shopper/payment-code", key=shopper["api_key"])
paid = call("POST", "/v1/terminal/payments", {
    "amount_minor": 1250, "currency": "EUR", "order_id": "schemathesis-1",
    "idempotency_key": secrets.token_hex(8), "payment_code": code["code"],
}, terminal=terminal)
if paid.get("state") != "authorized":
    sys.exit(f"setup: the payment by payment code was not authorized: {paid}")
# The paying merchant also runs a metro, and its terminal is one of the gates, so that the gate
# routes reach their logic too.
FARE_FILES = {
    "networks.txt": "network_id,network_name\nmetro,Metro\n",
    "areas.txt": "area_id,area_name\nz1,Zone 1\n",
    "stop_areas.txt": "area_id,stop_id\nz1,central\nz1,market\n",
    "fare_products.txt": "fare_product_id,amount,currency\ninner,2.00,EUR\n",
    "fare_leg_rules.txt": "leg_group_id,network_id,from_area_id,to_area_id,fare_product_id\ninner,metro,z1,z1,inner\n",
    "facepay_networks.txt": "network_id,maximum_fare,max_journey_minutes,currency\nmetro,4.00,120,EUR\n",
}
call("PUT", "/v1/operator/transit/scheme", {
    "merchant_id": merchant["merchant_id"], "fare_files": FARE_FILES, "day_hold_minor": 700, "day_starts_minute": 270,
}, key=OPERATOR)
call("PUT", f"/v1/operator/transit/gates/{registered['terminal_id']}", {"network": "metro", "station": "central"},
     key=OPERATOR)
json.dump({
    "operator": OPERATOR,
    "merchant": merchant["api_key"],
    "bank": bank["api_key"],
    "shopper": shopper["api_key"],
    "doomed_shopper": doomed["api_key"],
    "terminal": terminal,
    "merchant_id": merchant["merchant_id"],
    "ids": {
        "merchant_id": target["merchant_id"],
        "terminal_id": target_terminal["terminal_id"],
        "payment_id": paid["payment_id"],
        "shopper_id": shopper["shopper_id"],
    },
}, sys.stdout)
