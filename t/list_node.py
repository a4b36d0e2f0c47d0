#!/usr/bin/env python3
"""list_node - lists on one designated node (README, Running several
nodes): node A has the list domain in local_domains and the list; node
B takes mail for that domain from any client (relay_domains, not an
open relay: other remote domains get 554) and hands it to A
(transport). A post sent to B reaches the list's member through A's list
server, and B's queue is empty afterwards."""

import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import outbound_common as oc  # noqa: E402

LISTS = "lists.example.test"
LIST = "club@" + LISTS
MEMBER = "alice@example.test"


def test_post_through_another_node():
    if not os.path.exists(oc.QUEUED):
        raise dt.SkipTest("dmail-queued not built")
    a = lc.server(users=(MEMBER, "owner@example.test"), start=False)
    a.write_conf(a.extra + "local_domains %s\n" % LISTS)
    with a:
        a.start()
        lc.dlist(a, "create", LIST, "--owner", "owner@example.test")
        lc.set_list_option(a, LIST, "post anyone")
        lc.dlist(a, "subscribe", LIST, MEMBER)
        # Each node its own hostname (README): the same one on both would
        # be a mail loop to the queue manager.
        b = dt.Server(smtp=True, domains=["other.test"],
                      hostname="nodeb.example.test", extra=(
            "smtp_program %s\nqueue_program %s\nqueue_retry_min 1\n"
            "queue_retry_max 2\nrelay_domains %s\n"
            "transport %s [127.0.0.1]:%d\n"
            % (dt.SMTPD, oc.QUEUED, LISTS, LISTS, a.port("smtp"))))
        with b:
            with smtplib.SMTP("127.0.0.1", b.port("smtp"), timeout=20) as s:
                s.ehlo("client.test")
                assert s.mail("bob@remote.test")[0] == 250
                assert s.rcpt(LIST)[0] == 250
                code, text = s.rcpt("someone@elsewhere.test")
                assert code == 554 and b"5.7.1" in text, (code, text)
                code, _ = s.data("From: bob@remote.test\r\nTo: %s\r\n"
                                 "Subject: via node B\r\n\r\nhello "
                                 "club\r\n" % LIST)
                assert code == 250, code
            m = lc.wait_message(a, MEMBER, lc.subject_has("via node B"),
                                what="the post through node A")
            assert "club.lists.example.test" in (m.get("List-Id") or ""), \
                m.get("List-Id")
            oc.wait_queue_empty(b)


if __name__ == "__main__":
    dt.main([test_post_through_another_node])
