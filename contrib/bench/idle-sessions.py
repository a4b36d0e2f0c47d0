#!/usr/bin/env python3
"""idle-sessions.py - how many concurrent idle sessions dmaild holds, and
what they cost.

Starts a dmaild from a build tree (through t/dmailtest.py) whose smtp pool
runs the test worker (default) or the real dmail-smtpd (--smtp), opens N
sessions and keeps them idle, then measures:

  ramp       time until all N sessions got their greeting, i.e. the
             worker spawn rate (each session is one worker process)
  latency    greeting latency of a fresh session while N are held
  pss        PSS per worker (and of the master), /proc/PID/smaps_rollup
  reload     SIGHUP with a new hostname under the N sessions: time until
             a fresh session runs the new generation, and how many of the
             N held sessions were dropped (each must still answer)

usage: idle-sessions.py [-n N] [--smtp] [--tls] [--builddir DIR] [--no-reload]

Measured on the 2-core, 24 GB build machine (shared with other jobs,
load average ~7), test worker, plain build:

  -n 2000   ramp 19.5 s (103 workers/s), fresh greeting <= 0.039 s,
            PSS 643 kB per worker, master 724 kB, reload 0.043 s,
            0 of 2000 sessions dropped, shutdown 0.2 s, no process left
  -n 10000  ramp 103.5 s (97 workers/s), fresh greeting <= 0.048 s,
            PSS 642 kB per worker (6.4 GB for 10,000), master 1.9 MB,
            reload 0.075 s, 0 of 10000 dropped, shutdown 0.2 s

  --smtp -n 500   ramp 6.8 s (74 workers/s), fresh greeting <= 0.005 s,
            PSS 775 kB per worker, reload 0.057 s, 0 of 500 dropped
  --smtp -n 10000 did not complete before commit d6aca76: beyond
            ~1,000 dmail-smtpd workers the spawn rate fell to ~5/s (every
            worker joined the user database's Berkeley DB environment with
            DB_REGISTER) and retiring workers hung in userdb_close().

After d6aca76 (userdb joins at the first lookup), 2026-11-24, load
average 10 to 20 from other jobs:

  --smtp -n 10000        ramp 47.4 s (211 workers/s), fresh greeting
            <= 0.019 s, PSS 710 kB per worker, master 1.9 MB, reload
            0.029 s, 0 of 10000 dropped
  --smtp --tls -n 10000  (tls_cert/tls_key set: each worker builds its
            SSL_CTX) ramp 122.5 s (82 workers/s), fresh greeting
            <= 0.055 s, PSS 1099 kB per worker (11 GB in all), master
            1.9 MB, reload 0.143 s, 0 of 10000 dropped, shutdown 0.0 s,
            no process left
  See worker-pss.py for where each worker's memory goes.

Run as root (workers drop to nobody) after raising limits; see dmaild(8),
OPERATING SYSTEM LIMITS: for 10,000 sessions `ulimit -n 1048576` and
kernel.pid_max >= 2 * N. This script raises its own RLIMIT_NOFILE.
"""

import argparse
import os
import resource
import selectors
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000, help="sessions to hold")
    ap.add_argument("--smtp", action="store_true",
                    help="use smtpd/dmail-smtpd instead of t/testworker")
    ap.add_argument("--builddir", default=os.environ.get("DMAIL_BUILDDIR"))
    ap.add_argument("--no-reload", action="store_true")
    ap.add_argument("--tls", action="store_true",
                    help="set tls_cert/tls_key (STARTTLS offered), as a "
                    "real deployment does: each worker builds its SSL_CTX")
    ap.add_argument("--spawn", default="template",
                    choices=("template", "exec"), help="worker_spawn")
    ap.add_argument("--batch", type=int, default=256,
                    help="connections awaiting their greeting at once")
    return ap.parse_args()


def pss_kb(pid, field="Pss:"):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def open_sessions(port, n, batch):
    """Open n sessions, at most batch waiting for a greeting at once.
    Returns (sockets, seconds)."""
    sel = selectors.DefaultSelector()
    done = []
    pending = 0
    t0 = time.monotonic()
    opened = 0
    while len(done) < n:
        while opened < n and pending < batch:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_READ, bytearray())
            opened += 1
            pending += 1
        for key, _ in sel.select(timeout=30):
            s, buf = key.fileobj, key.data
            try:
                data = s.recv(512)
            except BlockingIOError:
                continue
            if not data:
                raise SystemExit("session closed before its greeting "
                                 "(%d held)" % len(done))
            buf += data
            if b"\n" in buf:
                sel.unregister(s)
                pending -= 1
                done.append(s)
        if time.monotonic() - t0 > 600:
            raise SystemExit("gave up after 600s with %d sessions"
                             % len(done))
    sel.close()
    return done, time.monotonic() - t0


def greet_latency(port):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    line = f.readline()
    took = time.monotonic() - t0
    s.close()
    return took, line.decode(errors="replace").strip()


def check_alive(socks, testworker):
    """Every held session must still answer. Returns the dropped count."""
    cmd = b"ECHO ping\r\n" if testworker else b"NOOP\r\n"
    dropped = 0
    for s in socks:
        s.setblocking(True)
        s.settimeout(30)
        try:
            s.sendall(cmd)
        except OSError:
            dropped += 1
    for s in socks:
        try:
            line = b""
            while not line.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                line += chunk
            if not (line.startswith(b"+OK") or line.startswith(b"250")):
                dropped += 1
        except OSError:
            dropped += 1
    return dropped


def main():
    args = parse()
    if args.builddir:
        os.environ["DMAIL_BUILDDIR"] = os.path.abspath(args.builddir)
    srcdir = os.path.abspath(os.path.join(HERE, "..", ".."))
    sys.path.insert(0, os.path.join(srcdir, "t"))
    import dmailtest as dt

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 2 * args.n + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    prog = dt.SMTPD if args.smtp else dt.TESTWORKER
    extra = ("smtp_program %s\nlisten_backlog 65535\nlog stderr info\n"
             "worker_spawn %s\n"
             # every session comes from 127.0.0.1
             "client_connection_limit 0\nclient_connection_rate_limit 0\n" % (prog, args.spawn))
    if args.smtp:
        # Held sessions must outlive a slow ramp.
        extra += "smtp_command_timeout 3600\n"
    srv = dt.Server(smtp=True, tls=args.tls, workers={"smtp": (8, args.n + 64, 100000)},
                    extra="", start=False, hostname="one.example.test")
    # "log" is already in the harness lines: replace it, keep the rest.
    text = srv.conf_text().replace("log stderr debug\n", "") + extra
    srv.write_conf(text=text)
    srv.start()
    port = srv.port("smtp")
    try:
        socks, ramp = open_sessions(port, args.n, args.batch)
        print("held %d sessions; ramp %.1fs = %.0f workers started/s"
              % (args.n, ramp, args.n / ramp))
        lat = [greet_latency(port)[0] for _ in range(5)]
        print("fresh-session greeting latency with %d held: min %.3fs "
              "max %.3fs" % (args.n, min(lat), max(lat)))
        pids = srv.worker_pids()
        sample = pids[:: max(1, len(pids) // 200)]
        vals = [v for v in (pss_kb(p) for p in sample) if v]
        priv = [v for v in (pss_kb(p, "Private_Dirty:") for p in sample)
                if v]
        if vals:
            print("PSS per worker: mean %.0f kB, max %d kB (%d sampled of "
                  "%d; private dirty mean %.0f kB); master %s kB"
                  % (sum(vals) / len(vals), max(vals), len(vals),
                     len(pids), sum(priv) / max(1, len(priv)),
                     pss_kb(srv.proc.pid)))
        if not args.no_reload:
            srv.write_conf(text=text.replace("hostname one.example.test",
                                             "hostname two.example.test"))
            t0 = time.monotonic()
            srv.signal(signal.SIGHUP)
            while True:
                took, greeting = greet_latency(port)
                if args.smtp and "two.example.test" in greeting:
                    break
                if not args.smtp and " gen=2 " in greeting:
                    break
                if time.monotonic() - t0 > 60:
                    raise SystemExit("reload did not take effect in 60s")
            print("reload under %d sessions: new generation serving after "
                  "%.3fs" % (args.n, time.monotonic() - t0))
        dropped = check_alive(socks, not args.smtp)
        print("sessions dropped: %d of %d" % (dropped, args.n))
        for s in socks:
            s.close()
    finally:
        t0 = time.monotonic()
        code = srv.stop(timeout=120)
        print("shutdown: exit %s after %.1fs; processes left: %d"
              % (code, time.monotonic() - t0, len(srv.worker_pids())))
        srv.cleanup()


if __name__ == "__main__":
    main()
