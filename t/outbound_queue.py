#!/usr/bin/env python3
"""outbound_queue - queue tools (queue, flush, hold, release, delete, as
tellsmtp runs them through common/queue_cmds.c), the delay warning after
queue_warn_after and the bounce after queue_lifetime."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402

QUEUECTL = dt.TELLSMTP   # the operator tool itself


def ctl(srv, *args):
    return subprocess.run([QUEUECTL, "-c", srv.conf_path] + list(args),
                          capture_output=True, text=True, timeout=30)


def body(subject):
    return ("From: alice@example.test\r\nTo: bob@remote.test\r\n"
            "Subject: %s\r\n\r\nqueue tools\r\n" % subject).encode()


def subjects(sk):
    out = []
    for m in sk.messages:
        for line in m.data.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].decode())
    return out


def test_list_hold_release_flush_delete():
    port = dt.free_port()
    # Long retry interval: only flush or release starts an attempt.
    srv = oc.server("transport remote.test [127.0.0.1]:%d\n" % port,
                    retry=("1h", "2h"))
    try:
        for s in ("one", "two", "three"):
            oc.send(srv, "alice@example.test", ["bob@remote.test"], body(s))
        dt.wait_for(lambda: oc.log_count(srv, "status=deferred") >= 3, 15,
                    what="three deferrals")
        ids = oc.queue_ids(srv)
        assert len(ids) == 3, ids
        out = ctl(srv, "queue")
        assert out.returncode == 0, out.stderr
        for i in ids:
            assert i in out.stdout, out.stdout
        assert out.stdout.count("<alice@example.test>") == 3, out.stdout
        assert "bob@remote.test  pending: " in out.stdout, out.stdout
        assert "Connection refused" in out.stdout, out.stdout
        assert "-- 3 message(s)" in out.stdout, out.stdout

        one, two, three = ids
        r = ctl(srv, "hold", one)
        assert r.returncode == 0 and "on hold" in r.stdout, (r.stdout,
                                                              r.stderr)
        assert "(on hold)" in ctl(srv, "queue").stdout
        r = ctl(srv, "delete", three)
        assert r.returncode == 0 and "deleted" in r.stdout, r
        assert three not in oc.queue_ids(srv)
        r = ctl(srv, "delete", "NOSUCHID")
        assert r.returncode == 1, r
        r = ctl(srv, "hold", "../etc")
        assert r.returncode == 2, r

        with Sink(port=port) as sk:
            r = ctl(srv, "flush")
            assert r.returncode == 0, r.stderr
            sk.wait(1, timeout=15)
            dt.wait_for(lambda: oc.queue_ids(srv) == [one], 10,
                        what="only the held message left")
            oc.sleep(1)
            assert subjects(sk) == ["two"], subjects(sk)
            r = ctl(srv, "release", one)
            assert r.returncode == 0 and "released" in r.stdout, r
            sk.wait(2, timeout=15)
            oc.wait_queue_empty(srv)
            assert sorted(subjects(sk)) == ["one", "two"], subjects(sk)
        r = ctl(srv, "queue")
        assert "Mail queue is empty" in r.stdout, (r.stdout, r.stderr)
    except Exception:
        sys.stderr.write(srv.log_tail())
        raise
    finally:
        srv.stop()
    srv.cleanup()


def test_tools_without_queue_manager():
    port = dt.free_port()
    srv = oc.server("transport remote.test [127.0.0.1]:%d\n" % port)
    try:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], body("x"))
        dt.wait_for(lambda: oc.log_count(srv, "status=deferred") >= 1, 15,
                    what="deferral")
        srv.stop()
        (qid,) = oc.queue_ids(srv)
        r = ctl(srv, "flush")
        assert r.returncode == 1 and "not running" in r.stderr, r
        r = ctl(srv, "hold", qid)
        assert r.returncode == 0 and "on hold" in r.stdout, r
        with Sink(port=port) as sk:
            srv.start()
            oc.sleep(3)
            assert sk.count == 0, "held message was delivered"
            assert oc.queue_ids(srv) == [qid]
            r = ctl(srv, "release", qid)
            assert r.returncode == 0, r
            sk.wait(1, timeout=15)
            oc.wait_queue_empty(srv)
    finally:
        if srv.running():
            srv.stop()
    srv.cleanup()


def test_delay_warning_and_expiry():
    port = dt.free_port()
    extra = ("transport remote.test [127.0.0.1]:%d\nqueue_warn_after 1\n"
             "queue_lifetime 4\n" % port)
    with oc.server(extra, users=["alice@example.test"]) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                body("doomed"))
        msgs = srv.wait_messages("alice@example.test", 2, timeout=20)
        oc.wait_queue_empty(srv)
        kinds = {}
        for p in msgs:
            with open(p, "rb") as f:
                raw = f.read()
            m = oc.parse(raw)
            _, rcpts = oc.dsn_fields(raw)
            kinds[rcpts[0]["action"]] = (m["Subject"], rcpts[0])
        assert set(kinds) == {"delayed", "failed"}, kinds
        subj, r = kinds["delayed"]
        assert subj.startswith("Delayed Mail"), subj
        assert r["status"].startswith("4."), r
        subj, r = kinds["failed"]
        assert r["status"] == "4.4.7", r
        assert "expired" in r["diagnostic-code"], r
        assert "Connection refused" in r["diagnostic-code"], r


def test_maildrop_pickup():
    with Sink() as sk, oc.server(
            "transport remote.test [127.0.0.1]:%d\n" % sk.port,
            users=["alice@example.test"]) as srv:
        drop = os.path.join(srv.state_dir, "spool", "maildrop")
        dt.wait_for(lambda: os.path.isdir(drop), 10, what="maildrop dir")
        content = (b"Received: from uid 1000 by mx.example.test\n"
                   b"From: alice@example.test\nSubject: dropped\n\n"
                   b"from the maildrop\n.leading dot\n")
        head = ("dmail-queue 1\nid MAILDROP0001\narrival 1700000000\n"
                "sender alice@example.test\nuid 1000\n"
                "rcpt P\talice@example.test\talice@example.test\n"
                "rcpt P\tbob@remote.test\tbob@remote.test\n"
                "rcpt P\tnobody@example.test\tnobody@example.test\n\n")
        tmp = os.path.join(drop, ".MAILDROP0001.tmp")
        with open(tmp, "wb") as f:
            f.write(head.encode() + content)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(drop, "MAILDROP0001"))
        # Poke the queue manager as dmail-sendmail does.
        fd = os.open(os.path.join(srv.state_dir, "spool", "wakeup"),
                     os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"w")
        os.close(fd)
        m = sk.wait(1)[0]
        assert m.rcpts == ["bob@remote.test"], m.rcpts
        assert m.data.endswith(content.replace(b"\n", b"\r\n")), m.data
        msgs = srv.wait_messages("alice@example.test", 2, timeout=15)
        raws = []
        for p in msgs:
            with open(p, "rb") as f:
                raws.append(f.read())
        local = [r for r in raws if b"from the maildrop" in r and
                 b"multipart/report" not in r]
        dsn = [r for r in raws if b"multipart/report" in r]
        assert len(local) == 1 and len(dsn) == 1, raws
        _, rcpts = oc.dsn_fields(dsn[0])
        assert rcpts[0]["final-recipient"] == "rfc822; nobody@example.test"
        assert rcpts[0]["status"] == "5.1.1", rcpts
        assert os.listdir(drop) == [], os.listdir(drop)


if __name__ == "__main__":
    dt.main([test_list_hold_release_flush_delete,
             test_tools_without_queue_manager,
             test_delay_warning_and_expiry, test_maildrop_pickup])
