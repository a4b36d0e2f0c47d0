#!/usr/bin/env python3
"""The web manager's pages and their security, with sessions as a
browser has them: a moderator of one list is refused another list (403)
and the administrator's pages (403); a POST without the CSRF token is
refused (403) and changes nothing; a script in a list description comes
back escaped; failed logins engage the shared throttle; cookies are
Secure, HttpOnly and SameSite=Strict; logout ends the session; a
moderator approves a held post from the moderation page and it reaches a
member's Maildir; the RFC 8058 one-click unsubscribe needs the member's
token."""

import hashlib
import hmac
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import web_common as wc  # noqa: E402

A = "club@example.test"
B = "other@example.test"
MOD = "mod@example.test"
USERS = (MOD, "alice@example.test", "stranger@example.test",
         "owner@example.test")


def setup(srv):
    lc.dlist(srv, "create", A, "--owner", "owner@example.test",
             "--description", "<script>alert(1)</script> & friends")
    lc.dlist(srv, "create", B, "--owner", "owner@example.test")
    lc.set_list_option(srv, A, "moderator %s" % MOD)
    lc.dlist(srv, "subscribe", A, "alice@example.test")


def test_roles_csrf_escaping():
    srv = wc.server(users=USERS)
    with srv:
        setup(srv)
        c = wc.Client(srv)
        r = c.login(MOD)
        assert r.getheader("Location") == "/lists"
        cookie = [v for k, v in r.getheaders() if k.lower() == "set-cookie"
                  and v.startswith("dmail_session=")][0]
        for flag in ("Secure", "HttpOnly", "SameSite=Strict"):
            assert flag in cookie, cookie
        page = c.get("/lists")
        assert A in page.body and B not in page.body, page.body
        r = c.get("/lists/%s" % A)
        assert r.status == 200
        assert "<script>alert" not in r.body, r.body
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in r.body
        assert c.get("/lists/%s/members" % B).status == 403
        assert c.get("/lists/%s" % B).status == 403
        assert c.get("/lists/nosuch@example.test").status == 404
        assert c.get("/dashboard").status == 403
        assert c.get("/queue").status == 403
        assert c.post("/control/reload").status == 403
        # CSRF: the same change without (or with a wrong) token.
        r = c.post("/lists/%s/members/add" % A,
                   {"address": "eve@example.test"}, csrf=False)
        assert r.status == 403, r.status
        r = c.post("/lists/%s/members/add" % A,
                   {"address": "eve@example.test", "csrf": "0" * 64})
        assert r.status == 403
        assert "eve@example.test" not in lc.members(srv, A)
        r = c.post("/lists/%s/members/add" % A, {"address": "eve@example.test"})
        assert r.status == 303, (r.status, r.body)
        assert "eve@example.test" in lc.members(srv, A)
        assert "refused" in srv.log_text()
        # Logout ends the session for good.
        assert c.post("/logout").status == 303
        r = c.get("/lists")
        assert r.status == 303 and r.getheader("Location") == "/login"
        # The administrator sees the admin pages.
        adm = wc.Client(srv)
        assert adm.login(wc.ADMIN).getheader("Location") == "/dashboard"
        r = adm.get("/dashboard")
        assert r.status == 200 and "web" in r.body
        assert adm.get("/lists/%s" % B).status == 200


def test_login_throttle():
    srv = wc.server(users=USERS, extra="auth_throttle_failures 3\n")
    with srv:
        c = wc.Client(srv)
        for _ in range(3):
            c.login(MOD, "wrong", expect=403)
        # Now even the right password is refused unchecked.
        r = c.login(MOD, wc.PASSWORD, expect=429)
        assert "Too many failed logins" in r.body
        assert "command=login user=%s client=127.0.0.1 status=refused" \
            % MOD in srv.log_text()


def test_moderate_and_oneclick():
    srv = wc.server(users=USERS)
    with srv:
        setup(srv)
        lc.send(srv, "stranger@example.test", A, subject="held via web",
                body="Please approve me.\n")
        c = wc.Client(srv)
        c.login(MOD)
        held = os.path.join(srv.state_dir, "lists", A, "held")
        dt.wait_for(lambda: os.path.isdir(held) and os.listdir(held), 15,
                    what="held post")
        page = c.get("/lists/%s/moderation" % A)
        assert "held via web" in page.body, page.body
        tok = re.search(r'name="id" value="([0-9a-f]+)"', page.body).group(1)
        r = c.post("/lists/%s/moderation/approve" % A, {"id": tok})
        assert r.status == 303, (r.status, r.body)
        lc.wait_message(srv, "alice@example.test",
                        lc.subject_has("held via web"), what="approved post")
        # One-click: a wrong token is refused, the member's works.
        q = urllib.parse.urlencode({"list": A, "member": "alice@example.test",
                                    "token": "0" * 32})
        anon = wc.Client(srv)
        assert anon.request("POST", "/unsubscribe?" + q,
                            {"List-Unsubscribe": "One-Click"}).status == 403
        with open(os.path.join(srv.state_dir, "lists", A, "secret"),
                  "rb") as f:
            secret = f.read()
        good = hmac.new(secret, b"alice@example.test",
                        hashlib.sha256).hexdigest()[:32]
        q = urllib.parse.urlencode({"list": A, "member": "alice@example.test",
                                    "token": good})
        r = anon.request("POST", "/unsubscribe?" + q,
                         {"List-Unsubscribe": "One-Click"})
        assert r.status == 200, (r.status, r.body)
        assert "alice@example.test" not in lc.members(srv, A)


def test_idle_expiry_and_self_service():
    """A member sets digest delivery on their own subscription (and
    nobody else's); an idle session ends (back to the login page)."""
    srv = wc.server(users=USERS, extra="web_session_idle 2\n")
    with srv:
        setup(srv)
        c = wc.Client(srv)
        c.login("alice@example.test")
        page = c.get("/me")
        assert A in page.body and B not in page.body, page.body
        r = c.post("/me/set", {"list": A, "mode": "digest"})
        assert r.status == 303, (r.status, r.body)
        out = lc.dlist(srv, "members", A).stdout
        assert re.search(r"alice@example.test.*digest", out), out
        # The form starts from the member's mode.
        assert "<option selected>digest</option>" in c.get("/me").body
        assert c.post("/me/set", {"list": B, "mode": "nomail"}).status == 404
        # Not a list admin: no member list of A.
        assert c.get("/lists/%s/members" % A).status == 403
        dt.wait_for(lambda: c.get("/me").status == 303, 15,
                    what="idle session to end")
        assert c.get("/me").getheader("Location") == "/login"


if __name__ == "__main__":
    dt.main([test_roles_csrf_escaping, test_login_throttle,
             test_moderate_and_oneclick, test_idle_expiry_and_self_service])
