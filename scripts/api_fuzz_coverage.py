#!/usr/bin/env python3
"""What scripts/api-fuzz's schemathesis runs really exercised: for every operation of the OpenAPI document, the
statuses it answered over the runs (their HAR reports), and a failure for any operation that never answered 2xx and
is not listed below with the reason it cannot. An operation that only ever refused (401, 403, 422 …) was checked
for its refusals and nothing else.

    api_fuzz_coverage.py OPENAPI_URL HAR...
"""

import collections
import json
import re
import sys
import urllib.parse
import urllib.request

# Operations no generated request can make succeed, each with why; each is exercised past its refusals by the
# integration tests named.
CANNOT_SUCCEED = {
    "GET /v1/ws": "a WebSocket handshake; an HTTP request from a document cannot perform it (426; tests/api/hub_*)",
    "POST /v1/billing/events": "signed by the billing provider with a secret the fuzzer does not hold "
    "(tests/api/billing.rs signs real events)",
    "POST /v1/auth/password-reset/confirm": "takes the one-time code sent to the phone (tests/api/password_reset.rs)",
    "POST /v1/me/phone/verify": "takes the one-time code sent to the phone (tests/api/phone_codes.rs)",
    "POST /v1/me/phone/change/verify": "takes the one-time code sent to the new phone (tests/api/phone_codes.rs)",
    "POST /v1/claims": "needs a match two hours old with no reply; the server's clock is real here "
    "(tests/api/jobs.rs, on the injected clock)",
    "POST /v1/ads/{id}/click": "counts only an ad the socket showed (the `ad` frame; tests/api/ads.rs)",
    "DELETE /v1/me/sessions/{id}": "every run ends its other sessions (`DELETE /v1/me/sessions`, which succeeds) "
    "before it comes to one of them (tests/api/sessions.rs)",
    "DELETE /v1/me": "would delete the account the run signs in with (tests/api/deletion.rs)",
    "POST /v1/ban/deletion": "would delete the banned person the other `/v1/ban/*` operations use "
    "(tests/api/deletion.rs)",
    "POST /v1/reports/call": "takes the id of a video match the caller was in, which the seed does not make (its "
    "matches are text ones, and 5 call reports per 10 minutes would soon refuse the runs anyway), and with a "
    "snapshot an image of its declared type (tests/api/call_reports.rs files real ones)",
    "GET /v1/admin/reports/{id}/snapshot": "answers only for a report filed with a snapshot, which the line above "
    "cannot make (tests/api/call_reports.rs views one, audited)",
    "POST /v1/admin/users/{id}/declaration/clearance": "clears only a declaration that three counting reporters "
    "suspended, with verified phones and accounts days old, which the seed cannot make on a real clock (409 "
    "not_suspended; tests/api/declarations.rs, on the injected clock)",
    "POST /v1/me/age-assurance": "needs an age assurance provider, which the fuzzed server has none of (404 "
    "age_assurance_not_offered; tests/api/age_assurance.rs runs the flow against a stand-in of Yoti's API)",
    "POST /v1/me/age-assurance/check": "reads a session the line above starts (404 age_assurance_not_offered; "
    "tests/api/age_assurance.rs)",
}


def operations(document):
    for path, item in document["paths"].items():
        segments = ("[^/]+" if s.startswith("{") else re.escape(s) for s in path.split("/"))
        pattern = re.compile("^" + "/".join(segments) + "$")
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                yield f"{method.upper()} {path}", method.upper(), pattern


def main():
    with urllib.request.urlopen(sys.argv[1]) as response:
        document = json.load(response)
    ops = list(operations(document))
    seen = collections.defaultdict(collections.Counter)
    for har in sys.argv[2:]:
        with open(har) as f:
            entries = json.load(f)["log"]["entries"]
        for entry in entries:
            method = entry["request"]["method"]
            path = urllib.parse.urlsplit(entry["request"]["url"]).path
            status = entry["response"]["status"]
            # The most specific template: `/v1/admin/users/{id}` must not swallow `/v1/admin/users/{id}/ban`.
            matches = [name for name, m, pattern in ops if m == method and pattern.match(path)]
            if matches:
                name = min(matches, key=lambda n: n.count("{"))
                seen[name][status] += 1

    never = []
    for name, _, _ in ops:
        statuses = seen.get(name, collections.Counter())
        ok = sum(n for s, n in statuses.items() if 200 <= s < 300 or s == 101)
        line = ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items())) or "no request"
        mark = "ok " if ok else ("-- " if name in CANNOT_SUCCEED else "!! ")
        print(f"{mark}{name:55} {line}")
        if not ok and name not in CANNOT_SUCCEED:
            never.append(name)
    if never:
        print(f"\napi_fuzz_coverage: {len(never)} operation(s) never answered 2xx: {', '.join(never)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
