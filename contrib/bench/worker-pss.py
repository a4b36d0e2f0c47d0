#!/usr/bin/env python3
"""worker-pss.py - where the memory of an idle DMail worker goes.

Starts a dmaild from a build tree (through t/dmailtest.py) with the real
dmail-smtpd and dmail-pop3d, opens N sessions on smtp, pop3 and (with TLS)
pop3s, reads each greeting and leaves them idle, then sums
/proc/PID/smaps of every worker per mapping (library and permissions,
[heap], [stack], [anon]) and prints PSS and private dirty per worker.

At a scale of thousands of workers each shared page's PSS share tends to
zero, so "private dirty" is what one more idle session costs; the PSS of a
run with few workers also counts a share of the library text.

usage: worker-pss.py [-n N] [--no-tls] [--spawn template|exec]
                     [--builddir DIR] [--min-kb K]

Measured 2026-11-24 (2-core machine, other jobs running), N=4, TLS on,
after commit "worker: malloc_trim()":
  dmail-smtpd  PSS 1429 kB, private dirty 1094 kB:
               libcrypto.so.3 r--p 392 (relocated .data.rel.ro/GOT,
               written by the dynamic linker at load), [heap] 425 (the
               SSL_CTX and OpenSSL's provider/algorithm caches, error
               strings), libssl 56, [anon] 52, libdb 40, libc 24,
               [stack] 23, libnss_systemd+libcap+libm (getpwnam for
               run_as) ~40, ld.so 16
  dmail-pop3d  PSS 1448 kB, private dirty 1119 kB (same shape)
  without TLS: dmail-smtpd private dirty 699 kB ([heap] 39 kB);
               dmail-pop3d 892 kB: its greeting calls RAND_bytes() for
               the APOP timestamp, which initialises OpenSSL's DRBG and
               providers in every session ([heap] 231 kB)
"""

import argparse
import collections
import os
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=4, help="sessions per role")
    ap.add_argument("--no-tls", action="store_true",
                    help="no tls_cert/tls_key (and no pop3s listener)")
    ap.add_argument("--spawn", default="template",
                    choices=("template", "exec"), help="worker_spawn")
    ap.add_argument("--builddir", default=os.environ.get("DMAIL_BUILDDIR"))
    ap.add_argument("--min-kb", type=float, default=4,
                    help="hide mappings below this PSS per worker")
    return ap.parse_args()


def smaps(pid):
    """{mapping name: Counter(Pss=, Private_Dirty=, ...)} of one process."""
    out = collections.defaultdict(collections.Counter)
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if not parts[0].endswith(":"):
                path = parts[5] if len(parts) > 5 else "[anon]"
                name = "%s %s" % (os.path.basename(path), parts[1])
            elif parts[0] in ("Pss:", "Private_Dirty:", "Private_Clean:"):
                out[name][parts[0][:-1]] += int(parts[1])
    return out


def report(label, pids, min_kb):
    total = collections.Counter()
    per = collections.defaultdict(collections.Counter)
    for pid in pids:
        for name, c in smaps(pid).items():
            per[name].update(c)
            total.update(c)
    n = len(pids)
    print("%s: %d workers, per worker PSS %.0f kB, private dirty %.0f kB"
          % (label, n, total["Pss"] / n, total["Private_Dirty"] / n))
    for name, c in sorted(per.items(), key=lambda kv: -kv[1]["Pss"]):
        if c["Pss"] / n >= min_kb:
            print("  %-34s PSS %6.0f  private dirty %6.0f"
                  % (name, c["Pss"] / n, c["Private_Dirty"] / n))


def main():
    args = parse()
    if args.builddir:
        os.environ["DMAIL_BUILDDIR"] = os.path.abspath(args.builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "..", "t"))
    import dmailtest as dt

    tls = not args.no_tls
    roles = ("smtp", "pop3", "pop3s") if tls else ("smtp", "pop3")
    n = args.n
    srv = dt.Server(smtp=True, pop3=True, pop3s=tls, tls=tls,
                    workers={"smtp": (1, n + 4, 100),
                             "pop3": (1, 2 * n + 4, 100)},
                    extra="smtp_program %s\npop3_program %s\n"
                    "worker_spawn %s\n" % (dt.SMTPD, dt.POP3D, args.spawn))
    socks = []
    try:
        for role in roles:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", srv.port(role)))
                if role == "pop3s":
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    s = ctx.wrap_socket(s)
                s.recv(1024)
                socks.append(s)
        time.sleep(1.5)
        groups = collections.defaultdict(list)
        for pid in srv.worker_pids():
            exe = os.path.basename(os.readlink("/proc/%d/exe" % pid))
            groups[exe].append(pid)
        for exe in sorted(groups):
            report(exe + (" (TLS configured)" if tls else " (no TLS)"),
                   groups[exe], args.min_kb)
        for pid in srv.template_pids():
            exe = os.path.basename(os.readlink("/proc/%d/exe" % pid))
            report("template " + exe, [pid], 1e9)
        report("dmaild (master)", [srv.proc.pid], 1e9)
    finally:
        for s in socks:
            s.close()
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    main()
