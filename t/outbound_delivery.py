#!/usr/bin/env python3
"""outbound_delivery - dmail-queued delivers queued mail to SMTP sinks on
loopback behind `transport` lines: byte-exact content, retry after 451,
a bounce (RFC 3464 DSN) after 550, a hanging peer timed out and retried,
and mixed per-recipient results in one message."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402

BODY = (b"From: Alice <alice@example.test>\r\n"
        b"To: Bob <bob@remote.test>\r\n"
        b"Subject: outbound test\r\n"
        b"\r\n"
        b"first line\r\n"
        b".a line starting with a dot\r\n"
        b"..two dots\r\n"
        b".\tdot tab\r\n"
        b"trailing spaces   \r\n"
        b"\r\n"
        b"8-bit: \xc3\xa9t\xc3\xa9\r\n"
        b"last line\r\n")


def transport(sink, domain="remote.test"):
    return "transport %s [127.0.0.1]:%d\n" % (domain, sink.port)


def test_byte_exact():
    with Sink() as sk, oc.server(transport(sk)) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], BODY)
        msgs = sk.wait(1)
        m = msgs[0]
        assert m.mail_from == "alice@example.test", m.mail_from
        assert m.rcpts == ["bob@remote.test"], m.rcpts
        assert m.data.startswith(b"Received: "), m.data[:80]
        assert m.data.endswith(BODY), (m.data[-300:], BODY)
        # Only our Received: header was added in front of the original.
        head = m.data[:len(m.data) - len(BODY)]
        assert head.count(b"Received:") == 1, head
        oc.wait_queue_empty(srv)
        assert "status=sent" in srv.log_text()


def test_retry_after_451():
    replies = {"bob@remote.test": ["451 4.3.0 try again later", "250"]}
    with Sink(replies=replies) as sk, oc.server(transport(sk)) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], BODY)
        msgs = sk.wait(1, timeout=20)
        assert len(msgs) == 1
        assert sk.rcpt_log.count("bob@remote.test") == 2, sk.rcpt_log
        oc.wait_queue_empty(srv)
        log = srv.log_text()
        assert "status=deferred" in log and "451 4.3.0" in log, log
        oc.sleep(1.5)
        assert len(sk.messages) == 1, "delivered twice"


def test_bounce_550():
    replies = {"bob@remote.test": "550 5.1.1 <bob@remote.test>: no such user"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk), users=["alice@example.test"]) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], BODY)
        dsns = srv.wait_messages("alice@example.test", 1, timeout=20)
        oc.wait_queue_empty(srv)
        assert len(sk.messages) == 0
        raw = oc.read_messages(srv, "alice@example.test")[0]
        msg = oc.parse(raw)
        assert msg["Return-Path"].strip() == "<>", msg["Return-Path"]
        assert msg["From"].startswith("MAILER-DAEMON@mx.example.test"), \
            msg["From"]
        assert "alice@example.test" in msg["To"]
        per_msg, rcpts = oc.dsn_fields(raw)
        assert per_msg["reporting-mta"] == "dns; mx.example.test", per_msg
        assert "arrival-date" in per_msg
        assert len(rcpts) == 1, rcpts
        r = rcpts[0]
        assert r["final-recipient"] == "rfc822; bob@remote.test", r
        assert r["action"] == "failed", r
        assert r["status"] == "5.1.1", r
        assert r["remote-mta"].startswith("dns; 127.0.0.1"), r
        assert r["diagnostic-code"].startswith(
            "smtp; 550 5.1.1 <bob@remote.test>: no such user"), r
        # The original headers come back (text/rfc822-headers).
        parts = [p for p in msg.walk()
                 if p.get_content_type() == "text/rfc822-headers"]
        assert parts, [p.get_content_type() for p in msg.walk()]
        text = parts[0].get_payload()
        assert "Subject: outbound test" in text, text
        assert len(dsns) == 1


def test_hanging_peer_times_out():
    # First connection: greeting never comes; second: hangs after data;
    # then it works. smtp_reply_timeout is 3 s in tests.
    with Sink(hang="greeting", hang_count=1) as sk, \
            oc.server(transport(sk)) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], BODY)
        msgs = sk.wait(1, timeout=30)
        assert len(msgs) == 1
        assert sk.connections >= 2, sk.connections
        oc.wait_queue_empty(srv)
        log = srv.log_text()
        assert "timed out" in log, log[-2000:]


def test_slow_destination_does_not_block_others():
    with Sink(hang="greeting") as slow, Sink() as fast, \
            oc.server(transport(slow, "slow.test") +
                      transport(fast, "fast.test"), reply_timeout=30) as srv:
        for i in range(3):
            oc.send(srv, "alice@example.test", ["x%d@slow.test" % i], BODY)
        dt.wait_for(lambda: slow.hung >= 1, 10, what="slow peer hanging")
        oc.send(srv, "alice@example.test", ["bob@fast.test"], BODY)
        fast.wait(1, timeout=5)
        assert slow.count == 0
        assert len(oc.queue_ids(srv)) == 3


def test_three_recipients_mixed():
    replies = {"perm@remote.test": "550 5.1.1 unknown user",
               "temp@remote.test": ["452 4.2.2 mailbox full", "250"]}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk), users=["alice@example.test"]) as srv:
        oc.send(srv, "alice@example.test",
                ["perm@remote.test", "temp@remote.test", "ok@remote.test"],
                BODY)
        dt.wait_for(lambda: sk.count >= 2, 30, what="two deliveries")
        oc.wait_queue_empty(srv, 30)
        oc.sleep(2.5)   # a duplicate would show up in that time
        got = [r for m in sk.messages for r in m.rcpts]
        assert sorted(got) == ["ok@remote.test", "temp@remote.test"], got
        assert sk.rcpt_log.count("temp@remote.test") == 2, sk.rcpt_log
        assert sk.rcpt_log.count("perm@remote.test") == 1, sk.rcpt_log
        assert sk.rcpt_log.count("ok@remote.test") == 1, sk.rcpt_log
        dsns = oc.read_messages(srv, "alice@example.test")
        assert len(dsns) == 1, len(dsns)
        _, rcpts = oc.dsn_fields(dsns[0])
        assert [r["final-recipient"] for r in rcpts] == \
            ["rfc822; perm@remote.test"], rcpts
        assert rcpts[0]["status"] == "5.1.1"


def test_null_sender_not_bounced():
    replies = {"bob@remote.test": "550 5.1.1 unknown"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk), users=["postmaster@example.test"]) \
            as srv:
        oc.send(srv, "", ["bob@remote.test"], BODY)
        oc.wait_queue_empty(srv)
        oc.sleep(1)
        assert "sender is <>: no bounce sent" in srv.log_text()
        assert not oc.read_messages(srv, "postmaster@example.test")


def test_null_sender_bounce_to_postmaster():
    replies = {"bob@remote.test": "550 5.1.1 unknown"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk) + "null_sender_bounces postmaster\n") \
            as srv:
        oc.send(srv, "", ["bob@remote.test"], BODY)
        got = srv.wait_messages("postmaster@example.test", 1, timeout=15)
        with open(got[0], "rb") as f:
            raw = f.read()
        msg = oc.parse(raw)
        assert msg["Return-Path"].strip() == "<>", msg["Return-Path"]
        _, rcpts = oc.dsn_fields(raw)
        assert rcpts[0]["final-recipient"] == "rfc822; bob@remote.test"
        oc.wait_queue_empty(srv)
        assert sk.count == 0
    # The postmaster is remote and refuses too: no report loop.
    replies = {"bob@remote.test": "550 5.1.1 unknown",
               "pm@remote.test": "550 5.1.1 unknown"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk) + "null_sender_bounces postmaster\n"
                      "alias postmaster pm@remote.test\n") as srv:
        oc.send(srv, "", ["bob@remote.test"], BODY)
        dt.wait_for(lambda: "report from MAILER-DAEMON failed"
                    in srv.log_text(), 15, what="loop stopped")
        oc.wait_queue_empty(srv)
        oc.sleep(1.5)
        assert sk.rcpt_log.count("pm@remote.test") == 1, sk.rcpt_log
        assert sk.count == 0


def test_no_pipelining_rset_and_reuse():
    # A peer without PIPELINING: commands one by one; a transaction whose
    # only recipient is refused ends with RSET and the connection carries
    # the next messages.
    # The first delivery waits at its RCPT until all three messages are
    # queued, and one connection per destination is allowed: the later
    # messages must take the same connection, however slow the machine.
    replies = {"bad@remote.test": "550 5.1.1 no such user"}
    gate = threading.Event()
    with Sink(replies=replies, pipelining=False, gate=gate) as sk, \
            oc.server(transport(sk) + "smtp_dest_concurrency 1\n",
                      users=["alice@example.test"]) as srv:
        oc.send(srv, "alice@example.test", ["bad@remote.test"], BODY)
        oc.send(srv, "alice@example.test", ["ok@remote.test"], BODY)
        oc.send(srv, "alice@example.test",
                ["ok2@remote.test", "bad@remote.test"], BODY)
        gate.set()
        sk.wait(2)
        oc.wait_queue_empty(srv)
        got = sorted(r for m in sk.messages for r in m.rcpts)
        assert got == ["ok2@remote.test", "ok@remote.test"], got
        assert sk.connections == 1, sk.connections
        assert len(srv.wait_messages("alice@example.test", 2)) == 2


def test_loop_back_to_myself_bounces():
    # The peer greets with our own host name: a routing loop.
    with Sink(name="mx.example.test") as sk, \
            oc.server(transport(sk), users=["alice@example.test"]) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], BODY)
        srv.wait_messages("alice@example.test", 1, timeout=15)
        raw = oc.read_messages(srv, "alice@example.test")[0]
        _, rcpts = oc.dsn_fields(raw)
        assert rcpts[0]["status"] == "5.4.6", rcpts
        assert "loops back to myself" in rcpts[0]["diagnostic-code"]
        assert sk.count == 0
        oc.wait_queue_empty(srv)


def test_dsn_parameters_from_queue_file():
    """NOTIFY, RET and ENVID as the SMTP server records them (optional
    header lines of the queue file, see queued/queue_bounce.c)."""
    replies = {"never@remote.test": "550 5.1.1 unknown",
               "fail@remote.test": "550 5.1.1 unknown"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk), users=["alice@example.test"]) as srv:
        qdir = os.path.join(srv.state_dir, "spool", "queue")
        head = ("dmail-queue 1\nid DSNPARAMS01\narrival 1700000000\n"
                "sender alice@example.test\nenvid ENV-12345\nret FULL\n"
                "rcpt P\tnever@remote.test\tnever@remote.test\n"
                "rcpt P\tfail@remote.test\tOrig@Remote.test\n"
                "notify 0 NEVER\nnotify 1 FAILURE,DELAY\n\n")
        content = b"Subject: with params\n\nthe whole body comes back\n"
        tmp = os.path.join(srv.state_dir, "spool", "tmp", "DSNPARAMS01")
        with open(tmp, "wb") as f:
            f.write(head.encode() + content)
        st = os.stat(qdir)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, os.path.join(qdir, "DSNPARAMS01"))
        fd = os.open(os.path.join(srv.state_dir, "spool", "wakeup"),
                     os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"w")
        os.close(fd)
        srv.wait_messages("alice@example.test", 1, timeout=15)
        oc.wait_queue_empty(srv)
        oc.sleep(1)
        raws = oc.read_messages(srv, "alice@example.test")
        assert len(raws) == 1, len(raws)
        per_msg, rcpts = oc.dsn_fields(raws[0])
        assert per_msg["original-envelope-id"] == "ENV-12345", per_msg
        assert [r["final-recipient"] for r in rcpts] == \
            ["rfc822; fail@remote.test"], rcpts
        assert rcpts[0]["original-recipient"] == "rfc822; Orig@Remote.test"
        msg = oc.parse(raws[0])
        types = [p.get_content_type() for p in msg.walk()]
        assert "message/rfc822" in types, types
        assert b"the whole body comes back" in raws[0]


def test_dsn_parameters_passed_on():
    # A peer offering DSN gets NOTIFY, ORCPT, RET and ENVID (xtext).
    with Sink(dsn=True) as sk, oc.server(transport(sk)) as srv:
        qdir = os.path.join(srv.state_dir, "spool", "queue")
        head = ("dmail-queue 1\nid DSNPASS01\narrival 1700000000\n"
                "sender alice@example.test\nenvid ENV+1 x\nret HDRS\n"
                "rcpt P\tone@remote.test\tOne@Example.test\n"
                "rcpt P\ttwo@remote.test\ttwo@remote.test\n"
                "notify 0 SUCCESS,DELAY\n\n")
        tmp = os.path.join(srv.state_dir, "spool", "tmp", "DSNPASS01")
        with open(tmp, "wb") as f:
            f.write(head.encode() + b"Subject: p\n\nbody\n")
        st = os.stat(qdir)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, os.path.join(qdir, "DSNPASS01"))
        fd = os.open(os.path.join(srv.state_dir, "spool", "wakeup"),
                     os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"w")
        os.close(fd)
        sk.wait(1)
        cmds = sk.commands
        assert cmds[0].startswith("MAIL FROM:<alice@example.test>"), cmds
        assert " RET=HDRS" in cmds[0] and " ENVID=ENV+2B1+20x" in cmds[0], \
            cmds
        assert cmds[1] == ("RCPT TO:<one@remote.test> NOTIFY=SUCCESS,DELAY"
                           " ORCPT=rfc822;One@Example.test"), cmds
        assert cmds[2] == ("RCPT TO:<two@remote.test>"
                           " ORCPT=rfc822;two@remote.test"), cmds
    # Without DSN in EHLO: plain commands.
    with Sink() as sk, oc.server(transport(sk)) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], BODY)
        sk.wait(1)
        assert "NOTIFY" not in " ".join(sk.commands), sk.commands
        assert "ORCPT" not in " ".join(sk.commands), sk.commands


if __name__ == "__main__":
    dt.main([test_byte_exact, test_retry_after_451, test_bounce_550,
             test_hanging_peer_times_out,
             test_slow_destination_does_not_block_others,
             test_three_recipients_mixed,
             test_null_sender_not_bounced,
             test_null_sender_bounce_to_postmaster,
             test_no_pipelining_rset_and_reuse,
             test_loop_back_to_myself_bounces,
             test_dsn_parameters_from_queue_file,
             test_dsn_parameters_passed_on])
