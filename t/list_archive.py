#!/usr/bin/env python3
"""DList archive, digest, bounces and loops through real SMTP: "index"
and "get N" from the archive; a digest member gets one RFC 1153 digest
instead of the posts once digest_max_size is reached; VERP bounces raise
a member's score until it is set to nomail and the owner is told; a DSN
to the plain bounce address counts through Final-Recipient; a list
subscribed to itself does not loop; Auto-Submitted mail never reaches
the list."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402

LIST = "club@example.test"
REQ = "club-request@example.test"
USERS = ["alice@example.test", "bob@example.test", "carol@example.test",
         "owner@example.test"]


def posts(srv, user, subject=""):
    return [m for m in lc.messages(srv, user)
            if m["List-Id"] and subject in (m["Subject"] or "")
            and "Digest" not in (m["Subject"] or "")]


def test_archive_index_get():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        for i in (1, 2, 3):
            lc.send(srv, "alice@example.test", LIST,
                    subject="archived %d" % i, body="Text %d.\n" % i)
            lc.wait_message(srv, "bob@example.test",
                            lc.subject_has("archived %d" % i))
        lc.send(srv, "bob@example.test", REQ, subject="arch",
                body="index\nget 2\nget 99\n")
        r = lc.wait_message(srv, "bob@example.test",
                            lc.subject_has("Re: arch"))
        body = lc.body_of(r)
        for i in (1, 2, 3):
            assert "[club] archived %d" % i in body, body
        assert "Message 2 of club@example.test sent" in body
        assert "No message 99" in body
        got = lc.wait_message(srv, "bob@example.test",
                              lc.subject_has("archive message 2"))
        assert got.get_content_type() == "message/rfc822"
        inner = got.get_payload()[0]
        assert inner["Subject"] == "[club] archived 2"
        assert "Text 2." in lc.body_of(inner)
        # Non-members may not read it.
        lc.send(srv, "carol@example.test", REQ, subject="peek",
                body="get club 1\n")
        r = lc.wait_message(srv, "carol@example.test",
                            lc.subject_has("Re: peek"))
        assert "Only members" in lc.body_of(r)
        lc.settle(srv)
        assert not [m for m in lc.messages(srv, "carol@example.test")
                    if "archive message" in (m["Subject"] or "")]
        lc.assert_workers_healthy(srv)


def test_digest():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.set_list_option(srv, LIST, "digest_max_size 2k")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        lc.dlist(srv, "set", LIST, "alice@example.test", "digest")
        big = "x" * 70 + "\n"
        lc.send(srv, "bob@example.test", LIST, subject="topic one",
                body="First.\n" + big * 10)
        lc.wait_message(srv, "bob@example.test", lc.subject_has("topic one"))
        lc.settle(srv)
        assert not lc.messages(srv, "alice@example.test"), \
            "digest member got the post itself, or a digest too early"
        lc.send(srv, "bob@example.test", LIST, subject="topic two",
                body="Second.\n-- \nsig line\n" + big * 10)
        d = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("club Digest"), what="digest")
        assert d["Subject"] == "club Digest, Vol 1, Issue 1", d["Subject"]
        assert d["List-Id"] == "<club.example.test>"
        body = lc.body_of(d)
        assert "Today's Topics:" in body
        assert "[club] topic one" in body and "[club] topic two" in body
        assert "\n" + "-" * 70 + "\n" in body
        assert "\n" + "-" * 30 + "\n" in body
        assert "First." in body and "Second." in body
        assert "\n- -- \nsig line" in body, "no RFC 934 stuffing"
        assert "End of club Digest V1 #1" in body
        lc.settle(srv)
        assert len(lc.messages(srv, "alice@example.test")) == 1
        assert len(posts(srv, "bob@example.test")) == 2
        # The digest queue is empty again.
        ddir = os.path.join(srv.state_dir, "lists", LIST, "digest")
        assert [n for n in os.listdir(ddir) if n != "issue"] == []
        lc.assert_workers_healthy(srv)


def test_digest_interval():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.set_list_option(srv, LIST, "digest_interval 2s")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        lc.dlist(srv, "set", LIST, "alice@example.test", "digest")
        lc.send(srv, "bob@example.test", LIST, subject="early")
        lc.wait_message(srv, "bob@example.test", lc.subject_has("early"))
        lc.settle(srv, 0.5)
        assert not lc.messages(srv, "alice@example.test")
        time.sleep(2.5)
        # The oldest waiting post is now older than digest_interval: the
        # next post sends the digest (so does the periodic check).
        lc.send(srv, "bob@example.test", LIST, subject="late")
        d = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("club Digest"), what="digest")
        body = lc.body_of(d)
        assert "[club] early" in body and "[club] late" in body
        lc.assert_workers_healthy(srv)


def test_digest_mime():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.set_list_option(srv, LIST, "digest_max_size 1k")
        lc.set_list_option(srv, LIST, "digest_format mime")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        lc.dlist(srv, "set", LIST, "alice@example.test", "digest")
        lc.send(srv, "bob@example.test", LIST, subject="mime one",
                body="One.\n")
        lc.send(srv, "bob@example.test", LIST, subject="mime two",
                body="Two.\n" + "y" * 70 + "\n" * 20)
        d = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("club Digest"), what="digest")
        assert d.get_content_type() == "multipart/digest", \
            d.get_content_type()
        parts = d.get_payload()
        assert parts[0].get_content_type() == "text/plain"
        assert "[club] mime one" in lc.body_of(parts[0])
        inner = [p.get_payload()[0] for p in parts[1:]]
        assert all(p.get_content_type() == "message/rfc822"
                   for p in parts[1:])
        assert [m["Subject"] for m in inner] == ["[club] mime one",
                                                 "[club] mime two"]
        assert inner[0]["List-Id"] == "<club.example.test>"
        assert lc.body_of(inner[0]).strip() == "One."
        lc.assert_workers_healthy(srv)


def dsn(srv, rcpt, member):
    body = ("This is a delivery status notification.\n\n"
            "Reporting-MTA: dns; mx.remote.test\n\n"
            "Final-Recipient: rfc822; %s\nAction: failed\n"
            "Status: 5.1.1\n" % member)
    lc.send(srv, "", rcpt, subject="Undelivered Mail", body=body,
            from_hdr="MAILER-DAEMON@remote.test")


def test_bounces_disable_member():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.set_list_option(srv, LIST, "bounce_threshold 3")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test", "gone@remote.test")
        verp = "club-bounces+gone=remote.test@example.test"
        for i in range(2):
            dsn(srv, verp, "gone@remote.test")
        lc.settle(srv, 0.2)
        out = lc.dlist(srv, "members", LIST).stdout
        assert "gone@remote.test bounce=2" in out, out
        assert not lc.messages(srv, "owner@example.test")
        dsn(srv, verp, "gone@remote.test")
        n = lc.wait_message(srv, "owner@example.test",
                            lc.subject_has("disabled after bounces"))
        assert "gone@remote.test" in lc.body_of(n)
        out = lc.dlist(srv, "members", LIST).stdout
        assert "gone@remote.test nomail bounce=3" in out, out
        # Without VERP: the member comes from Final-Recipient.
        dsn(srv, "club-bounces@example.test", "bob@example.test")
        lc.settle(srv, 0.2)
        out = lc.dlist(srv, "members", LIST).stdout
        assert "bob@example.test bounce=1" in out, out
        # A bounce for a non-member changes nothing.
        dsn(srv, "club-bounces+who=nowhere.test@example.test",
            "who@nowhere.test")
        lc.settle(srv, 0.2)
        assert "who@" not in lc.dlist(srv, "members", LIST).stdout
        # "set mail" by the member resets it.
        lc.dlist(srv, "set", LIST, "gone@remote.test", "mail")
        out = lc.dlist(srv, "members", LIST).stdout
        assert "gone@remote.test bounce=0" in out, out
        lc.assert_workers_healthy(srv)


def test_loops_and_auto_replies():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        # The list subscribed to itself.
        lc.dlist(srv, "subscribe", LIST, LIST)
        lc.send(srv, "alice@example.test", LIST, subject="echo test")
        lc.wait_message(srv, "bob@example.test", lc.subject_has("echo test"))
        dt.wait_for(lambda: "status=dropped reason=\"loop (our own List-Id "
                    "or X-Loop)\"" in srv.log_text(), what="loop to be logged")
        lc.settle(srv)
        assert len(posts(srv, "bob@example.test", "echo test")) == 1
        assert len(posts(srv, "alice@example.test", "echo test")) == 1
        # Vacation replies to the list never reach it.
        lc.send(srv, "bob@example.test", LIST, subject="Out of office",
                headers={"Auto-Submitted": "auto-replied"})
        lc.send(srv, "bob@example.test", LIST, subject="bulk thing",
                headers={"Precedence": "bulk"})
        lc.settle(srv)
        assert not posts(srv, "alice@example.test", "Out of office")
        assert not posts(srv, "alice@example.test", "bulk thing")
        assert srv.log_text().count("automatic message") >= 2
        lc.assert_workers_healthy(srv)


if __name__ == "__main__":
    dt.main([test_archive_index_get, test_digest, test_digest_interval,
             test_digest_mime,
             test_bounces_disable_member, test_loops_and_auto_replies])
