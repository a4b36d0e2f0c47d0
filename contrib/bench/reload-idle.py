#!/usr/bin/env python3
"""reload-idle.py - `tellsmtp reload` with thousands of idle workers.

Starts a dmaild from a build tree (through t/dmailtest.py) whose smtp pool
keeps N idle workers (smtp_workers_min N; the test worker by default, the
real dmail-smtpd with --smtp), waits until all N are idle, then reloads a
few times and measures:

  reply      time from `tellsmtp reload` to its "+OK reloaded" answer
             (issue 9: must be under a second at any pool size)
  status     time of a `tellsmtp status` sent right after the reply,
             while the old generation retires and the new one starts
  back       time until the pool has N idle workers again, all of the
             new generation

usage: reload-idle.py [-n N] [--smtp] [--spawn template|exec]
                      [--reloads R] [--builddir DIR]

Run as root (workers drop to nobody); the limits of dmaild(8), OPERATING
SYSTEM LIMITS, apply (kernel.pid_max >= 2 * N). Figures are in
contrib/bench/README.md.
"""

import argparse
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5000, help="idle workers")
    ap.add_argument("--smtp", action="store_true",
                    help="run dmail-smtpd instead of the test worker")
    ap.add_argument("--spawn", default="template",
                    choices=("template", "exec"))
    ap.add_argument("--reloads", type=int, default=3)
    ap.add_argument("--builddir", default=os.environ.get("DMAIL_BUILDDIR"))
    return ap.parse_args()


def main():
    args = parse()
    if args.builddir:
        os.environ["DMAIL_BUILDDIR"] = os.path.abspath(args.builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "..", "t"))
    import dmailtest as dt
    from master_common import status

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (min(hard, max(soft, 4 * args.n + 1024)), hard))
    prog = dt.SMTPD if args.smtp else dt.TESTWORKER
    n = args.n
    srv = dt.Server(smtp=True, workers={"smtp": (n, n + 64, 100000)},
                    start=False, hostname="one.example.test")
    text = srv.conf_text().replace("log stderr debug\n", "").replace(
        "worker_idle_timeout 2\n", "")
    text += ("smtp_program %s\nworker_spawn %s\nlog stderr warning\n"
             "worker_idle_timeout 3600\n" % (prog, args.spawn))
    srv.write_conf(text=text)
    srv.start()

    def idle_new(gen):
        st = status(srv).get("smtp", {})
        return (int(st.get("idle", 0)) >= n and
                int(st.get("generation", 0)) == gen and
                int(st.get("workers", 0)) <= n + 64 and st)

    try:
        t0 = time.monotonic()
        dt.wait_for(lambda: idle_new(1), 30 + n / 10, interval=0.5,
                    what="%d idle workers" % n)
        print("%d idle workers after %.1f s" % (n, time.monotonic() - t0))
        for i in range(args.reloads):
            t0 = time.monotonic()
            r = srv.tell("reload")
            reply = time.monotonic() - t0
            assert r.returncode == 0, r.stdout + r.stderr
            t1 = time.monotonic()
            srv.tell("status")
            st = time.monotonic() - t1
            dt.wait_for(lambda: idle_new(i + 2), 30 + n / 10, interval=0.2,
                        what="pool back to %d idle" % n)
            print("reload %d: reply %.3f s, status right after %.3f s, "
                  "%d idle of the new generation after %.1f s"
                  % (i + 1, reply, st, n, time.monotonic() - t0),
                  flush=True)
    finally:
        srv.stop(timeout=120)
        srv.cleanup()


if __name__ == "__main__":
    main()
