#!/usr/bin/env python3
"""Each server controlled on its own: tellpop / tellsmtp shutdown, start
and reload act on their own pools through the control socket while the
other pools serve on (real dmail-smtpd and dmail-pop3d, real clients).

- tellpop shutdown: POP3 refuses connections, SMTP still accepts and
  delivers; a POP3 session in progress completes; tellpop start: POP3
  answers again on the same port; status shows the pool stopped.
- tellpop reload: new POP3 sessions run the new configuration, the SMTP
  workers keep theirs (same pids, same generation, old hostname).
- tellsmtp reload --all and SIGHUP reload every pool; an invalid file
  changes nothing.
- The master exits when the last pool is stopped.
- tellsmtp without the rights to the control socket says so.
"""

import os
import poplib
import pwd
import signal
import smtplib
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
from master_common import status, without_node  # noqa: E402

USER = "alice@example.test"


def server(hostname="one.example.test", extra=""):
    for p in (dt.SMTPD, dt.POP3D):
        if not os.path.exists(p):
            raise dt.SkipTest("%s not built" % p)
    return dt.Server(smtp=True, pop3=True, hostname=hostname,
                     workers={"smtp": (2, 10, 100), "pop3": (1, 10, 100)},
                     extra="smtp_program %s\npop3_program %s\n%s"
                     % (dt.SMTPD, dt.POP3D, extra))


def tell(srv, name, *args):
    """Run the control tool under one of its names (tellpop, ...)."""
    link = os.path.join(srv.tmp, name)
    if not os.path.exists(link):
        os.symlink(dt.TELLSMTP, link)
    return srv.tell(*args, prog_name=link)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def pop3_greeting(port):
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    try:
        return p.getwelcome().decode()
    finally:
        p.quit()


def send(srv, subject, to=USER):
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.sendmail("bob@example.org", [to],
                   "Subject: %s\r\n\r\nhello\r\n" % subject)


def smtp_greeting(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        line = c.makefile("rb").readline().decode()
        c.sendall(b"QUIT\r\n")
        return line


def pool_pids(srv, role):
    """Worker pids serving role (DMAIL_LISTEN in their environment)."""
    out = []
    for pid in srv.worker_pids():
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if ("DMAIL_LISTEN=%s" % role).encode() in env:
            out.append(pid)
    return set(out)


def pool_uptimes(srv):
    m = dict(l.rsplit(" ", 1) for l in without_node(tell(
        srv, "tellpop", "status", "--prometheus").stdout).splitlines()
        if l and not l.startswith("#"))
    return {pool: int(m['dmail_pool_uptime_seconds{pool="%s"}' % pool])
            for pool in ("smtp", "pop3")}


def test_pop3_stop_start_smtp_serves_on():
    with server() as srv:
        srv.add_user(USER)
        master = srv.proc.pid
        # The pools have run 2 s when POP3 stops: after its start, its
        # uptime counts from then, not from the master's start.
        dt.wait_for(lambda: pool_uptimes(srv)["smtp"] >= 2, 30,
                    what="pools up for 2 s")
        r = tell(srv, "tellpop", "shutdown")
        assert r.returncode == 0 and "stopping pop3" in r.stdout, r
        dt.wait_for(lambda: refused(srv.port("pop3")), 10,
                    what="POP3 port refuses connections")
        st = status(srv)
        assert st["pop3"]["state"] == "stopped", st
        assert st["smtp"]["state"] == "running", st
        # SMTP accepts and delivers meanwhile.
        send(srv, "while pop3 is stopped")
        srv.wait_messages(USER, 1)
        dt.wait_for(lambda: not pool_pids(srv, "pop3"), 10,
                    what="POP3 workers gone")
        assert srv.running() and srv.proc.pid == master
        r = tell(srv, "tellpop", "start")
        assert r.returncode == 0 and "started pop3" in r.stdout, r
        dt.wait_for(lambda: not refused(srv.port("pop3")), 10,
                    what="POP3 port accepts again")
        assert pop3_greeting(srv.port("pop3")).startswith("+OK DMail")
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=10)
        p.user(USER)
        p.pass_("secret")
        assert p.stat()[0] == 1
        p.quit()
        assert status(srv)["pop3"]["state"] == "running"
        m = dict(l.rsplit(" ", 1) for l in without_node(tell(
            srv, "tellpop", "status", "--prometheus").stdout).splitlines()
            if l and not l.startswith("#"))
        assert m['dmail_pool_stopped{pool="pop3"}'] == "0", m
        up = pool_uptimes(srv)
        assert up["pop3"] < up["smtp"], up
        # Starting a pool that runs is harmless.
        r = tell(srv, "tellpop", "start")
        assert r.returncode == 0, r


def test_pop3_session_completes_during_shutdown():
    with server() as srv:
        srv.add_user(USER)
        send(srv, "one")
        srv.wait_messages(USER, 1)
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=10)
        p.user(USER)
        p.pass_("secret")
        r = tell(srv, "tellpop", "shutdown")
        assert r.returncode == 0, r
        dt.wait_for(lambda: refused(srv.port("pop3")), 10,
                    what="POP3 port refuses connections")
        # The session in progress goes on to its end.
        assert p.stat()[0] == 1
        body = b"\n".join(p.retr(1)[1])
        assert b"Subject: one" in body
        p.dele(1)
        assert p.quit().startswith(b"+OK")
        dt.wait_for(lambda: not srv.maildir_messages(USER), 10,
                    what="message deleted by the session's QUIT")
        dt.wait_for(lambda: not pool_pids(srv, "pop3"), 10,
                    what="POP3 worker left after its session")
        assert "event=grace-over" not in srv.log_text()


def test_pop3_reload_leaves_smtp_alone():
    with server() as srv:
        dt.wait_for(lambda: len(pool_pids(srv, "smtp")) >= 2, 10,
                    what="smtp workers")
        smtp_before = pool_pids(srv, "smtp")
        assert "one.example.test" in smtp_greeting(srv.port("smtp"))
        assert "@one.example.test>" in pop3_greeting(srv.port("pop3"))
        srv.write_conf(text=srv.conf_text().replace(
            "hostname one.example.test", "hostname two.example.test")
            + "pop3_login_delay 30\n")
        r = tell(srv, "tellpop", "reload")
        assert r.returncode == 0 and "generation 2 (pop3)" in r.stdout, r
        dt.wait_for(lambda: "@two.example.test>" in
                    pop3_greeting(srv.port("pop3")), 10,
                    what="new POP3 sessions on generation 2")
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=10)
        assert p.capa().get("LOGIN-DELAY") == ["30"], p.capa()
        p.quit()
        st = status(srv)
        assert st["pop3"]["generation"] == "2", st
        assert st["smtp"]["generation"] == "1", st
        # SMTP: same workers, same generation, old hostname.
        assert "one.example.test" in smtp_greeting(srv.port("smtp"))
        assert smtp_before <= pool_pids(srv, "smtp"), \
            (smtp_before, pool_pids(srv, "smtp"))
        for pid in smtp_before:
            with open("/proc/%d/environ" % pid, "rb") as f:
                assert b"DMAIL_GENERATION=1" in f.read().split(b"\0")
        # tellsmtp reload: now SMTP follows, POP3 stays on 2.
        r = srv.tell("reload")
        assert r.returncode == 0 and "generation 3 (smtp,queue)" in \
            r.stdout, r
        dt.wait_for(lambda: "two.example.test" in
                    smtp_greeting(srv.port("smtp")), 10,
                    what="SMTP on generation 3")
        st = status(srv)
        assert st["smtp"]["generation"] == "3" and \
            st["pop3"]["generation"] == "2", st


def test_reload_all_and_sighup():
    with server() as srv:
        r = srv.tell("reload", "--all")
        assert r.returncode == 0 and "generation 2 (all pools)" in \
            r.stdout, r
        st = status(srv)
        assert st["smtp"]["generation"] == "2" and \
            st["pop3"]["generation"] == "2", st
        srv.reload()
        dt.wait_for(lambda: all(v["generation"] == "3" for k, v in
                                status(srv).items() if "generation" in v),
                    10, what="every pool on generation 3 after SIGHUP")
        # Workers of generation 2 retired while still starting leave
        # quietly (their listeners closed by the channel's SIGIO).
        dt.wait_for(lambda: smtp_greeting(srv.port("smtp")), 10)
        assert "worker-crash" not in srv.log_text(), srv.log_text()
        # An invalid file is refused and changes nothing, for one pool
        # as for all.
        srv.write_conf(text=srv.conf_text() + "bogus_key 1\n")
        for args in (("reload",), ("reload", "--all")):
            r = tell(srv, "tellpop", *args)
            assert r.returncode == 1 and "invalid" in r.stderr, r
        st = status(srv)
        assert st["smtp"]["generation"] == "3" and \
            st["pop3"]["generation"] == "3", st
        assert "one.example.test" in smtp_greeting(srv.port("smtp"))


def test_master_exits_with_last_pool():
    with server() as srv:
        r = srv.tell("shutdown")
        assert r.returncode == 0 and "stopping smtp" in r.stdout, r
        dt.wait_for(lambda: refused(srv.port("smtp")), 10,
                    what="SMTP port refuses connections")
        assert pop3_greeting(srv.port("pop3")).startswith("+OK")
        assert srv.running()
        r = tell(srv, "tellpop", "shutdown")
        assert r.returncode == 0 and "shutting down" in r.stdout, r
        assert srv.proc.wait(20) == 0
        assert not os.path.exists(srv.control_socket())
        assert "event=shutdown" in srv.log_text()


def test_permission_denied_message():
    if os.geteuid() != 0:
        raise dt.SkipTest("needs root to run tellsmtp as nobody")
    with server() as srv:
        nobody = pwd.getpwnam("nobody")
        r = subprocess.run([dt.TELLSMTP, "-c", srv.conf_path, "status"],
                           capture_output=True, text=True, timeout=30,
                           user=nobody.pw_uid, group=nobody.pw_gid,
                           extra_groups=[])
        assert r.returncode == 1, r
        assert "permission denied on %s: run as root" \
            % srv.control_socket() in r.stderr, r.stderr
        assert "not running" not in r.stderr, r.stderr


if __name__ == "__main__":
    dt.main([test_pop3_stop_start_smtp_serves_on,
             test_pop3_session_completes_during_shutdown,
             test_pop3_reload_leaves_smtp_alone,
             test_reload_all_and_sighup,
             test_master_exits_with_last_pool,
             test_permission_denied_message])
