#!/usr/bin/env python3
"""outbound_tls - two DMail instances (127.0.0.1 and 127.0.0.2, separate
state directories) exchange mail both ways over STARTTLS with self-signed
certificates; tls_required refuses a peer without STARTTLS; relayhost with
AUTH PLAIN from an owner-only credentials file; the peer's SIZE limit."""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402


def msg(frm, to, subject):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhello over TLS\r\n"
            % (frm, to, subject)).encode()


def received_header(raw):
    """First Received: header of a stored message, unfolded."""
    head = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    out, cur = [], None
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            cur += " " + line.strip()
            continue
        if cur is not None:
            out.append(cur)
        cur = line
    out.append(cur)
    return [h for h in out if h.startswith("Received:")]


def test_two_instances_starttls():
    try:
        dt.connect(1, host="127.0.0.2", timeout=1)
    except ConnectionRefusedError:
        pass
    except OSError as e:
        raise dt.SkipTest("127.0.0.2 not usable: %s" % e)
    a_port = dt.free_port("127.0.0.1")
    b_port = dt.free_port("127.0.0.2")
    a = oc.server(tls=True, host="127.0.0.1", domains=["a.test"],
                  hostname="mx.a.test", users=["alice@a.test"], start=False,
                  extra="transport b.test [127.0.0.2]:%d\n"
                  "tls_required b.test\n" % b_port)
    b = oc.server(tls=True, host="127.0.0.2", domains=["b.test"],
                  hostname="mx.b.test", users=["bob@b.test"], start=False,
                  extra="transport a.test [127.0.0.1]:%d\n"
                  "tls_required a.test\n" % a_port)
    # Use the ports we promised each other.
    for srv, port, host in ((a, a_port, "127.0.0.1"),
                            (b, b_port, "127.0.0.2")):
        srv.ports["smtp"] = port
        srv.base_lines = [l for l in srv.base_lines
                          if not l.startswith("smtp_listen")]
        srv.base_lines.append("smtp_listen %s:%d" % (host, port))
        srv.write_conf()
    try:
        a.start()
        b.start()
        oc.wait_queued(a)
        oc.wait_queued(b)
        oc.send(a, "alice@a.test", ["bob@b.test"],
                msg("alice@a.test", "bob@b.test", "a to b"))
        got = b.wait_messages("bob@b.test", 1, timeout=20)
        with open(got[0], "rb") as f:
            raw = f.read()
        assert b"Subject: a to b" in raw
        rec = received_header(raw)
        assert "mx.a.test" in rec[0] and "TLS" in rec[0], rec
        oc.send(b, "bob@b.test", ["alice@a.test"],
                msg("bob@b.test", "alice@a.test", "b to a"))
        got = a.wait_messages("alice@a.test", 1, timeout=20)
        with open(got[0], "rb") as f:
            raw = f.read()
        assert b"Subject: b to a" in raw
        rec = received_header(raw)
        assert "mx.b.test" in rec[0] and "TLS" in rec[0], rec
        oc.wait_queue_empty(a)
        oc.wait_queue_empty(b)
    except Exception:
        sys.stderr.write("---- A ----\n%s\n---- B ----\n%s\n"
                         % (a.log_tail(), b.log_tail()))
        raise
    finally:
        for s in (a, b):
            if s.running():
                s.stop()
    a.cleanup()
    b.cleanup()


def test_tls_required_without_starttls():
    with Sink() as sk, oc.server("transport remote.test [127.0.0.1]:%d\n"
                                 "tls_required remote.test\n"
                                 % sk.port) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                msg("a@example.test", "bob@remote.test", "x"))
        dt.wait_for(lambda: "4.7.5" in srv.log_text(), 15,
                    what="4.7.5 deferral")
        assert sk.count == 0
        assert oc.queue_ids(srv), "must stay queued, not bounce"


def test_opportunistic_starttls_to_sink():
    tmp = tempfile.mkdtemp(prefix="dmail-cert-")
    cert, key = dt.make_cert(tmp)
    with Sink(tls=(cert, key)) as sk, \
            oc.server("transport remote.test [127.0.0.1]:%d\n" % sk.port) \
            as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                msg("a@example.test", "bob@remote.test", "tls"))
        m = sk.wait(1)[0]
        assert m.tls, "message did not travel over TLS"
    shutil.rmtree(tmp, ignore_errors=True)


def test_relayhost_auth():
    tmp = tempfile.mkdtemp(prefix="dmail-auth-")
    cert, key = dt.make_cert(tmp)
    auth = os.path.join(tmp, "relay.auth")
    with open(auth, "w") as f:
        f.write("# user password\nrelayuser s3cret pass\n")
    os.chmod(auth, 0o644)
    with Sink(tls=(cert, key), auth=("relayuser", "s3cret pass")) as sk:
        extra = ("relayhost [127.0.0.1]:%d\nrelayhost_auth %s\n"
                 % (sk.port, auth))
        # A readable credentials file is refused: no queue manager.
        srv = oc.server(extra, start=False)
        try:
            srv.start()
            dt.wait_for(lambda: "readable by group or others"
                        in srv.log_text(), 10, what="refusal logged")
            srv.stop()
            os.chmod(auth, 0o600)
            srv.start()
            oc.wait_queued(srv)
            oc.send(srv, "alice@example.test", ["carol@elsewhere.test"],
                    msg("alice@example.test", "carol@elsewhere.test",
                        "relay"))
            m = sk.wait(1)[0]
            assert m.auth == "relayuser", m.auth
            assert m.tls
            oc.wait_queue_empty(srv)
        finally:
            if srv.running():
                srv.stop()
        srv.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


def test_peer_size_limit_bounces():
    with Sink(size=200) as sk, \
            oc.server("transport remote.test [127.0.0.1]:%d\n" % sk.port,
                      users=["alice@example.test"]) as srv:
        big = msg("alice@example.test", "bob@remote.test", "big") + \
            b"x" * 500 + b"\r\n"
        oc.send(srv, "alice@example.test", ["bob@remote.test"], big)
        srv.wait_messages("alice@example.test", 1, timeout=15)
        raw = oc.read_messages(srv, "alice@example.test")[0]
        _, rcpts = oc.dsn_fields(raw)
        assert rcpts[0]["status"] == "5.3.4", rcpts
        assert sk.count == 0


if __name__ == "__main__":
    dt.main([test_two_instances_starttls, test_tls_required_without_starttls,
             test_opportunistic_starttls_to_sink, test_relayhost_auth,
             test_peer_size_limit_bounces])
