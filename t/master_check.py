#!/usr/bin/env python3
"""dmaild start-up: -n checks a file and prints every error with file and
line, bad files and taken resources stop dmaild with status 1 before it
detaches, daemon mode writes a pid file and obeys tellsmtp."""

import os
import subprocess
import time

import dmailtest as dt
from master_common import Session, alive, tw_server


def run(*args, **kw):
    return subprocess.run([dt.DMAILD] + list(args), capture_output=True,
                          text=True, timeout=30, **kw)


def test_check_ok_and_errors():
    srv = tw_server(start=False)
    try:
        r = run("-n", "-c", srv.conf_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "%s: ok\n" % srv.conf_path, r.stdout
        text = srv.conf_text()
        srv.write_conf(text=text + "smtp_lisen 127.0.0.1:25\n"
                       "smtp_workers_min 1000\n"
                       "pop3_listen nowhere\n")
        r = run("-n", "-c", srv.conf_path)
        assert r.returncode == 1
        n = len(text.splitlines())
        name = srv.conf_path
        assert "%s:%d: unknown key 'smtp_lisen'" % (name, n + 1) in r.stderr
        assert "%s:%d:" % (name, n + 3) in r.stderr, r.stderr
        assert "pop3_listen" in r.stderr
        assert r.stdout == ""
        # Starting with that file fails the same way, at once.
        r = run("-f", "-c", srv.conf_path)
        assert r.returncode == 1 and "smtp_lisen" in r.stderr
        r = run("-n", "-c", os.path.join(srv.tmp, "missing.conf"))
        assert r.returncode == 1 and "missing.conf" in r.stderr
        if dt.IS_ROOT:
            srv.write_conf(text=text.replace("run_as nobody\n", ""))
            r = run("-n", "-c", srv.conf_path)
            assert r.returncode == 1
            assert "run_as must name an unprivileged user" in r.stderr
            srv.write_conf(text=text.replace("run_as nobody", "run_as root"))
            r = run("-n", "-c", srv.conf_path)
            assert r.returncode == 1 and "root" in r.stderr
        missing = os.path.join(srv.tmp, "no-such-worker")
        srv.write_conf(text=text.replace(dt.TESTWORKER, missing))
        r = run("-n", "-c", srv.conf_path)
        assert r.returncode == 1
        assert "smtp_program %s: No such file" % missing in r.stderr, \
            r.stderr
        r = run("-x")
        assert r.returncode == 2 and "usage" in r.stderr
    finally:
        srv.cleanup()


def test_second_master_refused():
    with tw_server(workers=(1, 3, 10)) as srv:
        r = run("-f", "-c", srv.conf_path)
        assert r.returncode == 1
        assert "event=already-running pid=%d " % srv.proc.pid \
            in r.stderr, r.stderr
        assert srv.running()


def test_daemon_mode():
    srv = tw_server(workers=(1, 3, 10), start=False)
    try:
        r = run("-c", srv.conf_path)
        assert r.returncode == 0, r.stderr
        # The harness configures "log stderr": detached, that would be
        # /dev/null, so dmaild says it logs to syslog instead, and tells
        # its workers to do the same.
        assert "log stderr without -f: logging to syslog" in r.stderr, \
            r.stderr
        pidfile = os.path.join(srv.state_dir, "run", "dmaild.pid")
        dt.wait_for(lambda: os.path.exists(pidfile) and
                    open(pidfile).read().strip(), 5, what="pid file")
        pid = int(open(pidfile).read())
        assert alive(pid)
        s = dt.wait_for(lambda: _try_session(srv.port("smtp")), 5,
                        what="daemon serving")
        assert s.cmd("HOSTNAME") == "+OK one.example.test"
        assert b"DMAIL_LOG_SYSLOG=1" in \
            open("/proc/%d/environ" % s.pid, "rb").read().split(b"\0")
        s.close()
        for sub in ("spool", "mail", "db", "run"):
            assert os.path.isdir(os.path.join(srv.state_dir, sub))
        if dt.IS_ROOT:
            import pwd
            nobody = pwd.getpwnam("nobody").pw_uid
            assert os.stat(os.path.join(srv.state_dir, "spool")).st_uid \
                == nobody
        r = srv.tell("shutdown")
        assert r.returncode == 0, r.stderr
        dt.wait_for(lambda: not alive(pid), 10, what="daemon exit")
        dt.wait_for(lambda: not srv.worker_pids(), 5, what="workers gone")
        assert not os.path.exists(pidfile)
    finally:
        for p in srv.worker_pids():
            os.kill(p, 9)
        srv.cleanup()


def _try_session(port):
    try:
        return Session(port)
    except OSError:
        return None


if __name__ == "__main__":
    dt.main([test_check_ok_and_errors, test_second_master_refused,
             test_daemon_mode])
