#!/usr/bin/env python3
"""outbound_dsn - the DSN extension (RFC 3461) end to end through real
SMTP: dmail-smtpd advertises DSN and accepts RET, ENVID, NOTIFY and ORCPT
(refusing bad ones with 501 5.5.4), records them in the queue file, and
the queue manager honours them when a sink refuses the recipient with 550:
NOTIFY=NEVER gets no bounce, NOTIFY=FAILURE with RET=HDRS and ENVID gets a
bounce with Original-Envelope-Id, Original-Recipient from ORCPT and only
the original headers, and no NOTIFY still bounces; NOTIFY=SUCCESS on a
local recipient gets a "delivered" DSN."""

import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402

ALICE = "alice@example.test"


def body(subject):
    return ("From: Alice <%s>\r\nTo: someone@remote.test\r\n"
            "Subject: %s\r\n\r\nSECRET BODY LINE of %s\r\n"
            % (ALICE, subject, subject)).encode()


def transport(sink):
    return "transport remote.test [127.0.0.1]:%d\n" % sink.port


def expect(s, line, code, enhanced=None):
    got, text = s.docmd(line)
    text = text.decode(errors="replace")
    assert got == code, "%s -> %d %s" % (line, got, text)
    if enhanced is not None:
        assert text.startswith(enhanced), "%s -> %d %s" % (line, got, text)


def send_dsn(srv, mail_opts, rcpts, data):
    """One transaction: rcpts is a list of (address, [options])."""
    with smtplib.SMTP(srv.host, srv.port("smtp"), timeout=20) as s:
        s.ehlo("client.test")
        assert s.has_extn("dsn"), s.esmtp_features
        code, text = s.mail(ALICE, mail_opts)
        assert code == 250, (code, text)
        for addr, opts in rcpts:
            code, text = s.rcpt(addr, opts)
            assert code == 250, (addr, opts, code, text)
        code, text = s.data(data)
        assert code == 250, (code, text)


def test_ehlo_and_syntax():
    with Sink() as sk, oc.server(transport(sk)) as srv:
        with smtplib.SMTP(srv.host, srv.port("smtp"), timeout=20) as s:
            code, text = s.ehlo("client.test")
            assert code == 250
            lines = text.decode().split("\n")
            assert "DSN" in lines, lines
            expect(s, "MAIL FROM:<%s> RET=FULL RET=HDRS" % ALICE, 501,
                   "5.5.4")
            expect(s, "MAIL FROM:<%s> RET=BODY" % ALICE, 501, "5.5.4")
            expect(s, "MAIL FROM:<%s> ENVID=a+0Ab" % ALICE, 501, "5.5.4")
            expect(s, "MAIL FROM:<%s> ENVID=%s" % (ALICE, "x" * 101), 501,
                   "5.5.4")
            # RFC 3461 4: the longer line with a 100-character ENVID
            expect(s, "MAIL FROM:<%s> RET=HDRS ENVID=%s SIZE=100"
                   % (ALICE, "x" * 100), 250, "2.1.0")
            expect(s, "RCPT TO:<a@remote.test> NOTIFY=NEVER,FAILURE", 501,
                   "5.5.4")
            expect(s, "RCPT TO:<a@remote.test> NOTIFY=SOMETIMES", 501,
                   "5.5.4")
            expect(s, "RCPT TO:<a@remote.test> NOTIFY=NEVER NOTIFY=NEVER",
                   501, "5.5.4")
            expect(s, "RCPT TO:<a@remote.test> ORCPT=a@remote.test", 501,
                   "5.5.4")
            expect(s, "RCPT TO:<a@remote.test> ORCPT=rfc822;a+2b", 501,
                   "5.5.4")
            expect(s, "RCPT TO:<a@remote.test> FOO=1", 555, "5.5.4")
            # A 500-character ORCPT value on a line longer than 512
            expect(s, "RCPT TO:<a@remote.test> NOTIFY=SUCCESS,FAILURE,DELAY"
                   " ORCPT=rfc822;" + "y" * 493, 250, "2.1.5")
            expect(s, "RCPT TO:<b@remote.test> ORCPT=rfc822;" + "y" * 494,
                   501, "5.5.4")
            expect(s, "RSET", 250)
            # The session goes on as before.
            expect(s, "MAIL FROM:<%s>" % ALICE, 250, "2.1.0")
            expect(s, "RCPT TO:<a@remote.test>", 250, "2.1.5")
        with smtplib.SMTP(srv.host, srv.port("smtp"), timeout=20) as s:
            s.helo("client.test")
            # Parameters need EHLO.
            expect(s, "MAIL FROM:<%s> RET=HDRS" % ALICE, 555, "5.5.4")
            expect(s, "MAIL FROM:<%s>" % ALICE, 250)
            expect(s, "RCPT TO:<a@remote.test> NOTIFY=NEVER", 501, "5.5.4")


def test_notify_never_no_bounce():
    replies = {"never@remote.test": "550 5.1.1 unknown user"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk), users=[ALICE]) as srv:
        send_dsn(srv, [], [("never@remote.test", ["NOTIFY=NEVER"])],
                 body("never"))
        oc.wait_queue_empty(srv)
        assert any(c.startswith("RCPT TO:<never@remote.test>")
                   for c in sk.commands), sk.commands
        oc.sleep(2)
        assert oc.read_messages(srv, ALICE) == [], "bounce despite NEVER"
        assert oc.log_count(srv, "NOTIFY excludes a bounce") == 1


def test_failure_hdrs_envid_orcpt():
    replies = {"fail@remote.test": "550 5.1.1 unknown user",
               "quiet@remote.test": "550 5.1.1 unknown user",
               "ok@remote.test": "250 ok"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk), users=[ALICE]) as srv:
        send_dsn(srv, ["RET=HDRS", "ENVID=xyz"],
                 [("fail@remote.test",
                   ["NOTIFY=FAILURE", "ORCPT=rfc822;Orig+2Btag@example.test"]),
                  ("quiet@remote.test", ["NOTIFY=SUCCESS"]),
                  ("ok@remote.test", ["NOTIFY=FAILURE,DELAY"])],
                 body("hdrs"))
        srv.wait_messages(ALICE, 1, timeout=20)
        oc.wait_queue_empty(srv)
        oc.sleep(1)
        raws = oc.read_messages(srv, ALICE)
        assert len(raws) == 1, len(raws)
        assert len(sk.messages) == 1, "ok@ not delivered once"
        per_msg, rcpts = oc.dsn_fields(raws[0])
        assert per_msg["original-envelope-id"] == "xyz", per_msg
        # quiet@ asked only for SUCCESS: not in the failure report.
        assert [r["final-recipient"] for r in rcpts] == \
            ["rfc822; fail@remote.test"], rcpts
        r = rcpts[0]
        assert r["original-recipient"] == "rfc822; Orig+tag@example.test", r
        assert r["action"] == "failed", r
        assert r["status"] == "5.1.1", r
        msg = oc.parse(raws[0])
        types = [p.get_content_type() for p in msg.walk()]
        assert "text/rfc822-headers" in types, types
        assert "message/rfc822" not in types, types
        assert b"Subject: hdrs" in raws[0]
        assert b"SECRET BODY LINE" not in raws[0], "RET=HDRS sent the body"


def test_default_still_bounces():
    replies = {"plain@remote.test": "550 5.1.1 unknown user"}
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk), users=[ALICE]) as srv:
        send_dsn(srv, [], [("plain@remote.test", [])], body("plain"))
        srv.wait_messages(ALICE, 1, timeout=20)
        oc.wait_queue_empty(srv)
        raws = oc.read_messages(srv, ALICE)
        assert len(raws) == 1, len(raws)
        per_msg, rcpts = oc.dsn_fields(raws[0])
        assert "original-envelope-id" not in per_msg, per_msg
        assert [r["final-recipient"] for r in rcpts] == \
            ["rfc822; plain@remote.test"], rcpts
        assert "original-recipient" not in rcpts[0], rcpts
        assert len(sk.messages) == 0


def test_local_success_notice():
    """RFC 3461 5.2.2: NOTIFY=SUCCESS on a local recipient gets a
    "delivered" DSN; a local recipient without it gets none."""
    with Sink() as sk, oc.server(transport(sk), users=[
            ALICE, "bob@example.test", "carol@example.test"]) as srv:
        send_dsn(srv, ["ENVID=loc+2B1", "RET=HDRS"],
                 [("bob@example.test",
                   ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Bob@Old.test"]),
                  ("carol@example.test", ["NOTIFY=FAILURE"])],
                 body("local"))
        srv.wait_messages("bob@example.test", 1, timeout=10)
        srv.wait_messages("carol@example.test", 1, timeout=10)
        srv.wait_messages(ALICE, 1, timeout=10)
        oc.sleep(1)
        raws = oc.read_messages(srv, ALICE)
        assert len(raws) == 1, len(raws)
        msg = oc.parse(raws[0])
        assert msg["Return-Path"].strip() == "<>", msg["Return-Path"]
        per_msg, rcpts = oc.dsn_fields(raws[0])
        assert per_msg["original-envelope-id"] == "loc+1", per_msg
        assert len(rcpts) == 1, rcpts
        r = rcpts[0]
        assert r["final-recipient"] == "rfc822; bob@example.test", r
        assert r["original-recipient"] == "rfc822; Bob@Old.test", r
        assert r["action"] == "delivered", r
        assert r["status"] == "2.0.0", r
        assert b"Subject: local" in raws[0]
        assert b"SECRET BODY LINE" not in raws[0]
        # Nothing asked for success: no notice.
        send_dsn(srv, [], [("carol@example.test", [])], body("quiet"))
        srv.wait_messages("carol@example.test", 2, timeout=10)
        oc.sleep(1)
        assert len(oc.read_messages(srv, ALICE)) == 1
        assert len(sk.messages) == 0


if __name__ == "__main__":
    dt.main([test_ehlo_and_syntax, test_notify_never_no_bounce,
             test_failure_hdrs_envid_orcpt, test_default_still_bounces,
             test_local_success_notice])
