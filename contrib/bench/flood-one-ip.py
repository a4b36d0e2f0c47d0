#!/usr/bin/env python3
"""flood-one-ip.py - the slow-trickle flood of issue 9 (section 4).

Starts a dmaild from a build tree (through t/dmailtest.py) with the real
dmail-smtpd, smtp_workers_max W (default 100) and the default
client_connection_limit (or --limit), opens N connections (default 1,000)
from 127.0.0.1 that each send one byte every 3 seconds, and meanwhile
measures the greeting time of 7 clients from 127.0.0.2, as in the issue
(before the limit: 0 of 7 greeted).

usage: flood-one-ip.py [-n N] [-w W] [--limit L] [--builddir DIR]
"""

import argparse
import os
import resource
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-w", type=int, default=100)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--builddir", default=os.environ.get("DMAIL_BUILDDIR"))
    args = ap.parse_args()
    if args.builddir:
        os.environ["DMAIL_BUILDDIR"] = os.path.abspath(args.builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "..", "t"))
    import dmailtest as dt

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (min(hard, max(soft, args.n + 1024)), hard))
    extra = "smtp_program %s\nlisten_backlog 4096\n" % dt.SMTPD
    if args.limit is not None:
        extra += "client_connection_limit %d\n" % args.limit
    srv = dt.Server(smtp=True, workers={"smtp": (2, args.w, 100000)},
                    extra=extra)
    port = srv.port("smtp")
    socks = []
    try:
        for _ in range(args.n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        end = time.monotonic() + 6
        while time.monotonic() < end:   # two rounds of trickling
            for s in socks:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            time.sleep(3)
        times = []
        for _ in range(7):
            t0 = time.monotonic()
            c = dt.connect(port, source="127.0.0.2", timeout=30)
            try:
                line = dt.recv_line(c)
                ok = line.startswith(b"220 ")
            except OSError:
                ok = False
            c.close()
            times.append(time.monotonic() - t0 if ok else None)
        got = [t for t in times if t is not None]
        print("%d trickling connections from 127.0.0.1, smtp_workers_max "
              "%d: %d of 7 other clients greeted%s"
              % (args.n, args.w, len(got),
                 ", in %.3f s at most" % max(got) if got else ""))
        print(srv.tell("status").stdout)
    finally:
        for s in socks:
            s.close()
        srv.stop(timeout=120)
        srv.cleanup()


if __name__ == "__main__":
    main()
