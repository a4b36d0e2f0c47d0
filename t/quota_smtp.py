#!/usr/bin/env python3
"""quota_smtp - mailbox quota through the real interfaces: SIZE= at RCPT
(RFC 1870), the real size after DATA (552 5.2.2, 452 4.2.2), one mailbox
over quota among others (the others get it, it gets a later try through
the maildrop and its sender a DSN), the warning mail once per crossing,
and list mail to a member over quota retried, not dropped."""

import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
import list_common as lc  # noqa: E402
from maildrop_pickup import maildrop_files as maildrop, wakeup  # noqa: E402,E501

SMALL = "small@example.test"
ALICE = "alice@example.test"
BOB = "bob@example.test"


def body(n):
    """A message of about n bytes."""
    line = b"x" * 76 + b"\r\n"
    return b"Subject: size %d\r\n\r\n" % n + line * (n // len(line) + 1)


def smtp(srv):
    s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=20)
    s.ehlo("client.test")
    return s


def send_without_size(s, sender, rcpts, msg):
    """MAIL without SIZE= (smtplib's sendmail adds it): the quota is
    only known to be exceeded after DATA."""
    assert s.mail(sender)[0] == 250
    for r in rcpts:
        assert s.rcpt(r)[0] == 250, r
    return s.data(msg)


def test_size_at_rcpt_and_real_size_after_data():
    with oc.server(users=[ALICE]) as srv:
        srv.add_user(SMALL, "secret", "--quota-bytes", "100000")
        s = smtp(srv)
        # SIZE= larger than the whole quota: 552 5.2.2 at RCPT.
        s.mail("me@remote.test", ["SIZE=21000000"])
        code, text = s.rcpt(SMALL)
        assert code == 552 and text.startswith(b"5.2.2"), (code, text)
        s.rset()
        # Without SIZE= the RCPT is taken; the real size after DATA is
        # refused with 552 5.2.2 and nothing is stored.
        s.mail("me@remote.test")
        assert s.rcpt(SMALL)[0] == 250
        code, text = s.data(body(300000))
        assert code == 552 and text.startswith(b"5.2.2"), (code, text)
        assert srv.maildir_messages(SMALL) == []
        # Room for 60 kB: 50 kB fits, the next 50 kB does not (452).
        s.sendmail("me@remote.test", [SMALL], body(50000))
        s.mail("me@remote.test")
        assert s.rcpt(SMALL)[0] == 250
        code, text = s.data(body(55000))
        assert code == 452 and text.startswith(b"4.2.2"), (code, text)
        s.quit()
        assert len(srv.maildir_messages(SMALL)) == 1
        assert maildrop(srv) == []
        assert "status=deferred reason=over_quota" in srv.log_text()


def test_one_over_quota_among_others():
    with oc.server(users=[ALICE, BOB]) as srv:
        srv.add_user(SMALL, "secret", "--quota-bytes", "20000")
        s = smtp(srv)
        assert send_without_size(s, BOB, [ALICE, SMALL], body(30000))[0] \
            == 250
        s.quit()
        # alice has it at once; small's copy is bounced from the queue:
        # bob gets a DSN naming small with 5.2.2.
        srv.wait_messages(ALICE, 1)
        assert srv.maildir_messages(SMALL) == []
        m = dt.wait_for(lambda: oc.read_messages(srv, BOB), 15,
                        what="DSN to bob")
        per_msg, rcpts = oc.dsn_fields(m[0])
        assert rcpts[0]["final-recipient"].endswith(SMALL), rcpts
        assert rcpts[0]["status"] == "5.2.2", rcpts
        dt.wait_for(lambda: maildrop(srv) == [], 10, what="maildrop empty")


def test_full_mailbox_among_others_delivered_later():
    with oc.server(users=[ALICE, BOB]) as srv:
        srv.add_user(SMALL, "secret", "--quota-bytes", "20000")
        s = smtp(srv)
        s.sendmail(BOB, [SMALL], body(15000))
        # Room at RCPT (15 of 20 kB used), none for 10 kB after DATA:
        # alice gets it now, small once there is room; no bounce.
        assert send_without_size(s, BOB, [ALICE, SMALL],
                                 b"Subject: two\r\n" + body(10000))[0] == 250
        s.quit()
        srv.wait_messages(ALICE, 1)
        dt.wait_for(lambda: 'to=<small@example.test> reply="452 4.2.2'
                    in srv.log_text(), 10, what="deferral logged")
        assert len(srv.maildir_messages(SMALL)) == 1
        assert srv.maildir_messages(BOB) == []       # no bounce
        for p in srv.maildir_messages(SMALL):
            os.unlink(p)
        wakeup(srv)
        (p,) = srv.wait_messages(SMALL, 1)
        with open(p, "rb") as f:
            assert b"Subject: two" in f.read()
        dt.wait_for(lambda: maildrop(srv) == [], 10, what="maildrop empty")
        assert srv.maildir_messages(BOB) == []


def test_warning_once_per_crossing():
    with oc.server("quota_warning_percent 50\n", users=[BOB]) as srv:
        srv.add_user(SMALL, "secret", "--quota-bytes", "100000")
        s = smtp(srv)
        s.sendmail(BOB, [SMALL], body(30000))         # 30%: no warning
        assert len(srv.maildir_messages(SMALL)) == 1
        s.sendmail(BOB, [SMALL], body(30000))         # 60%: warning
        s.sendmail(BOB, [SMALL], body(10000))         # still above: none
        msgs = srv.wait_messages(SMALL, 4)
        warn = [m for m in oc.read_messages(srv, SMALL)
                if b"Auto-Submitted: auto-generated" in m]
        assert len(warn) == 1, len(warn)
        assert b"Return-Path: <>" in warn[0]
        assert b"Subject: Your mailbox is " in warn[0]
        # Below again (mail deleted), then above: a second warning.
        for p in msgs:
            os.unlink(p)
        s.sendmail(BOB, [SMALL], b"Subject: small\r\n\r\nsmall\r\n")
        s.sendmail(BOB, [SMALL], body(60000))
        s.quit()
        dt.wait_for(lambda: len([m for m in oc.read_messages(srv, SMALL)
                                 if b"auto-generated" in m]) == 1, 10,
                    what="second warning")
        assert len(srv.maildir_messages(SMALL)) == 3


def test_list_member_over_quota_retried():
    srv = lc.server(users=[ALICE, BOB], queue=True)
    with srv:
        srv.dmail_user("quota", BOB, "--quota-messages", "1")
        lc.dlist(srv, "create", "club@example.test", "--owner",
                 "owner@example.test")
        lc.dlist(srv, "subscribe", "club@example.test", ALICE)
        lc.dlist(srv, "subscribe", "club@example.test", BOB)
        s = smtp(srv)
        s.sendmail(ALICE, [BOB], b"Subject: filler\r\n\r\nfull now\r\n")
        s.quit()
        lc.send(srv, ALICE, "club@example.test", subject="post one")
        lc.wait_message(srv, ALICE, lc.subject_has("post one"))
        dt.wait_for(lambda: 'to=<bob@example.test> reply="452 4.2.2'
                    in srv.log_text(), 15, what="bob deferred")
        assert len(srv.maildir_messages(BOB)) == 1
        for p in srv.maildir_messages(BOB):
            os.unlink(p)
        wakeup(srv)
        lc.wait_message(srv, BOB, lc.subject_has("post one"),
                        what="post after room was made")
        dt.wait_for(lambda: maildrop(srv) == [], 10, what="maildrop empty")


if __name__ == "__main__":
    dt.main([test_size_at_rcpt_and_real_size_after_data,
             test_one_over_quota_among_others,
             test_full_mailbox_among_others_delivered_later,
             test_warning_once_per_crossing,
             test_list_member_over_quota_retried])
