#!/usr/bin/env python3
"""DList moderation through real SMTP: a non-member's post is held, the
moderator gets approve/reject tokens and the poster a note; a plain reply
by the moderator approves and the post is delivered; "reject TOKEN"
drops it and tells the poster; only moderators may approve; announce
lists refuse others; subscriptions to an "approve" list need the owner."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402

LIST = "club@example.test"
REQ = "club-request@example.test"
USERS = ["alice@example.test", "bob@example.test", "stranger@example.test",
         "owner@example.test", "mod@example.test"]


def setup(srv, *options):
    lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
    lc.set_list_option(srv, LIST, "moderator mod@example.test")
    for o in options:
        lc.set_list_option(srv, LIST, o)
    lc.dlist(srv, "subscribe", LIST, "alice@example.test",
             "bob@example.test")


def posts(srv, user, subject):
    return [m for m in lc.messages(srv, user)
            if m["List-Id"] and subject in (m["Subject"] or "")]


def test_hold_approve_by_reply():
    srv = lc.server(users=USERS)
    with srv:
        setup(srv)
        lc.send(srv, "stranger@example.test", LIST, subject="outside view",
                body="I am not a member.\n")
        notice = lc.wait_message(srv, "mod@example.test",
                                 lc.subject_has("held post"),
                                 what="moderator notice")
        tok = lc.token_in(notice, "approve")
        assert lc.token_in(notice, "reject") == tok
        assert notice["From"] == REQ and notice["Reply-To"] == REQ
        assert "not a member" in lc.body_of(notice)
        note = lc.wait_message(srv, "stranger@example.test",
                               lc.subject_has("awaits approval"),
                               what="note to the poster")
        assert note["Auto-Submitted"] == "auto-replied"
        lc.settle(srv)
        assert not posts(srv, "alice@example.test", "outside view")
        # The owner (not moderator) gets nothing: moderators are set.
        assert not lc.messages(srv, "owner@example.test")
        # Someone else quoting the token may not approve.
        lc.send(srv, "bob@example.test", REQ, subject="x",
                body="approve %s\n" % tok)
        r = lc.wait_message(srv, "bob@example.test", lc.subject_has("Re: x"))
        assert "Only owners and moderators" in lc.body_of(r)
        lc.settle(srv)
        assert not posts(srv, "alice@example.test", "outside view")
        # A plain reply of the moderator (quoting the notice) approves.
        quoted = "".join("> " + ln + "\n" for ln in
                         lc.body_of(notice).splitlines())
        lc.send(srv, "mod@example.test", REQ,
                subject="Re: " + notice["Subject"], body="ok\n\n" + quoted)
        for u in ("alice@example.test", "bob@example.test"):
            m = lc.wait_message(srv, u, lc.subject_has("outside view"),
                                what="approved post")
            assert m["Subject"] == "[club] outside view"
            assert m["From"] == "stranger@example.test"
        r = lc.wait_message(srv, "mod@example.test",
                            lc.subject_has("Re: club: held"))
        assert "approved and distributed" in lc.body_of(r), lc.body_of(r)
        lc.settle(srv)
        assert len(posts(srv, "alice@example.test", "outside view")) == 1
        # The token is used up.
        lc.send(srv, "mod@example.test", REQ, subject="again",
                body="approve %s\n" % tok)
        r = lc.wait_message(srv, "mod@example.test",
                            lc.subject_has("Re: again"))
        assert "Unknown or expired" in lc.body_of(r)
        lc.settle(srv)
        assert len(posts(srv, "alice@example.test", "outside view")) == 1
        lc.assert_workers_healthy(srv)


def test_reject_and_announce():
    srv = lc.server(users=USERS)
    with srv:
        setup(srv)
        lc.send(srv, "stranger@example.test", LIST, subject="spam offer")
        notice = lc.wait_message(srv, "mod@example.test",
                                 lc.subject_has("held post"))
        tok = lc.token_in(notice, "reject")
        lc.send(srv, "mod@example.test", REQ, subject="decision",
                body="reject %s\n" % tok)
        lc.wait_message(srv, "stranger@example.test",
                        lc.subject_has("Message rejected"),
                        what="rejection note")
        r = lc.wait_message(srv, "mod@example.test",
                            lc.subject_has("Re: decision"))
        assert "rejected" in lc.body_of(r)
        held = os.path.join(srv.state_dir, "lists", LIST, "held")
        assert os.listdir(held) == [], os.listdir(held)
        lc.settle(srv)
        assert not posts(srv, "alice@example.test", "spam offer")

        # announce: only owners and moderators post; members are refused.
        lc.set_list_option(srv, LIST, "post announce")
        lc.send(srv, "alice@example.test", LIST, subject="member news")
        lc.wait_message(srv, "alice@example.test",
                        lc.subject_has("not distributed"))
        lc.send(srv, "owner@example.test", LIST, subject="official news")
        m = lc.wait_message(srv, "bob@example.test",
                            lc.subject_has("official news"))
        assert m["List-Post"] == "NO", m["List-Post"]
        lc.settle(srv)
        assert not posts(srv, "bob@example.test", "member news")
        lc.assert_workers_healthy(srv)


def test_moderated_and_subscription_approval():
    srv = lc.server(users=USERS)
    with srv:
        setup(srv, "subscribe approve")
        lc.send(srv, "stranger@example.test", REQ, subject="join",
                body="subscribe\n")
        req = lc.wait_message(srv, "stranger@example.test",
                              lc.subject_has("confirm "))
        lc.send(srv, "stranger@example.test", REQ,
                subject="Re: " + req["Subject"])
        notice = lc.wait_message(srv, "owner@example.test",
                                 lc.subject_has("subscription of"))
        r = lc.wait_message(srv, "stranger@example.test",
                            lc.subject_has("Re: confirm"))
        assert "must approve" in lc.body_of(r)
        assert "stranger@example.test" not in lc.members(srv, LIST)
        lc.send(srv, "owner@example.test", REQ, subject="ok",
                body="approve %s\n" % lc.token_in(notice, "approve"))
        lc.wait_message(srv, "stranger@example.test",
                        lc.subject_has("Welcome to"))
        assert "stranger@example.test" in lc.members(srv, LIST)
        lc.assert_workers_healthy(srv)


def test_expired_confirmation():
    srv = lc.server(users=USERS)
    with srv:
        setup(srv)
        lc.send(srv, "stranger@example.test", REQ, subject="join",
                body="subscribe\n")
        req = lc.wait_message(srv, "stranger@example.test",
                              lc.subject_has("confirm "))
        tok = lc.token_in(req, "confirm")
        path = os.path.join(srv.state_dir, "lists", LIST, "tokens", tok)
        with open(path) as f:
            text = f.read()
        assert "action subscribe\naddress stranger@example.test\n" in text
        # Let it expire (as if 3 days had passed).
        with open(path, "w") as f:
            f.write(text.split("expires")[0] + "expires 1\n")
        lc.send(srv, "stranger@example.test", REQ,
                subject="Re: " + req["Subject"])
        r = lc.wait_message(srv, "stranger@example.test",
                            lc.subject_has("Re: confirm"))
        assert "Unknown or expired" in lc.body_of(r)
        assert not os.path.exists(path)
        assert "stranger@example.test" not in lc.members(srv, LIST)
        lc.assert_workers_healthy(srv)


if __name__ == "__main__":
    dt.main([test_hold_approve_by_reply, test_reject_and_announce,
             test_moderated_and_subscription_approval,
             test_expired_confirmation])
