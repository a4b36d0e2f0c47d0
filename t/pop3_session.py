#!/usr/bin/env python3
"""pop3_session - DPOP against a real dmaild on loopback.

Every command in both states, byte-exact RETR (leading dots, 8-bit data,
messages with and without ,W= sizes, 1 MB and 20 MB), DELE+QUIT /
DELE+RSET / DELE+drop, the maildrop lock ([IN-USE], released on kill -9),
STLS and POP3S, AUTH PLAIN, APOP, plain-text refusal off loopback,
LOGIN-DELAY and the per-connection limit on failed logins.
"""

import hashlib
import os
import poplib
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

USER = "alice@example.test"


def server(**kw):
    extra = kw.pop("extra", "")
    return dt.Server(pop3=kw.pop("pop3", True),
                     extra="pop3_program %s\n%s" % (dt.POP3D, extra), **kw)


def chown_worker(path):
    if dt.RUN_AS:
        import pwd
        pw = pwd.getpwnam(dt.RUN_AS)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def put(srv, name, data, sub="new", address=USER):
    """Place a message file directly into the Maildir."""
    path = os.path.join(srv.maildir(address), sub, name)
    with open(path, "wb") as f:
        f.write(data)
    chown_worker(path)
    return path


def wire(data):
    """What RETR must send for file bytes data (before dot-stuffing)."""
    out = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data and not data.endswith(b"\n"):
        out += b"\r\n"
    return out


def stuffed(data):
    w = wire(data)
    lines = w.split(b"\r\n")
    return b"\r\n".join((b"." + l) if l.startswith(b".") else l
                        for l in lines)


class Raw:
    """A line-level POP3 client on a socket (byte-exact)."""

    def __init__(self, port, host="127.0.0.1", tls=None, source=None):
        self.sock = dt.connect(port, host=host, source=source, timeout=30)
        if tls:
            self.sock = tls.wrap_socket(self.sock)
        self.f = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.f.readline()

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def multi(self):
        data = b""
        while True:
            l = self.line()
            if not l:
                raise AssertionError("connection closed in multi-line")
            if l == b".\r\n":
                return data
            data += l

    def close(self):
        self.f.close()
        self.sock.close()


def login(port, user="alice", password="secret"):
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    p.user(user)
    p.pass_(password)
    return p


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def expect_err(fn, code=None):
    try:
        r = fn()
    except poplib.error_proto as e:
        msg = e.args[0]
        assert msg.startswith(b"-ERR"), msg
        if code:
            assert code.encode() in msg, msg
        return msg
    raise AssertionError("expected -ERR, got %r" % (r,))


# --------------------------------------------------------------------------

def test_commands_every_state():
    with server() as srv:
        srv.add_user(USER, "secret")
        m1 = b"Subject: one\n\nline\n.leading dot\n..two dots\n\xe9t\xe9 8bit\n"
        m2 = b"Subject: two\r\n\r\nbody\r\nno final newline"
        put(srv, "1700000001.M1P1.h,S=%d,W=%d" % (len(m1), len(wire(m1))),
            m1)
        put(srv, "1700000002.M2P1.h:2,S", m2, sub="cur")
        r = Raw(srv.port("pop3"))
        assert r.greeting.startswith(b"+OK ") and b"<" in r.greeting
        # AUTHORIZATION: transaction commands are refused.
        for c in ("STAT", "LIST", "LIST 1", "RETR 1", "DELE 1", "NOOP",
                  "RSET", "TOP 1 1", "UIDL", "UIDL 1", "PASS secret",
                  "BOGUS"):
            assert r.cmd(c).startswith(b"-ERR"), c
        assert r.cmd("CAPA") == b"+OK capability list follows\r\n"
        capa = r.multi()
        for want in (b"TOP", b"USER", b"UIDL", b"RESP-CODES", b"PIPELINING",
                     b"EXPIRE NEVER", b"SASL PLAIN", b"IMPLEMENTATION"):
            assert want + b"\r\n" in capa or want + b" " in capa, want
        assert b"STLS" not in capa          # no certificate configured
        assert b"LOGIN-DELAY" not in capa
        assert r.cmd("USER alice").startswith(b"+OK")
        resp = r.cmd("PASS secret")
        size1, size2 = len(wire(m1)), len(wire(m2))
        assert resp == b"+OK maildrop has 2 messages (%d octets)\r\n" % (
            size1 + size2), resp
        # TRANSACTION
        assert r.cmd("USER alice").startswith(b"-ERR")
        assert r.cmd("STLS").startswith(b"-ERR")
        assert r.cmd("STAT") == b"+OK 2 %d\r\n" % (size1 + size2)
        assert r.cmd("LIST").startswith(b"+OK")
        assert r.multi() == b"1 %d\r\n2 %d\r\n" % (size1, size2)
        assert r.cmd("LIST 2") == b"+OK 2 %d\r\n" % size2
        assert r.cmd("LIST 3").startswith(b"-ERR")
        assert r.cmd("LIST 0").startswith(b"-ERR")
        assert r.cmd("UIDL").startswith(b"+OK")
        uidl = r.multi()
        assert uidl == (b"1 1700000001.M1P1.h,S=%d,W=%d\r\n"
                        b"2 1700000002.M2P1.h\r\n" % (len(m1), size1)), uidl
        assert r.cmd("RETR 1") == b"+OK %d octets\r\n" % size1
        assert r.multi() == stuffed(m1)
        assert r.cmd("RETR 2") == b"+OK %d octets\r\n" % size2
        assert r.multi() == stuffed(m2)
        assert r.cmd("TOP 1 1").startswith(b"+OK")
        assert r.multi() == b"Subject: one\r\n\r\nline\r\n"
        assert r.cmd("TOP 1 0").startswith(b"+OK")
        assert r.multi() == b"Subject: one\r\n\r\n"
        assert r.cmd("TOP 1").startswith(b"-ERR")
        assert r.cmd("NOOP") == b"+OK \r\n"
        assert r.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
        assert r.cmd("DELE 1").startswith(b"-ERR")
        assert r.cmd("RETR 1").startswith(b"-ERR")
        assert r.cmd("LIST 1").startswith(b"-ERR")
        assert r.cmd("STAT") == b"+OK 1 %d\r\n" % size2
        assert r.cmd("RSET").startswith(b"+OK")
        assert r.cmd("STAT") == b"+OK 2 %d\r\n" % (size1 + size2)
        assert r.cmd("CAPA").startswith(b"+OK")
        capa = r.multi()
        assert b"USER\r\n" not in capa    # only in AUTHORIZATION
        assert r.cmd("QUIT").startswith(b"+OK")
        assert r.line() == b""
        r.close()
        # Nothing deleted (RSET); retrieved message moved to cur/ with the
        # same UIDL in the next session.
        assert len(srv.maildir_messages(USER)) == 2
        assert not os.listdir(os.path.join(srv.maildir(USER), "new"))
        p = login(srv.port("pop3"))
        _, lines, _ = p.uidl()
        assert lines == [b"1 1700000001.M1P1.h,S=%d,W=%d" % (len(m1), size1),
                         b"2 1700000002.M2P1.h"], lines
        p.quit()


def test_dele_quit_rset_drop():
    with server() as srv:
        srv.add_user(USER, "secret")
        for i in range(3):
            put(srv, "17000000%02d.M%dP1.h" % (i, i), b"Subject: %d\n\nx\n" % i)
        # DELE + drop: nothing removed.
        r = Raw(srv.port("pop3"))
        r.cmd("USER alice")
        assert r.cmd("PASS secret").startswith(b"+OK")
        assert r.cmd("DELE 1").startswith(b"+OK")
        r.close()
        time.sleep(0.3)
        assert len(srv.maildir_messages(USER)) == 3
        # DELE + RSET + QUIT: nothing removed.
        p = login(srv.port("pop3"))
        p.dele(1)
        p.dele(2)
        p.rset()
        p.quit()
        assert len(srv.maildir_messages(USER)) == 3
        # DELE + QUIT: removed, and the reply came after the removal.
        p = login(srv.port("pop3"))
        p.dele(2)
        resp = p.quit()
        assert b"1 message deleted" in resp, resp
        left = [os.path.basename(x) for x in srv.maildir_messages(USER)]
        assert len(left) == 2 and not any("M1P1" in n for n in left), left
        p = login(srv.port("pop3"))
        assert p.stat()[0] == 2
        p.quit()


def test_quit_fsync_failure():
    """QUIT answers +OK only once the deletion is durable: when fsync of
    the Maildir fails, the client gets -ERR [SYS/TEMP]."""
    with server(env={"DMAIL_FAULT": "fsync:1:EIO"}) as srv:
        srv.add_user(USER, "secret")
        put(srv, "1700000001.M1P1.h", b"Subject: x\n\nx\n")
        p = login(srv.port("pop3"))
        p.dele(1)
        msg = expect_err(p.quit, "[SYS/TEMP]")
        assert b"not removed" in msg, msg


def test_in_use_and_kill():
    with server(workers={"pop3": (2, 4, 100)}) as srv:
        srv.add_user(USER, "secret")
        put(srv, "1700000001.M1P1.h", b"Subject: x\n\nx\n")
        p1 = login(srv.port("pop3"))
        p2 = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
        p2.user("alice")
        expect_err(lambda: p2.pass_("secret"), "[IN-USE]")
        p2.quit()
        # kill -9 of the worker holding the lock releases it.
        pids = []
        for pid in srv.worker_pids():
            try:
                with open("/proc/%d/fdinfo" % pid) as _:
                    pass
            except OSError:
                pass
            lockpath = os.path.join(srv.maildir(USER), "dmail-pop3.lock")
            fddir = "/proc/%d/fd" % pid
            try:
                for fd in os.listdir(fddir):
                    if os.readlink(os.path.join(fddir, fd)) == lockpath:
                        pids.append(pid)
            except OSError:
                pass
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        p1.sock.close()
        p3 = dt.wait_for(lambda: try_login(srv.port("pop3")), 10,
                         what="login after kill -9")
        assert p3.stat()[0] == 1
        p3.quit()


def try_login(port):
    try:
        return login(port)
    except (poplib.error_proto, OSError):
        return None


def test_auth_plain_apop():
    with server() as srv:
        srv.add_user(USER, "s3cret pass")
        r = Raw(srv.port("pop3"))
        import base64
        bad = base64.b64encode(b"\0alice\0wrong").decode()
        assert r.cmd("AUTH PLAIN " + bad).startswith(b"-ERR [AUTH]")
        good = base64.b64encode(b"\0alice@example.test\0s3cret pass").decode()
        assert r.cmd("AUTH PLAIN").startswith(b"+ ")
        assert r.cmd(good).startswith(b"+OK maildrop has 0 messages")
        assert r.cmd("QUIT").startswith(b"+OK")
        r.close()
        # authzid equal to the authcid is fine, another one is not.
        r = Raw(srv.port("pop3"))
        other = base64.b64encode(b"bob@example.test\0alice\0s3cret pass")
        assert r.cmd("AUTH PLAIN " + other.decode()).startswith(
            b"-ERR [AUTH]")
        same = base64.b64encode(b"alice@example.test\0alice\0s3cret pass")
        assert r.cmd("AUTH PLAIN " + same.decode()).startswith(b"+OK")
        assert r.cmd("QUIT").startswith(b"+OK")
        r.close()
        # APOP: refused without a secret, works with one.
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
        expect_err(lambda: p.apop("alice", "anything"), "[AUTH]")
        p.close()
        srv.dmail_user("apop", USER, stdin="tanstaaf\n")
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
        p.apop("alice@example.test", "tanstaaf")
        assert p.stat() == (0, 0)
        p.quit()
        # disabled account
        srv.dmail_user("disable", USER)
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
        p.user("alice")
        expect_err(lambda: p.pass_("s3cret pass"), "[AUTH]")
        p.close()


def test_stls_pop3s():
    with server(pop3s=True, tls=True) as srv:
        srv.add_user(USER, "secret")
        data = b"Subject: tls\n\n.dot\n"
        put(srv, "1700000001.M1P1.h", data)
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
        assert "STLS" in p.capa()
        p.stls(tls_context())
        assert "STLS" not in p.capa()
        p.user("alice")
        p.pass_("secret")
        assert p.retr(1)[1] == [b"Subject: tls", b"", b".dot"]
        p.quit()
        p = poplib.POP3_SSL("127.0.0.1", srv.port("pop3s"), timeout=30,
                            context=tls_context())
        assert "STLS" not in p.capa()
        p.user("alice")
        p.pass_("secret")
        assert p.stat()[0] == 1
        assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
        p.quit()
        # Pipelined plain text after STLS is discarded, not executed.
        s = dt.connect(srv.port("pop3"))
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"STLS\r\nUSER alice\r\n")
        assert f.readline().startswith(b"+OK")
        t = tls_context().wrap_socket(s)
        t.sendall(b"PASS secret\r\n")
        assert t.recv(1000).startswith(b"-ERR"), "USER was not discarded"
        t.close()
        # TLS 1.1 refused.
        ctx = tls_context()
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, AttributeError):
            return
        try:
            s = ctx.wrap_socket(dt.connect(srv.port("pop3s")))
            s.recv(10)
            raise AssertionError("TLS 1.1 accepted")
        except (ssl.SSLError, OSError):
            pass


def test_plaintext_refused_off_loopback():
    ip = None
    try:
        out = os.popen("hostname -I 2>/dev/null").read().split()
        ip = next((a for a in out if "." in a and not a.startswith("127.")),
                  None)
    except OSError:
        pass
    if not ip:
        raise dt.SkipTest("no non-loopback IPv4 address")
    with server(host=ip, tls=True) as srv:
        srv.add_user(USER, "secret")
        r = Raw(srv.port("pop3"), host=ip)
        assert r.cmd("CAPA").startswith(b"+OK")
        capa = r.multi()
        assert b"USER" not in capa and b"SASL" not in capa, capa
        assert b"STLS" in capa
        assert r.cmd("USER alice").startswith(b"-ERR [AUTH]")
        assert r.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").startswith(
            b"-ERR [AUTH]")
        r.close()
        p = poplib.POP3(ip, srv.port("pop3"), timeout=30)
        p.stls(tls_context())
        p.user("alice")
        p.pass_("secret")
        p.quit()


def test_failed_logins_and_limits():
    # The shared login penalty itself is tested in auth_penalty.py.
    with server(extra="auth_throttle_failures 4\nauth_throttle_max_delay 60\n"
                "pop3_max_failed_logins 3\npop3_login_delay 60\n") as srv:
        srv.add_user(USER, "secret")
        r = Raw(srv.port("pop3"))
        assert r.cmd("CAPA").startswith(b"+OK")
        assert b"LOGIN-DELAY 60\r\n" in r.multi()
        for _ in range(2):
            r.cmd("USER alice")
            assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
        # Third failure on this connection closes it.
        r.cmd("USER alice")
        assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
        assert r.line().startswith(b"-ERR too many")
        assert r.line() == b""
        r.close()
        # Under auth_throttle_failures the right password still works
        # (a success does not count as a failure of the address).
        r = Raw(srv.port("pop3"))
        r.cmd("USER alice")
        assert r.cmd("PASS secret").startswith(b"+OK")
        r.cmd("QUIT")
        r.close()
        # LOGIN-DELAY 60: a second login right away is refused.
        r = Raw(srv.port("pop3"))
        r.cmd("USER alice")
        assert r.cmd("PASS secret").startswith(b"-ERR [LOGIN-DELAY]")
        r.close()
        # Long command lines are refused and the session goes on.
        r = Raw(srv.port("pop3"))
        assert r.cmd("NOOP " + "x" * 5000).startswith(b"-ERR")
        assert r.cmd("CAPA").startswith(b"+OK")
        r.multi()
        r.close()


def test_big_messages():
    with server() as srv:
        srv.add_user(USER, "secret")
        line = b"0123456789 abcdefghij \xc3\xa9\xe2\x82\xac .x\n"
        small = b"Subject: 1M\n\n" + line * (1024 * 1024 // len(line))
        big = b"Subject: 20M\n\n" + (b".dot " + line) * (
            20 * 1024 * 1024 // (len(line) + 5))
        put(srv, "1700000001.M1P1.h", small)
        put(srv, "1700000002.M2P1.h,S=%d,W=%d" % (len(big), len(wire(big))),
            big)
        p = login(srv.port("pop3"))
        sizes = dict(p.list()[1][i].split() for i in range(2))
        assert int(sizes[b"1"]) == len(wire(small))
        assert int(sizes[b"2"]) == len(wire(big))
        for n, data in ((1, small), (2, big)):
            resp, lines, octets = p.retr(n)
            got = b"\r\n".join(lines) + b"\r\n"
            assert hashlib.sha256(got).digest() == \
                hashlib.sha256(wire(data)).digest(), "message %d differs" % n
        p.quit()


if __name__ == "__main__":
    dt.main([test_commands_every_state, test_dele_quit_rset_drop,
             test_quit_fsync_failure,
             test_in_use_and_kill, test_auth_plain_apop, test_stls_pop3s,
             test_plaintext_refused_off_loopback, test_failed_logins_and_limits,
             test_big_messages])
