"""An issuer host nobody at facepay wrote the codec of: pyiso8583 (PyPI) with its own
`default_ascii` specification (the 1987 field layout in ASCII) decodes every message facepay sends
and encodes every answer. It listens on 127.0.0.1 (the port is the first line on stdout) and
answers messages framed by a 2-byte big-endian length:

- 0800 sign-on (070=001) and echo (070=301): 0810, response code 00;
- 0100 authorization: 0110; the amount's last two digits choose the answer: 05 and 51 decline
  with that code, 91 is never answered (the switch times out and reverses), 66 is answered with
  bytes that are no ISO 8583 message; anything else is approved with an approval code; an
  account's verification (field 25 = 51, amount zero) is refused with 14 (no such account) when
  the account (field 102) ends in 0000, else approved;
- 0200 financial (refund), 0220 completion advice: 0210 and 0230, response code 00;
- 0420 reversal advice: 0430, response code 00, however many times the same one comes.

A message it cannot decode closes the connection, as a host does with a peer that speaks
nonsense. Each message is logged as a JSON line on stderr.
"""

import json
import socket
import struct
import sys
import threading

import iso8583
from iso8583.specs import default_ascii as spec

ECHOED = ["2", "3", "4", "7", "11", "12", "13", "32", "37", "41", "42", "49", "70", "90", "102"]


def log(**what):
    print(json.dumps(what), file=sys.stderr, flush=True)


def read_exact(connection, n):
    data = b""
    while len(data) < n:
        chunk = connection.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def answer(request):
    """The answer to a decoded request: a dict to encode, raw bytes, or None for silence."""
    mti = request["t"]
    reply = {"t": mti[:2] + str(int(mti[2]) + 1) + mti[3]}
    for field in ECHOED:
        if field in request:
            reply[field] = request[field]
    reply["39"] = "00"
    if mti == "0100" and request.get("25") == "51":
        if request.get("102", "").endswith("0000"):
            reply["39"] = "14"
        else:
            reply["38"] = "V" + request["11"][-5:]
    elif mti == "0100":
        cents = request.get("4", "000000000000")[-2:]
        if cents == "91":
            return None
        if cents == "66":
            return b"this is not an iso 8583 message"
        if cents in ("05", "51"):
            reply["39"] = cents
        else:
            reply["38"] = "A" + request["11"][-5:]
    elif mti not in ("0800", "0200", "0220", "0420"):
        reply["39"] = "12"  # invalid transaction
    return reply


def serve(connection):
    with connection:
        while True:
            header = read_exact(connection, 2)
            if header is None:
                return
            (length,) = struct.unpack(">H", header)
            body = read_exact(connection, length)
            if body is None:
                return
            try:
                request, _ = iso8583.decode(body, spec)
            except iso8583.DecodeError as error:
                log(event="cannot_parse", error=str(error))
                return
            log(event="received", message=request)
            reply = answer(request)
            if reply is None:
                log(event="silent", stan=request.get("11"))
                continue
            if isinstance(reply, bytes):
                data = reply
            else:
                data, _ = iso8583.encode(reply, spec)
                log(event="sent", message=reply)
            connection.sendall(struct.pack(">H", len(data)) + bytes(data))


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(listener.getsockname()[1], flush=True)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=serve, args=(connection,), daemon=True).start()


if __name__ == "__main__":
    main()
