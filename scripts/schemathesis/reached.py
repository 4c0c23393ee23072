"""What the schemathesis run reached, read from the switch's access log (one JSON line a request):
for every documented operation, how many requests it got, how many got past authentication
(neither 401 nor 403) and how many succeeded (2xx). Fails if any operation was never reached
past authentication, or if any request drew a 5xx.

usage: reached.py OPENAPI_JSON ACCESS_LOG"""

import collections
import json
import sys

spec = json.load(open(sys.argv[1]))
documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
sent, past_auth, succeeded, server_errors = (collections.Counter() for _ in range(4))
for line in open(sys.argv[2]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    operation = (entry.get("method"), entry.get("route"))
    if operation not in documented:
        continue
    status = entry["status"]
    sent[operation] += 1
    past_auth[operation] += status not in (401, 403)
    succeeded[operation] += 200 <= status < 300
    server_errors[operation] += status >= 500

print("| operation | requests | past authentication | 2xx |\n|---|---|---|---|")
for operation in sorted(documented, key=lambda o: (o[1], o[0])):
    print(f"| {operation[0]} {operation[1]} | {sent[operation]} | {past_auth[operation]} | {succeeded[operation]} |")
unreached = [o for o in documented if past_auth[o] == 0]
print(
    f"{len(documented)} operations: {sum(1 for o in documented if past_auth[o])} reached past authentication, "
    f"{sum(1 for o in documented if succeeded[o])} answered 2xx; {sum(sent.values())} requests, "
    f"{sum(server_errors.values())} server errors"
)
if unreached or sum(server_errors.values()):
    errors = {f"{m} {p}": n for (m, p), n in server_errors.items() if n}
    sys.exit(f"reached.py: never past authentication: {sorted(unreached)}; server errors: {errors}")
