#!/usr/bin/env python3
"""DList through real SMTP into a running dmaild: creating a list with
dlist, subscribing by mail with a confirmation round trip, a member's post
reaching every member's Maildir with the list headers, unsubscribing,
the list address being accepted only while the list exists, and
lists.dat edits taking effect without a reload."""

import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402

LIST = "club@example.test"
REQ = "club-request@example.test"
USERS = ["alice@example.test", "bob@example.test", "carol@example.test",
         "owner@example.test"]


def test_create_and_lists():
    srv = lc.server(users=USERS)
    with srv:
        r = lc.dlist(srv, "create", LIST, "--owner", "owner@example.test",
                     "--description", "The Club")
        assert "created club@example.test" in r.stdout, r.stdout
        with open(srv.lists_file) as f:
            text = f.read()
        assert "list club@example.test" in text
        assert "owner owner@example.test" in text
        r = lc.dlist(srv, "lists")
        assert "club@example.test  The Club" in r.stdout, r.stdout
        # A second create of the same list fails and changes nothing.
        r = lc.dlist(srv, "create", LIST, "--owner", "x@example.test",
                     check=False)
        assert r.returncode == 1 and "exists" in r.stderr, r.stderr
        # Not a local domain: refused.
        r = lc.dlist(srv, "create", "l@elsewhere.test", "--owner",
                     "x@example.test", check=False)
        assert r.returncode == 1 and "local_domains" in r.stderr
        # The list address and its -request address are accepted by SMTP
        # without any account; an unknown name is still 550.
        with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
            s.ehlo()
            s.mail("alice@example.test")
            assert s.rcpt(LIST)[0] == 250
            assert s.rcpt(REQ)[0] == 250
            assert s.rcpt("club-owner@example.test")[0] == 250
            assert s.rcpt("club-bounces+x=y.test@example.test")[0] == 250
            assert s.rcpt("dlist@example.test")[0] == 250
            assert s.rcpt("nolist@example.test")[0] == 550
            s.rset()
        # delete removes the block; the address is unknown again at once.
        r = lc.dlist(srv, "delete", LIST)
        assert "deleted" in r.stdout
        with open(srv.lists_file) as f:
            assert "club@" not in f.read()
        with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
            s.ehlo()
            s.mail("alice@example.test")
            assert s.rcpt(LIST)[0] == 550
            s.rset()
        lc.assert_workers_healthy(srv)


def test_subscribe_confirm_post_unsubscribe():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test",
                 "--description", "The Club")
        # alice asks by mail (command in the body); she gets a reply and
        # a confirmation request with a token.
        lc.send(srv, "alice@example.test", REQ, subject="hi",
                body="subscribe\n")
        req = lc.wait_message(srv, "alice@example.test",
                              lc.subject_has("confirm "),
                              what="confirmation request")
        assert req["From"] == REQ, req["From"]
        assert req["Reply-To"] == REQ
        tok = lc.token_in(req, "confirm")
        reply = lc.wait_message(srv, "alice@example.test",
                                lc.subject_has("Re: hi"), what="reply")
        assert "confirmation request was sent" in lc.body_of(reply)
        assert lc.members(srv, LIST) == []
        # A plain reply (Subject "Re: confirm TOKEN") completes it.
        lc.send(srv, "alice@example.test", REQ,
                subject="Re: " + req["Subject"], body="> quoted text\n")
        lc.wait_message(srv, "alice@example.test",
                        lc.subject_has("Welcome to club@example.test"),
                        what="welcome")
        assert lc.members(srv, LIST) == ["alice@example.test"]
        # The same token again does nothing.
        lc.send(srv, "alice@example.test", REQ, subject="again",
                body="confirm %s\n" % tok)
        r = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("Re: again"))
        assert "Unknown or expired" in lc.body_of(r)

        # bob is added by the operator without confirmation.
        lc.dlist(srv, "subscribe", LIST, "bob@example.test")
        assert lc.members(srv, LIST) == ["alice@example.test",
                                         "bob@example.test"]
        before = {u: len(srv.maildir_messages(u)) for u in USERS}

        # A post by a member reaches every member once, with the headers.
        lc.send(srv, "bob@example.test", LIST, subject="first post",
                body="Line one.\n.dot line\n")
        for u in ("alice@example.test", "bob@example.test"):
            m = lc.wait_message(srv, u, lc.subject_has("first post"),
                                what="post")
            assert m["Subject"] == "[club] first post", m["Subject"]
            assert m["List-Id"] == "The Club <club.example.test>", \
                m["List-Id"]
            assert m["List-Post"] == "<mailto:club@example.test>"
            assert m["List-Unsubscribe"] == \
                "<mailto:club-request@example.test?subject=unsubscribe>"
            assert m["List-Help"] == \
                "<mailto:club-request@example.test?subject=help>"
            assert m["List-Owner"] == "<mailto:club-owner@example.test>"
            assert m["Precedence"] == "list"
            assert m["X-Loop"] == LIST
            assert m["Reply-To"] == LIST
            assert m["Return-Path"] == "<club-bounces@example.test>", \
                m["Return-Path"]
            assert m["From"] == "bob@example.test"
            assert lc.body_of(m) == "Line one.\n.dot line\n", \
                repr(lc.body_of(m))
        lc.settle(srv)
        # Exactly one copy each; carol (not a member) got nothing.
        assert len(lc.messages(srv, "bob@example.test")) == \
            before["bob@example.test"] + 1
        assert len(srv.maildir_messages("carol@example.test")) == 0
        # One stored copy: the two Maildir files are hard links.
        a = [p for p in srv.maildir_messages("alice@example.test")]
        b = [p for p in srv.maildir_messages("bob@example.test")]
        inodes_a = {os.stat(p).st_ino for p in a}
        assert any(os.stat(p).st_ino in inodes_a for p in b), \
            "post not hard-linked between the members' Maildirs"

        # alice unsubscribes: confirmation, then she is gone.
        lc.send(srv, "alice@example.test", REQ, subject="bye",
                body="unsubscribe club\nend\nsubscribe club\n")
        req = lc.wait_message(srv, "alice@example.test",
                              lambda m: "unsubscribe alice" in
                              lc.body_of(m), what="unsubscribe request")
        r = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("Re: bye"))
        assert "> subscribe" not in lc.body_of(r), "read past 'end'"
        lc.send(srv, "alice@example.test", REQ, subject="ok",
                body="yes please\nconfirm %s\n" % lc.token_in(req,
                                                             "confirm"))
        dt.wait_for(lambda: lc.members(srv, LIST) == ["bob@example.test"],
                    what="alice to leave")
        n_alice = len(srv.maildir_messages("alice@example.test"))
        lc.send(srv, "bob@example.test", LIST, subject="second post")
        lc.wait_message(srv, "bob@example.test",
                        lc.subject_has("second post"))
        lc.settle(srv)
        got = lc.messages(srv, "alice@example.test")[n_alice:]
        assert not [m for m in got if "second post" in m["Subject"]]
        lc.assert_workers_healthy(srv)


def test_commands_and_dlist_address():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test",
                 "--description", "The Club")
        lc.dlist(srv, "create", "secret@example.test", "--owner",
                 "owner@example.test")
        lc.set_list_option(srv, "secret@example.test", "hidden yes")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test")
        lc.send(srv, "alice@example.test", "dlist@example.test",
                subject="commands",
                body="help\nlists\ninfo club\nwho club\n"
                     "set club digest\nbogus command here\n-- \nlists\n")
        r = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("Re: commands"))
        body = lc.body_of(r)
        assert r["From"] == "dlist@example.test"
        assert "subscribe LIST [ADDRESS]" in body          # help
        assert "club@example.test" in body                  # lists
        assert "secret@" not in body                         # hidden
        assert "Subscribe:   confirm" in body                # info
        assert "Members of club@example.test (1)" in body    # who
        assert "alice@example.test on club@example.test: digest" in body
        assert body.count("> lists") == 1, "read past the signature"
        assert "digest" in lc.dlist(srv, "members", LIST).stdout
        # A non-member may not see the members.
        lc.send(srv, "carol@example.test", REQ, subject="who",
                body="who\n")
        r = lc.wait_message(srv, "carol@example.test",
                            lc.subject_has("Re: who"))
        assert "Only members" in lc.body_of(r)
        # Mail to LIST-owner reaches the owners as it was sent.
        lc.send(srv, "carol@example.test", "club-owner@example.test",
                subject="question for the owner", body="Hello owner.\n")
        m = lc.wait_message(srv, "owner@example.test",
                            lc.subject_has("question for the owner"))
        assert m["Subject"] == "question for the owner"
        assert m["From"] == "carol@example.test"
        assert m["List-Id"] is None
        assert m["Return-Path"] == "<club-bounces@example.test>"
        # Automatic mail gets no answer at all.
        lc.send(srv, "carol@example.test", REQ, subject="auto",
                body="help\n", headers={"Auto-Submitted": "auto-replied"})
        lc.settle(srv)
        assert not [m for m in lc.messages(srv, "carol@example.test")
                    if "auto" in (m["Subject"] or "")]
        lc.assert_workers_healthy(srv)


def test_lists_dat_errors_keep_serving():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        with open(srv.lists_file, "a") as f:
            f.write("\treply_to somebody\n")
        r = lc.dlist(srv, "check", check=False)
        assert r.returncode == 1
        assert "lists.dat:" in r.stderr and \
            "reply_to: 'somebody' is not one of list|sender|none" in \
            r.stderr, r.stderr
        # The SMTP worker never turns a broken lists.dat into 550: it
        # keeps the last good version it read, or says 451 (try later)
        # when it never read a good one.
        for _ in range(4):
            with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
                s.ehlo()
                s.mail("alice@example.test")
                assert s.rcpt(LIST)[0] in (250, 451)
                s.rset()
        dt.wait_for(lambda: "not loaded, keeping the previous lists" in
                    srv.log_text(), what="log of the bad lists.dat")
        lc.assert_workers_healthy(srv)


def test_dlist_import_members_set():
    srv = lc.server(users=USERS)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        path = os.path.join(srv.tmp, "import.txt")
        with open(path, "w") as f:
            f.write("# members\nAlice <Alice@Example.Test>\n"
                    "bob@example.test\nnot an address\n\n"
                    "carol@remote.test\n")
        r = lc.dlist(srv, "import", LIST, path, check=False)
        assert r.returncode == 1, "a bad line must make import fail"
        assert "'not an address' is not an address" in r.stderr, r.stderr
        assert "imported 3 new member(s)" in r.stdout, r.stdout
        assert lc.members(srv, LIST) == ["alice@example.test",
                                         "bob@example.test",
                                         "carol@remote.test"]
        # importing again adds nobody twice
        r = lc.dlist(srv, "import", LIST, path, check=False)
        assert "imported 0 new member(s)" in r.stdout, r.stdout
        lc.dlist(srv, "set", LIST, "bob@example.test", "nomail")
        out = lc.dlist(srv, "members", LIST).stdout
        assert "bob@example.test nomail bounce=0" in out, out
        r = lc.dlist(srv, "unsubscribe", LIST, "carol@remote.test",
                     "zed@example.test")
        assert "carol@remote.test: unsubscribed" in r.stdout
        assert "zed@example.test: not a member" in r.stdout
        r = lc.dlist(srv, "subscribe", "nolist", "a@example.test",
                     check=False)
        assert r.returncode == 1 and "no list" in r.stderr
        r = lc.dlist(srv, "bogus", check=False)
        assert r.returncode == 2
        # nomail members get nothing
        lc.send(srv, "alice@example.test", LIST, subject="quiet please")
        lc.wait_message(srv, "alice@example.test",
                        lc.subject_has("quiet please"))
        lc.settle(srv)
        assert not lc.messages(srv, "bob@example.test")
        lc.assert_workers_healthy(srv)


def test_one_click_unsubscribe_headers():
    srv = lc.server(users=USERS,
                    extra="list_web_url https://lists.example.test/unsub\n")
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.set_list_option(srv, LIST, "subject_prefix none")
        lc.set_list_option(srv, LIST, "reply_to none")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test")
        lc.send(srv, "alice@example.test", LIST, subject="one click",
                headers={"Reply-To": "elsewhere@example.test",
                         "List-Id": "<other.list.test>",
                         "Precedence": "first-class"})
        m = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("one click"))
        assert m["Subject"] == "one click"          # no prefix
        assert m["Reply-To"] == "elsewhere@example.test"   # left alone
        assert m.get_all("List-Id") == ["<club.example.test>"]
        assert m.get_all("Precedence") == ["list"]
        assert m["List-Unsubscribe"] == (
            "<mailto:club-request@example.test?subject=unsubscribe>, "
            "<https://lists.example.test/unsub?list=club@example.test>"), \
            m["List-Unsubscribe"]
        # One stored copy for every local member cannot name its reader:
        # no one-click claim (RFC 8058) on it.
        assert m["List-Unsubscribe-Post"] is None
        lc.assert_workers_healthy(srv)


if __name__ == "__main__":
    dt.main([test_create_and_lists, test_subscribe_confirm_post_unsubscribe,
             test_commands_and_dlist_address,
             test_lists_dat_errors_keep_serving,
             test_dlist_import_members_set,
             test_one_click_unsubscribe_headers])
