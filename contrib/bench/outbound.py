#!/usr/bin/env python3
"""outbound.py - benchmark of dmail-queued, the outbound queue manager.

1. Throughput: M queue files (one recipient each, S bytes) are written
   into a stopped instance's spool, spread over D destinations (D domains,
   each routed by a `transport` line to its own SMTP sink on loopback);
   dmaild is started and the time until the queue is empty gives
   messages/s. Run for D = 1, 10, 100.
2. Queue scan: N queue files, then the time dmail-queued reports for its
   start-up scan ("scan took X ms" in its log).

    python3 contrib/bench/outbound.py [--builddir DIR] [--messages M]
        [--size S] [--dests 1,10,100] [--scan N] [--concurrency C]
        [--workers W]

Needs a build tree (default: ./ or DMAIL_BUILDDIR) and runs as root or as a
normal user. The sinks are Python (t/sink.py) and share one core with
everything else, so figures are a lower bound for dmail-queued itself.

Figures on the 2-core development machine (shared, load average ~6),
5,000 messages of 4 KB, smtp_dest_concurrency 10, delivery_workers_max 20:
    1 destination     4,608 msg/s   (10 SMTP connections)
    10 destinations   4,491 msg/s   (34 connections)
    100 destinations  2,084 msg/s   (341 connections)
    queue scan of 100,000 queue files at start: 3.3 s
A delivered single-recipient message costs no fsync in dmail-queued (its
queue file is removed); a partly delivered one costs one per transaction.
"""

import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "t"))


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--builddir", default=os.environ.get("DMAIL_BUILDDIR",
                                                        os.getcwd()))
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--dests", default="1,10,100")
    p.add_argument("--scan", type=int, default=100000)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--workers", type=int, default=20)
    return p.parse_args()


A = args()
os.environ["DMAIL_BUILDDIR"] = os.path.abspath(A.builddir)
os.environ["DMAIL_SRCDIR"] = SRC
import dmailtest as dt  # noqa: E402
from sink import Sink  # noqa: E402

QUEUED = dt.prog("queued/dmail-queued")


def owner_ids():
    if not dt.RUN_AS:
        return None
    import pwd
    pw = pwd.getpwnam(dt.RUN_AS)
    return pw.pw_uid, pw.pw_gid


def body(size, n):
    head = ("Received: from bench.test by mx.example.test\n"
            "From: bench@example.test\nSubject: bench %d\n\n" % n)
    line = "x" * 75 + "\n"
    out = head
    while len(out) < size:
        out += line
    return out[:size - 1] + "\n"


def write_queue(state_dir, count, domains, size):
    """Write count queue files; recipients cycle over domains."""
    q = os.path.join(state_dir, "spool", "queue")
    os.makedirs(q, exist_ok=True)
    for sub in ("tmp", "defer"):
        os.makedirs(os.path.join(state_dir, "spool", sub), exist_ok=True)
    ids = owner_ids()
    now = int(time.time())
    msg = body(size, 0)
    for i in range(count):
        qid = "BENCH%010X" % i
        d = domains[i % len(domains)]
        text = ("dmail-queue 1\nid %s\narrival %d\nsender "
                "bench@example.test\nrcpt P\tuser%d@%s\tuser%d@%s\n\n%s"
                % (qid, now, i, d, i, d, msg))
        path = os.path.join(q, qid)
        with open(path, "w") as f:
            f.write(text)
        if ids:
            os.chown(path, *ids)
    if ids:
        for root, dirs, _files in os.walk(os.path.join(state_dir, "spool")):
            os.chown(root, *ids)
            for d in dirs:
                os.chown(os.path.join(root, d), *ids)


def server(extra):
    return dt.Server(start=False, smtp=True,
                     extra="queue_program %s\nsmtp_program %s\n"
                     "smtp_dest_concurrency %d\ndelivery_workers_max %d\n"
                     "queue_retry_min 1\nqueue_retry_max 2\n"
                     "log stderr info\n%s"
                     % (QUEUED, dt.SMTPD, A.concurrency, A.workers, extra))


def queue_len(srv):
    try:
        return len(os.listdir(os.path.join(srv.state_dir, "spool",
                                           "queue")))
    except FileNotFoundError:
        return 0


def throughput(ndest):
    sinks = [Sink(record=False).start() for _ in range(ndest)]
    domains = ["d%d.test" % i for i in range(ndest)]
    extra = "".join("transport %s [127.0.0.1]:%d\n" % (d, s.port)
                    for d, s in zip(domains, sinks))
    srv = server(extra)
    # "log stderr info" twice is an error: drop the harness's line.
    srv.base_lines = [l for l in srv.base_lines if not l.startswith("log ")]
    srv.write_conf()
    os.makedirs(os.path.join(srv.state_dir, "spool"), exist_ok=True)
    write_queue(srv.state_dir, A.messages, domains, A.size)
    t0 = time.monotonic()
    srv.start()
    try:
        dt.wait_for(lambda: queue_len(srv) == 0, 600, interval=0.02,
                    what="empty queue")
        elapsed = time.monotonic() - t0
        got = sum(s.count for s in sinks)
    finally:
        srv.stop()
        for s in sinks:
            s.stop()
    conns = sum(s.connections for s in sinks)
    srv.cleanup()
    return elapsed, got, conns


def scan(n):
    srv = server("transport example.net [127.0.0.1]:9\n")
    srv.base_lines = [l for l in srv.base_lines if not l.startswith("log ")]
    srv.write_conf()
    os.makedirs(os.path.join(srv.state_dir, "spool"), exist_ok=True)
    t0 = time.monotonic()
    write_queue(srv.state_dir, n, ["example.net"], 1024)
    wrote = time.monotonic() - t0
    # Hold everything so the scan is measured without a delivery storm:
    # a transport to the discard port 9 fails fast anyway.
    srv.start()
    try:
        m = dt.wait_for(lambda: re.search(
            r"event=qmgr-start count=(\d+) ms=(\d+)", srv.log_text()), 600,
            what="scan log line")
    finally:
        srv.stop()
    srv.cleanup()
    return int(m.group(1)), int(m.group(2)), wrote


def main():
    print("dmail-queued benchmark: %d messages of %d bytes, "
          "smtp_dest_concurrency %d, delivery_workers_max %d"
          % (A.messages, A.size, A.concurrency, A.workers))
    for nd in [int(x) for x in A.dests.split(",") if x]:
        elapsed, got, conns = throughput(nd)
        print("destinations %3d: %d delivered in %.2f s = %.0f msg/s "
              "(%d SMTP connections)" % (nd, got, elapsed, got / elapsed,
                                         conns), flush=True)
    if A.scan:
        count, ms, wrote = scan(A.scan)
        print("queue scan: %d messages loaded in %d ms (writing them took "
              "%.1f s)" % (count, ms, wrote), flush=True)


if __name__ == "__main__":
    main()
