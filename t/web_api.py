#!/usr/bin/env python3
"""The web manager's API against a real dmaild with the web pool over
HTTPS: bearer tokens (admin and per list), status, reload, queue
listing, hold and release, accounts, list members, tellsmtp -H for
remote status and reload, and shutdown through the API."""

import http.client
import os
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import web_common as wc  # noqa: E402

LIST = "club@example.test"


def test_tokens_status_reload_remote():
    srv = wc.server()
    with srv:
        tok = wc.token(srv, "--admin")
        assert tok.startswith("dmt_"), tok
        # Stored hashed: the token itself is nowhere on disk.
        with open(os.path.join(srv.state_dir, "db", "web-tokens")) as f:
            assert tok not in f.read()
        st, j = wc.Client(srv).api("GET", "/api/v1/status")
        assert st == 401 and j["ok"] is False
        st, j = wc.Client(srv, "dmt_" + "0" * 48).api("GET",
                                                      "/api/v1/status")
        assert st == 401
        c = wc.Client(srv, tok)
        st, j = c.api("GET", "/api/v1/status")
        assert st == 200 and "web" in j["output"], j
        st, j = c.api("GET", "/api/v1/status?format=prometheus")
        assert st == 200 and "dmail_" in j["output"]
        st, j = c.api("POST", "/api/v1/reload")
        assert st == 200 and "reloaded" in j["output"], j
        # The web pool survives its own reload and answers again.
        dt.wait_for(lambda: c.api("GET", "/api/v1/status")[0] == 200, 15,
                    what="web pool after reload")
        # A connection open across a reload keeps being served (the old
        # worker drains it), and new connections reach the new one.
        ctx = ssl.create_default_context(cafile=srv.cert)
        keep = http.client.HTTPSConnection("localhost", srv.port("web"),
                                           context=ctx, timeout=30)
        hdr = {"Authorization": "Bearer " + tok}
        keep.request("GET", "/api/v1/status", headers=hdr)
        assert keep.getresponse().read() and True
        st, j = c.api("POST", "/api/v1/reload")
        assert st == 200, j
        keep.request("GET", "/api/v1/status", headers=hdr)
        resp = keep.getresponse()
        assert resp.status == 200 and b"web" in resp.read()
        keep.close()
        r = wc.tellsmtp_remote(srv, tok, "status")
        assert r.returncode == 0 and "web" in r.stdout, r
        r = wc.tellsmtp_remote(srv, tok, "reload")
        assert r.returncode == 0 and "reloaded" in r.stdout, r
        r = wc.tellsmtp_remote(srv, "dmt_bad", "status")
        assert r.returncode == 1 and "401" in r.stderr, r
        # A list token is no administrator.
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lt = wc.token(srv, "--list", LIST)
        st, j = wc.Client(srv, lt).api("POST", "/api/v1/reload")
        assert st == 403, (st, j)
        log = srv.log_text()
        assert "action=web command=reload user=token:admin" in log, log


def test_accounts():
    srv = wc.server()
    with srv:
        c = wc.Client(srv, wc.token(srv, "--admin"))
        st, j = c.api("POST", "/api/v1/accounts",
                      {"address": "new@example.test", "password": "pw1"})
        assert st == 200, j
        st, j = c.api("POST", "/api/v1/accounts",
                      {"address": "new@example.test", "password": "pw1"})
        assert st == 409, j
        for i in range(60):
            srv.add_user("u%02d@example.test" % i)
        st, j = c.api("GET", "/api/v1/accounts?q=u&limit=50")
        assert st == 200 and len(j["accounts"]) == 50 and j["more"], j
        st, j = c.api("GET", "/api/v1/accounts?q=u5&offset=5&limit=50")
        assert [a["address"] for a in j["accounts"]] == \
            ["u55@example.test", "u56@example.test", "u57@example.test",
             "u58@example.test", "u59@example.test"], j
        st, j = c.api("POST", "/api/v1/accounts/new@example.test/disable")
        assert st == 200, j
        out = srv.dmail_user("show", "new@example.test").stdout
        assert "disabled" in out or "enabled: no" in out, out
        st, j = c.api("POST", "/api/v1/accounts/new@example.test/quota",
                      {"quota_bytes": "10M"})
        assert st == 200, j
        st, j = c.api("POST", "/api/v1/accounts/none@example.test/enable")
        assert st == 404, j
        # One account: state, quota and the usage of its Maildir.
        assert c.api("POST", "/api/v1/accounts/new@example.test/enable"
                     )[0] == 200
        lc.send(srv, "alice@example.test", "new@example.test",
                subject="usage")
        srv.wait_messages("new@example.test", 1)
        st, j = c.api("GET", "/api/v1/accounts/new@example.test")
        assert st == 200 and j["enabled"] is True and \
            j["quota_bytes"] == 10 * 1024 * 1024 and \
            j["used_messages"] == 1 and j["used_bytes"] > 0, j
        assert c.api("GET", "/api/v1/accounts/none@example.test")[0] == 404
        assert c.api("GET", "/api/v1/accounts/not-an-address")[0] == 400
        b = wc.Client(srv)
        b.login(wc.ADMIN)
        page = b.get("/accounts/new@example.test")
        assert page.status == 200 and "%d bytes in 1 messages" % \
            j["used_bytes"] in page.body, page.body
        r = b.post("/accounts/passwd", {"address": "new@example.test",
                                        "password": "pw2", "detail": "1"})
        assert r.status == 303 and r.getheader("Location") == \
            "/accounts/new@example.test", (r.status, r.body)
        wc.Client(srv).login("new@example.test", "pw2")


def test_queue_hold_release():
    # Mail for a remote domain stays in the queue: its transport points
    # at a closed port.
    closed = dt.free_port()
    srv = wc.server(queue=True, extra="transport remote.test 127.0.0.1:%d\n"
                    % closed)
    with srv:
        c = wc.Client(srv, wc.token(srv, "--admin"))
        lc.send(srv, "someone@example.test", "far@remote.test")
        qdir = os.path.join(srv.state_dir, "spool", "queue")
        qid = dt.wait_for(lambda: os.path.isdir(qdir) and
                          ([n for n in os.listdir(qdir)
                            if not n.startswith(".")] or [None])[0], 15,
                          what="queued message")
        st, j = c.api("GET", "/api/v1/queue")
        assert st == 200 and qid in j["output"], j
        st, j = c.api("POST", "/api/v1/queue/hold/" + qid)
        assert st == 200, j
        dt.wait_for(lambda: "(on hold)" in c.api("GET", "/api/v1/queue")[1]
                    ["output"], 15, what="hold")
        st, j = c.api("POST", "/api/v1/queue/release/" + qid)
        assert st == 200, j
        assert "(on hold)" not in c.api("GET", "/api/v1/queue")[1]["output"]
        st, j = c.api("POST", "/api/v1/queue/hold/not-an-id")
        assert st == 400, j
        assert ("action=web command=queue-hold user=token:admin" in
                srv.log_text())


def test_list_members_and_shutdown():
    srv = wc.server()
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test",
                 "--description", "PLACEHOLDER")
        # Invalid UTF-8 in lists.dat comes out as U+FFFD, valid JSON.
        with open(srv.lists_file, "rb") as f:
            text = f.read()
        with open(srv.lists_file, "wb") as f:
            f.write(text.replace(b"PLACEHOLDER", b"caf\xc3\xa9 \xff \"q\""))
        lc.dlist(srv, "create", "other@example.test", "--owner",
                 "owner@example.test")
        lc.dlist(srv, "subscribe", LIST, "a@example.test")
        c = wc.Client(srv, wc.token(srv, "--list", LIST))
        st, j = c.api("GET", "/api/v1/lists")
        assert st == 200 and j["lists"] == [LIST], j
        st, j = c.api("GET", "/api/v1/lists/%s" % LIST)
        assert st == 200 and j["owner"] == "owner@example.test", j
        assert j["description"] == "caf\u00e9 \ufffd \"q\"", j
        st, j = c.api("POST", "/api/v1/lists/%s/members/add" % LIST,
                      {"address": "b@example.test"})
        assert st == 200, j
        assert "b@example.test" in lc.members(srv, LIST)
        st, j = c.api("GET", "/api/v1/lists/%s/members" % LIST)
        assert [m["address"] for m in j["members"]] == \
            ["a@example.test", "b@example.test"], j
        st, j = c.api("POST", "/api/v1/lists/%s/members/remove" % LIST,
                      {"address": "a@example.test"})
        assert st == 200 and lc.members(srv, LIST) == ["b@example.test"]
        st, j = c.api("GET", "/api/v1/lists/other@example.test/members")
        assert st == 403, j
        st, j = c.api("GET", "/api/v1/lists/nosuch@example.test")
        assert st == 404, j
        admin = wc.Client(srv, wc.token(srv, "--admin"))
        st, j = admin.api("POST", "/api/v1/shutdown")
        assert st == 200, j
        deadline = time.time() + 30
        while srv.proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert srv.proc.poll() is not None, "dmaild still running"


def test_plain_http_loopback_only():
    """Without tls_cert the web pool speaks plain HTTP, on loopback
    only; dmaild -n refuses another address. A body over web_max_body
    gets 413."""
    if not os.path.exists(wc.WEBD):
        raise dt.SkipTest("dmail-webd not built")
    port = dt.free_port()
    srv = dt.Server(start=False, extra="web_listen 0.0.0.0:%d\n"
                    "web_program %s\n" % (port, wc.WEBD))
    with srv:
        r = subprocess.run([dt.DMAILD, "-n", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "plain HTTP only on a loopback" in \
            r.stderr + r.stdout, r
        srv.write_conf("web_listen 127.0.0.1:%d\nweb_program %s\n"
                       "web_max_body 1k\n" % (port, wc.WEBD))
        srv.ports["web"] = port
        srv.start()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/login")
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200 and "Log in" in body
        cookie = resp.getheader("Set-Cookie")
        assert "HttpOnly" in cookie and "Secure" not in cookie, cookie
        assert "script-src" not in resp.getheader("Content-Security-Policy")
        conn.request("POST", "/login", body="x" * 5000, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 413, resp.status
        conn.close()
        assert "pool=web" in srv.log_text()


def test_reload_refused_shows_errors():
    """A reload of an invalid dmail.conf is refused: the API answers 409
    with the errors dmaild -n prints (file and line), the page shows them,
    and the servers keep running on the old configuration."""
    srv = wc.server()
    with srv:
        tok = wc.token(srv, "--admin")
        good = open(srv.conf_path).read()
        with open(srv.conf_path, "a") as f:
            f.write("no_such_key 1\n")
        check = subprocess.run([dt.DMAILD, "-n", "-c", srv.conf_path],
                               capture_output=True, text=True)
        assert check.returncode != 0 and "no_such_key" in check.stderr, \
            check
        line = [ln for ln in check.stderr.splitlines()
                if "no_such_key" in ln][0]
        st, j = wc.Client(srv, tok).api("POST", "/api/v1/reload")
        assert st == 409 and line in j["error"], (st, j, line)
        c = wc.Client(srv)
        c.login(wc.ADMIN)
        page = c.post("/control/reload")
        assert page.status == 200 and "Refused" in page.body, page.body
        assert line.replace('"', "&quot;").replace("'", "&#39;") in \
            page.body or line in page.body, (line, page.body)
        with open(srv.conf_path, "w") as f:
            f.write(good)
        st, j = wc.Client(srv, tok).api("GET", "/api/v1/status")
        assert st == 200 and "generation 1" in j["output"], j


if __name__ == "__main__":
    dt.main([test_plain_http_loopback_only, test_tokens_status_reload_remote, test_accounts,
             test_queue_hold_release, test_list_members_and_shutdown,
             test_reload_refused_shows_errors])
