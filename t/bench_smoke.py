#!/usr/bin/env python3
"""bench_smoke - dmail-bench against a real dmaild, with small numbers.

Not a performance test (nothing here is timed): it proves that the load
generator used for the benchmarks in contrib/bench keeps working against
the real SMTP and POP3 workers - every message it sends arrives, byte
counts add up, POP3 and POP3S retrieval fetch every message, idle mode
holds sessions - and that it reports failures with a non-zero exit.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

BENCH = dt.prog("util/dmail-bench")
USERS = ["bench%d@example.test" % i for i in (1, 2, 3)]


def bench(*args, ok=True):
    if not os.path.exists(BENCH):
        raise dt.SkipTest("dmail-bench not built")
    r = subprocess.run([BENCH] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=120)
    if ok and r.returncode != 0:
        raise AssertionError("dmail-bench %s: exit %d\n%s%s"
                             % (" ".join(map(str, args)), r.returncode,
                                r.stdout, r.stderr))
    return r


def server():
    srv = dt.Server(smtp=True, pop3=True, pop3s=True, tls=True,
                    workers={"smtp": (2, 10, 1000), "pop3": (2, 10, 1000)},
                    extra="smtp_program %s\npop3_program %s\n"
                          % (dt.SMTPD, dt.POP3D))
    try:
        for u in USERS:
            srv.add_user(u, "pw")
    except BaseException:
        # Not yet inside "with": stop the server here.
        srv.__exit__(*sys.exc_info())
        raise
    return srv


def count(text, pattern):
    m = re.search(pattern, text)
    assert m, "no %r in:\n%s" % (pattern, text)
    return m.group(1)


def test_smtp_then_pop3():
    with server() as srv:
        dirs = ",".join(srv.maildir(u) for u in USERS)
        # 60 messages of 2000 bytes, two recipients each, round-robin
        r = bench("smtp", "-H", "127.0.0.1", "-p", srv.port("smtp"),
                  "-c", 4, "-n", 60, "-s", 2000, "-k", 2,
                  "-r", ",".join(USERS), "--wait-maildir", dirs)
        assert "ok=60 failed=0 sessions_failed=0" in r.stdout, r.stdout
        assert "maildir: 120 of 120 files" in r.stdout, r.stdout
        files = [f for u in USERS for f in srv.maildir_messages(u)]
        assert len(files) == 120, len(files)
        for u in USERS:
            assert len(srv.maildir_messages(u)) == 40, u
        # Each stored message: our 2000 bytes (LF line ends in the
        # Maildir) plus the trace headers DMail prepends.
        with open(files[0], "rb") as f:
            data = f.read()
        body = data[data.index(b"From: <"):]
        assert len(body) + body.count(b"\n") == 2000, len(body)

        # No pipelining: same result, one command at a time.
        r = bench("smtp", "-H", "127.0.0.1", "-p", srv.port("smtp"),
                  "-c", 2, "-n", 9, "-s", "1k", "-r", USERS[0],
                  "--no-pipelining")
        assert "ok=9 failed=0" in r.stdout, r.stdout
        srv.wait_messages(USERS[0], 49)

        # Every message of every mailbox, over POP3 and POP3S.
        for tls in ([], ["--tls"]):
            port = srv.port("pop3s" if tls else "pop3")
            r = bench("pop3", "-H", "127.0.0.1", "-p", port, "-c", 3,
                      "-u", "bench%d@example.test", "-w", "pw", "-P", 4,
                      "-l", 2, *tls)
            assert "messages ok=258 failed=0 sessions_failed=0" \
                in r.stdout, r.stdout
            assert "(6 logins)" in r.stdout, r.stdout
        # Nothing was deleted.
        assert sum(len(srv.maildir_messages(u)) for u in USERS) == 129


def test_failures_are_reported():
    with server() as srv:
        # Unknown recipient: 550 at RCPT, counted as failed, exit 1.
        r = bench("smtp", "-H", "127.0.0.1", "-p", srv.port("smtp"),
                  "-c", 2, "-n", 4, "-s", 500,
                  "-r", "nobody@example.test", ok=False)
        assert r.returncode == 1, r
        assert "ok=0 failed=4" in r.stdout, r.stdout
        assert "550" in r.stderr, r.stderr
        # Wrong password: the session fails at PASS.
        r = bench("pop3", "-H", "127.0.0.1", "-p", srv.port("pop3"),
                  "-c", 1, "-u", "bench%d@example.test", "-w", "wrong",
                  ok=False)
        assert r.returncode == 1, r
        assert "sessions_failed=1" in r.stdout, r.stdout
        assert "PASS: -ERR" in r.stderr, r.stderr
        # Nobody listening.
        r = bench("smtp", "-H", "127.0.0.1", "-p", dt.free_port(), "-c", 1,
                  "-n", 1, "-s", 100, "-r", USERS[0], ok=False)
        assert r.returncode == 1, r
        assert "Connection refused" in r.stderr, r.stderr
        # Usage errors.
        r = bench("pop3", "-H", "127.0.0.1", "-p", 1, "-u", "x", "-w", "y",
                  ok=False)
        assert r.returncode == 2, r


def test_idle_sessions():
    with server() as srv:
        r = bench("idle", "-H", "127.0.0.1", "-p", srv.port("smtp"),
                  "-c", 8, "-t", 2)
        assert "idle: 8 sessions held (0 failed)" in r.stdout, r.stdout
        assert "8 of 8 sessions still open" in r.stdout, r.stdout
        assert int(count(r.stdout, r"(\d+) greeted")) >= 1


if __name__ == "__main__":
    dt.main([test_smtp_then_pop3, test_failures_are_reported,
             test_idle_sessions])
