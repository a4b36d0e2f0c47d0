#!/usr/bin/env python3
"""A list's settings, and creating and deleting lists, in the web manager
and its API (webd/web_list_admin.c) against a real dmaild: a change
lands in lists.dat with the operator's comments and the order of the
lists kept; a bad value is refused with 400 and lists.dat stays byte
for byte; a moderator may look but not change (403); administrators
create and delete lists (others 403); the list server uses a changed
setting at once."""

import http.client
import json
import os
import pwd
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import web_common as wc  # noqa: E402

LIST = "club@example.test"
OWNER = "owner@example.test"
MOD = "mod@example.test"


def api_json(c, path, obj=None, raw=None):
    """POST a JSON body with c's bearer token: (status, answer)."""
    conn = http.client.HTTPSConnection("localhost", c.srv.port("web"),
                                       context=c.ctx, timeout=30)
    body = raw if raw is not None else json.dumps(obj).encode()
    conn.request("POST", path, body=body, headers={
        "Content-Type": "application/json",
        "Authorization": "Bearer " + c.bearer})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    return resp.status, answer


def server(users=()):
    """wc.server, with the directory of lists.dat writable by run_as, as
    the web manager needs to change it (lists.dat(5))."""
    srv = wc.server(users=users)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(dt.RUN_AS)
        os.chown(srv.tmp, pw.pw_uid, pw.pw_gid)
    return srv


def lists_dat(srv):
    with open(srv.lists_file, "rb") as f:
        return f.read()


def three_lists(srv):
    """first, club and last, with an operator's comment in club's block
    and one above all; club has a moderator."""
    for name in ("first", "club", "last"):
        lc.dlist(srv, "create", "%s@example.test" % name, "--owner", OWNER)
    text = lists_dat(srv).decode()
    text = "# lists of the test, kept by hand\n" + text.replace(
        "list club@example.test\n",
        "list club@example.test\n\t# the club's own comment\n"
        "\tmoderator %s\n" % MOD)
    with open(srv.lists_file, "w") as f:
        f.write(text)


def test_settings_api():
    srv = server()
    with srv:
        three_lists(srv)
        c = wc.Client(srv, wc.token(srv, "--list", LIST))
        st, j = c.api("GET", "/api/v1/lists/" + LIST)
        assert st == 200 and j["subject_prefix"] == "[club]", j
        assert j["max_size"] == "0" and j["password_set"] is False, j
        assert j["digest_interval"] == "1d" and j["moderator"] == MOD, j
        before = lists_dat(srv)
        # JSON body: three keys changed, one the same (left alone).
        st, j = api_json(c, "/api/v1/lists/%s/settings" % LIST,
                         {"subject_prefix": "[talk #1]", "max_size": "2M",
                          "post": "members", "archive": False})
        assert st == 200 and j["output"] == "changed", j
        text = lists_dat(srv).decode()
        assert text.startswith("# lists of the test, kept by hand\n"), text
        assert "\t# the club's own comment\n" in text, text
        assert text.index("list first@") < text.index("list club@") < \
            text.index("list last@"), text
        club = text[text.index("list club@"):text.index("list last@")]
        for line in ("\tsubject_prefix [talk #1]\n", "\tmax_size 2M\n",
                     "\tarchive no\n", "\tpost members\n"):
            assert line in club, club
        assert club.count("post ") == 1, club
        # The other lists' blocks are as they were.
        assert before[:before.index(b"list club@")] == \
            lists_dat(srv)[:before.index(b"list club@")]
        st, j = c.api("GET", "/api/v1/lists/" + LIST)
        assert j["subject_prefix"] == "[talk #1]" and j["archive"] == "no"
        assert j["max_size"] == "2M", j
        # Form fields work too; an empty moderator removes the line.
        st, j = c.api("POST", "/api/v1/lists/%s/settings" % LIST,
                      {"moderator": "", "owner": "%s, b@example.test"
                       % OWNER})
        assert st == 200, j
        club = lists_dat(srv).decode()
        assert "moderator" not in club and \
            "owner owner@example.test, b@example.test" in club, club
        st, j = c.api("POST", "/api/v1/lists/%s/settings" % LIST,
                      {"password": "longenough"})
        assert st == 200 and c.api("GET", "/api/v1/lists/" + LIST)[1][
            "password_set"] is True
        # Bad values: 400, nothing written.
        good = lists_dat(srv)
        for fields, why in (
                ({"post": "everybody"}, "not one of"),
                ({"max_size": "big"}, "not a size"),
                ({"bounce_threshold": "0"}, "number"),
                ({"owner": "not-an-address"}, "not an address"),
                ({"owner": ""}, "needs a value"),
                ({"description": "two\nlines"}, "line breaks"),
                ({"description": "x\rlist evil@example.test"},
                 "line breaks"),
                ({"subject_prefix": "ok", "digest": "maybe"}, "yes or no"),
                ({"password": "short"}, "at least 8"),
                ({"colour": "blue"}, "unknown"),
                ({"archive": "yes", "archive ": "no"}, "unknown")):
            st, j = c.api("POST", "/api/v1/lists/%s/settings" % LIST,
                          fields)
            assert st == 400 and why in j["error"], (fields, st, j)
            assert lists_dat(srv) == good, fields
        st, j = api_json(c, "/api/v1/lists/%s/settings" % LIST,
                         raw=b'{"post": ')
        assert st == 400 and "JSON" in j["error"], j
        assert lists_dat(srv) == good
        log = srv.log_text()
        assert log.count("command=list-settings") >= 3, log
        assert log.count("command=list-settings user=token:list:%s "
                         "client=127.0.0.1 status=ok list=%s key="
                         "subject_prefix,max_size,archive\n"
                         % (LIST, LIST)) == 1, log


def test_moderator_may_not_change():
    srv = server(users=(OWNER, MOD))
    with srv:
        three_lists(srv)
        mod = wc.Client(srv)
        mod.login(MOD)
        page = mod.get("/lists/" + LIST)
        assert page.status == 200 and "subject_prefix" in page.body
        assert "Save settings" not in page.body, page.body
        before = lists_dat(srv)
        r = mod.post("/lists/%s/settings" % LIST,
                     {"subject_prefix": "[mod]"})
        assert r.status == 403, (r.status, r.body)
        assert lists_dat(srv) == before
        st, j = wc.Client(srv, None).api("POST", "/api/v1/lists/%s/settings"
                                         % LIST, {"post": "anyone"})
        assert st == 401, j
        owner = wc.Client(srv)
        owner.login(OWNER)
        page = owner.get("/lists/" + LIST)
        assert "Save settings" in page.body and \
            '<select id="k-post" name="post">' in page.body, page.body
        assert "Delete this list" not in page.body   # not an admin
        r = owner.post("/lists/%s/settings" % LIST,
                       {"subject_prefix": "[owned]", "post": "members"})
        assert r.status == 303, (r.status, r.body)
        assert b"\tsubject_prefix [owned]\n" in lists_dat(srv)
        assert "Settings saved." in owner.get(r.getheader("Location")).body
        log = srv.log_text()
        assert "command=list-settings user=%s" % MOD in log and \
            "status=refused list=%s" % LIST in log, log
        assert log.count("command=list-settings user=%s client=127.0.0.1 "
                         "status=ok list=%s key=subject_prefix\n"
                         % (OWNER, LIST)) == 1, log


def test_create_delete():
    srv = server(users=(OWNER,))
    with srv:
        admin = wc.Client(srv, wc.token(srv, "--admin"))
        st, j = api_json(admin, "/api/v1/lists",
                         {"address": "new@example.test",
                          "owner": [OWNER, "b@example.test"],
                          "description": "A new list"})
        assert st == 200 and j["output"] == "created", j
        text = lists_dat(srv).decode()
        assert "list new@example.test\n" in text and \
            "description A new list" in text, text
        state = os.path.join(srv.state_dir, "lists", "new@example.test")
        assert os.path.isdir(state), state
        assert "new@example.test" in lc.dlist(srv, "lists").stdout
        st, j = admin.api("POST", "/api/v1/lists",
                          {"address": "new@example.test", "owner": OWNER})
        assert st == 409, j
        for fields, why in (
                ({"address": "x@elsewhere.test", "owner": OWNER},
                 "local_domains"),
                ({"address": "x@example.test"}, "needs an owner"),
                ({"address": "x-owner@example.test", "owner": OWNER},
                 "may not end"),
                ({"address": "x@example.test", "owner": OWNER,
                  "description": "a\nlist evil@example.test"},
                 "line breaks")):
            before = lists_dat(srv)
            st, j = admin.api("POST", "/api/v1/lists", fields)
            assert st == 400 and why in j["error"], (fields, st, j)
            assert lists_dat(srv) == before
        # Not an administrator: a list token, an owner's session.
        lt = wc.Client(srv, wc.token(srv, "--list", "new@example.test"))
        st, j = lt.api("POST", "/api/v1/lists", {"address":
                                                 "y@example.test",
                                                 "owner": OWNER})
        assert st == 403, j
        st, j = lt.api("POST", "/api/v1/lists/new@example.test/delete")
        assert st == 403, j
        owner = wc.Client(srv)
        owner.login(OWNER)
        assert "Create a list" not in owner.get("/lists").body
        r = owner.post("/lists/create", {"address": "y@example.test",
                                         "owner": OWNER})
        assert r.status == 403, r.status
        assert owner.get("/lists/new@example.test/delete").status == 403
        assert "new@example.test" in lists_dat(srv).decode()
        st, j = admin.api("POST", "/api/v1/lists/new@example.test/delete")
        assert st == 200 and j["output"] == "deleted", j
        assert "new@example.test" not in lists_dat(srv).decode()
        assert not os.path.exists(state)
        log = srv.log_text()
        assert "command=list-create user=token:admin" in log, log
        assert "command=list-delete user=token:admin client=127.0.0.1 " \
            "status=ok list=new@example.test" in log, log


def test_pages_create_delete():
    srv = server()
    with srv:
        c = wc.Client(srv)
        c.login(wc.ADMIN)
        assert "Create a list" in c.get("/lists").body
        r = c.post("/lists/create", {"address": "club@example.test",
                                     "owner": OWNER, "description":
                                     "<b>The club</b>"})
        assert r.status == 303 and r.getheader("Location") == \
            "/lists/club@example.test", (r.status, r.body)
        page = c.get("/lists/club@example.test")
        assert "&lt;b&gt;The club&lt;/b&gt;" in page.body
        assert "Delete this list" in page.body
        confirm = c.get("/lists/club@example.test/delete")
        assert "yes, delete" in confirm.body and \
            'name="confirm"' in confirm.body
        r = c.post("/lists/club@example.test/delete")
        assert r.status == 400 and "club@" in lists_dat(srv).decode()
        r = c.post("/lists/club@example.test/delete", {"confirm": "yes"})
        assert r.status == 303 and r.getheader("Location") == "/lists"
        assert "club@" not in lists_dat(srv).decode()


def test_listd_uses_changed_setting():
    srv = server(users=("alice@example.test", "bob@example.test"))
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", OWNER)
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        c = wc.Client(srv, wc.token(srv, "--list", LIST))
        st, j = c.api("POST", "/api/v1/lists/%s/settings" % LIST,
                      {"subject_prefix": "[web-set]"})
        assert st == 200, j
        lc.send(srv, "alice@example.test", LIST, subject="after the change")
        m = lc.wait_message(srv, "bob@example.test",
                            lc.subject_has("after the change"),
                            what="list post")
        assert m["Subject"].startswith("[web-set] "), m["Subject"]


if __name__ == "__main__":
    dt.main([test_settings_api, test_moderator_may_not_change,
             test_create_delete, test_pages_create_delete,
             test_listd_uses_changed_setting])
