#!/usr/bin/env python3
"""web-members.py - render time of the web manager's members page on a
large list: the figure of issue 13 ("page render time (p50/p99) for the
members page of a 100,000-member list").

    DMAIL_BUILDDIR=_build/plain python3 contrib/bench/web-members.py \
        [MEMBERS] [REQUESTS]

Starts a throw-away dmaild with the web pool (HTTPS on loopback), makes
a list of MEMBERS members (default 100,000) with dlist import, logs in
as its owner and asks, over one kept-alive connection, REQUESTS times
(default 200) each for:

  first       /lists/LIST/members (the first page of 50)
  middle      the page after the middle member (?after=ADDR; a build
              without cursor paging ignores it and shows the first page)
  search      ?q=TEXT matching one member in 1,000 (a page of 50 needs
              a scan of 50,000 members: the worst case of a search)

and prints p50, p99 and max per kind in milliseconds, from the request
sent to the last byte read (TLS set up once, so it is the server's work
plus loopback). The same script measures an older build (point
DMAIL_BUILDDIR at it).
"""

import http.client
import os
import re
import ssl
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "t"))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import web_common as wc  # noqa: E402

LIST = "club@example.test"
OWNER = "owner@example.test"


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    reqs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    srv = wc.server(users=(OWNER,))
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", OWNER)
        path = os.path.join(srv.tmp, "members.txt")
        with open(path, "w") as f:
            for i in range(n):
                f.write("member%06d@example%d.test\n" % (i, i % 1000))
        t0 = time.time()
        lc.dlist(srv, "import", LIST, path)
        print("import of %d members: %.1f s" % (n, time.time() - t0))
        c = wc.Client(srv)
        c.login(OWNER)
        cookie = "; ".join("%s=%s" % kv for kv in c.cookies.items())
        conn = http.client.HTTPSConnection(
            "localhost", srv.port("web"), timeout=120,
            context=ssl.create_default_context(cafile=srv.cert))
        base = "/lists/%s/members" % LIST
        kinds = [("first", base),
                 ("middle", base + "?" + urllib.parse.urlencode(
                     {"after": "member%06d@example%d.test"
                      % (n // 2, (n // 2) % 1000)})),
                 ("search", base + "?q=example999.test")]
        for name, url in kinds:
            times = []
            for _ in range(reqs):
                t = time.perf_counter()
                conn.request("GET", url, headers={"Cookie": cookie})
                resp = conn.getresponse()
                body = resp.read()
                times.append((time.perf_counter() - t) * 1000)
                assert resp.status == 200, (resp.status, body[:300])
            rows = len(re.findall(rb"members/remove", body))
            print("%-7s p50=%.2f ms p99=%.2f ms max=%.2f ms (%d rows, "
                  "%d bytes)" % (name, percentile(times, 0.50),
                                 percentile(times, 0.99), max(times), rows,
                                 len(body)))
        conn.close()


if __name__ == "__main__":
    main()
