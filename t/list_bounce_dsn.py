#!/usr/bin/env python3
"""Bounce processing end to end: a remote member whose MX answers 550
during the SMTP transaction. DMail's own queue manager sends the DSN
(multipart/report, Auto-Submitted: auto-replied) to the VERP address
LIST-bounces+member=host@domain; the list server counts it, and at the
list's bounce_threshold the member is set to nomail and the owners are
told. A vacation auto-reply to the same address still counts nothing,
and neither does a delay report."""

import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import sink  # noqa: E402

LIST = "club@example.test"
OWNER = "owner@example.test"
BAD = "ann@remote.test"
GOOD = "ben@remote.test"
VERP = "club-bounces+ann=remote.test@example.test"


def member_line(srv, addr):
    for ln in lc.dlist(srv, "members", LIST).stdout.splitlines():
        if ln.split()[0] == addr:
            return ln
    raise AssertionError("%s not a member" % addr)


def bounce_score(srv, addr):
    return int(member_line(srv, addr).split("bounce=")[1])


def raw_send(srv, sender, rcpt, text):
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.sendmail(sender, [rcpt], text.replace("\n", "\r\n").encode())


def test_own_dsn_counts_vacation_does_not():
    with sink.Sink(replies={BAD: "550 5.1.1 no such user"}) as sk:
        srv = lc.server(queue=True, users=[OWNER, "alice@example.test"],
                        extra="transport remote.test [127.0.0.1]:%d\n"
                        % sk.port)
        with srv:
            lc.dlist(srv, "create", LIST, "--owner", OWNER)
            lc.set_list_option(srv, LIST, "bounce_threshold 2")
            lc.dlist(srv, "subscribe", LIST, BAD, GOOD,
                     "alice@example.test")
            # A vacation reply to the VERP address is not a bounce.
            raw_send(srv, "alice@example.test", VERP,
                     "From: ann@remote.test\nTo: %s\nSubject: Out of "
                     "office\nAuto-Submitted: auto-replied\n\nAway.\n"
                     % VERP)
            # Nor is a delay report.
            raw_send(srv, "", VERP, (
                "From: MAILER-DAEMON@remote.test\nTo: %s\n"
                "Subject: Delayed\nAuto-Submitted: auto-replied\n"
                "MIME-Version: 1.0\nContent-Type: multipart/report; "
                "report-type=delivery-status; boundary=\"b\"\n\n--b\n"
                "Content-Type: text/plain\n\nDelayed.\n--b\n"
                "Content-Type: message/delivery-status\n\n"
                "Reporting-MTA: dns; remote.test\n\n"
                "Final-Recipient: rfc822; ann@remote.test\n"
                "Action: delayed\nStatus: 4.0.0\n--b--\n") % VERP)
            lc.wait_spool_empty(srv)
            dt.wait_for(lambda: "auto-reply to the bounce address" in
                        srv.log_text() and "without a failed recipient"
                        in srv.log_text(), what="vacation and delay logged")
            assert bounce_score(srv, BAD) == 0
            # Two posts: the MX refuses ann with 550 each time; DMail's
            # own DSN goes to the VERP address and is counted.
            for i in (1, 2):
                lc.send(srv, OWNER, LIST, subject="post %d" % i)
                dt.wait_for(lambda: bounce_score(srv, BAD) >= i, 60,
                            what="bounce %d of %s counted" % (i, BAD))
            assert "nomail" in member_line(srv, BAD), member_line(srv, BAD)
            assert "nomail" not in member_line(srv, GOOD)
            assert bounce_score(srv, GOOD) == 0
            lc.wait_message(srv, OWNER, lc.subject_has(
                "%s disabled after bounces" % BAD), what="owner notice")
            # ben got both posts from the sink's point of view
            with sk.lock:
                got = [r for m in sk.messages for r in m.rcpts]
            assert got.count(GOOD) == 2, got
            lc.assert_workers_healthy(srv)


if __name__ == "__main__":
    dt.main([test_own_dsn_counts_vacation_does_not])
