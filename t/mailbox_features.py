#!/usr/bin/env python3
"""mailbox_features - what ISP users ask the helpdesk for, through SMTP,
dmail-user and dmail-sendmail: plus addressing (recipient_delimiter),
the per-domain catch-all (alias @domain), vacation replies (RFC 3834:
once per sender per period, null MAIL FROM, never to lists or bulk) and
"dmail-sendmail -f root" qualified with the first local domain, with the
server up (SMTP) and down (maildrop)."""

import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402
from sendmail_inject import sendmail  # noqa: E402

ALICE = "alice@example.test"
BOB = "bob@example.test"


def smtp(srv):
    s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=20)
    s.ehlo("client.test")
    return s


def test_plus_addressing_and_catchall():
    extra = ("recipient_delimiter +\n"
             "alias @other.test bob@example.test\n"
             "alias sales@other.test alice@example.test\n")
    with oc.server(extra, users=[ALICE, BOB, "alice+own@example.test"],
                   domains=("example.test", "other.test")) as srv:
        s = smtp(srv)
        s.sendmail("me@remote.test", ["alice+news@example.test"],
                   b"Subject: plus\r\n\r\nx\r\n")
        (p,) = srv.wait_messages(ALICE, 1)
        with open(p, "rb") as f:
            data = f.read()
        assert b"Delivered-To: alice@example.test\n" in data, data[:300]
        assert b"for <alice+news@example.test>" in data, data[:300]
        # An account of its own wins over the plus rule.
        s.sendmail("me@remote.test", ["alice+own@example.test"],
                   b"Subject: own\r\n\r\nx\r\n")
        srv.wait_messages("alice+own@example.test", 1)
        assert len(srv.maildir_messages(ALICE)) == 1
        # Unknown base: still unknown.
        s.mail("me@remote.test")
        code, _ = s.rcpt("nobody+x@example.test")
        assert code == 550, code
        s.rset()
        # Catch-all: any unknown name of other.test goes to bob; the
        # exact alias wins.
        s.sendmail("me@remote.test", ["whoever@other.test"],
                   b"Subject: catch\r\n\r\nx\r\n")
        srv.wait_messages(BOB, 1)
        s.sendmail("me@remote.test", ["sales@other.test"],
                   b"Subject: sales\r\n\r\nx\r\n")
        srv.wait_messages(ALICE, 2)
        # No catch-all in example.test: unknown there.
        s.mail("me@remote.test")
        assert s.rcpt("whoever@example.test")[0] == 550
        s.quit()


def post(srv, sender, subject, extra=b""):
    with smtp(srv) as s:
        s.sendmail(sender, [ALICE],
                   b"From: " + sender.encode() + b"\r\nTo: " +
                   ALICE.encode() + b"\r\nSubject: " + subject.encode() +
                   b"\r\nMessage-ID: <" + subject.replace(" ", ".").encode()
                   + b"@remote.test>\r\n" + extra + b"\r\nhi\r\n")


def test_vacation_replies_once_per_sender():
    with Sink() as sk, oc.server("transport remote.test [127.0.0.1]:%d\n"
                                 % sk.port, users=[ALICE]) as srv:
        text = os.path.join(srv.tmp, "away.txt")
        with open(text, "w") as f:
            f.write("I am away until Monday.\n")
        srv.dmail_user("vacation", ALICE, "on", "--file", text,
                       "--subject", "Away")
        post(srv, "carol@remote.test", "first")
        post(srv, "carol@remote.test", "second")
        post(srv, "dave@remote.test", "third")
        post(srv, "news@remote.test", "bulk", b"Precedence: bulk\r\n")
        post(srv, "list@remote.test", "list",
             b"List-Id: <l.remote.test>\r\n")
        srv.wait_messages(ALICE, 5)
        dt.wait_for(lambda: len(sk.messages) >= 2, 20, what="two replies")
        oc.wait_queue_empty(srv)
        # Everything got to alice; replies: one each to carol and dave.
        got = sorted((m.mail_from, tuple(m.rcpts)) for m in sk.messages)
        assert got == [("", ("carol@remote.test",)),
                       ("", ("dave@remote.test",))], got
        for m in sk.messages:
            assert b"\r\nAuto-Submitted: auto-replied\r\n" in m.data, m.data
            assert b"\r\nSubject: Away\r\n" in m.data, m.data
            assert b"From: alice@example.test" in m.data, m.data
            assert b"I am away until Monday." in m.data
        carol = [m for m in sk.messages if m.rcpts == ["carol@remote.test"]]
        assert b"In-Reply-To: <first@remote.test>" in carol[0].data
        assert srv.log_text().count("action=vacation") >= 5
        # Off: no more replies.
        srv.dmail_user("vacation", ALICE, "off")
        post(srv, "erin@remote.test", "after")
        srv.wait_messages(ALICE, 6)
        oc.wait_queue_empty(srv)
        assert len(sk.messages) == 2


def test_sendmail_f_bare_name_is_qualified():
    with oc.server(users=[ALICE]) as srv:
        # Server up: SMTP submission.
        r = sendmail(srv, ["-f", "root", ALICE], b"Subject: cron\n\nup\n")
        assert r.returncode == 0, r.stderr
        (p,) = srv.wait_messages(ALICE, 1)
        with open(p, "rb") as f:
            assert f.read().startswith(b"Return-Path: <root@example.test>\n")
        # Server down: the maildrop file has the qualified sender too.
        srv.stop()
        r = sendmail(srv, ["-f", "root", ALICE], b"Subject: cron\n\ndown\n")
        assert r.returncode == 0, r.stderr
        drop = os.path.join(srv.state_dir, "spool", "maildrop")
        (name,) = [n for n in os.listdir(drop) if not n.startswith(".")]
        with open(os.path.join(drop, name), "rb") as f:
            head = f.read().split(b"\n\n", 1)[0].split(b"\n")
        assert b"sender root@example.test" in head, head
        # A full address and the null sender stay as given.
        r = sendmail(srv, ["-f", "<>", ALICE], b"Subject: n\n\nn\n")
        assert r.returncode == 0, r.stderr
        files = [n for n in os.listdir(drop)
                 if not n.startswith(".") and n != name]
        with open(os.path.join(drop, files[0]), "rb") as f:
            head = f.read().split(b"\n\n", 1)[0].split(b"\n")
        assert b"sender " in head, head


if __name__ == "__main__":
    dt.main([test_plus_addressing_and_catchall,
             test_vacation_replies_once_per_sender,
             test_sendmail_f_bare_name_is_qualified])
