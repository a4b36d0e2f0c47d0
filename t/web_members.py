#!/usr/bin/env python3
"""The members pages of the web manager and members' self-service
against a real dmaild: cursor paging (every member exactly once across
the pages of a 1,000-member list), search, per-member delivery mode and
bounce score reset, import (counts, invalid lines), CSV export (quoting,
formula guard), rejecting a held post with a reason that reaches the
poster, and the confirm link of a subscription request taken from the
confirmation mail, opened and confirmed."""

import csv
import http.client
import io
import json
import os
import re
import smtplib
import ssl
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import web_common as wc  # noqa: E402

LIST = "club@example.test"
OWNER = "owner@example.test"
MOD = "mod@example.test"


def make_list(srv, n):
    lc.dlist(srv, "create", LIST, "--owner", OWNER)
    path = os.path.join(srv.tmp, "import.txt")
    with open(path, "w") as f:
        for i in range(n):
            f.write("m%04d@example.test\n" % i)
    lc.dlist(srv, "import", LIST, path)


def bounce(srv, member):
    """A failed DSN for member to the list's VERP bounce address."""
    local, domain = member.split("@")
    verp = "club-bounces+%s=%s@example.test" % (local, domain)
    text = ("From: MAILER-DAEMON@example.test\nTo: %s\nSubject: failed\n"
            "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; "
            "boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nFailed.\n"
            "--b\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; example.test\n\nFinal-Recipient: rfc822; "
            "%s\nAction: failed\nStatus: 5.1.1\n--b--\n" % (verp, member))
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.sendmail("", [verp], text.replace("\n", "\r\n").encode())


def member_line(srv, addr):
    for ln in lc.dlist(srv, "members", LIST).stdout.splitlines():
        if ln.split()[0] == addr:
            return ln
    return None


def test_paging_search_mode_bounce():
    srv = wc.server(users=(OWNER,))
    with srv:
        make_list(srv, 1000)
        c = wc.Client(srv, wc.token(srv, "--list", LIST))
        # API: pages of 97 from the last address of the page before.
        seen, after, pages = [], "", 0
        while True:
            q = urllib.parse.urlencode({"limit": 97, "after": after})
            st, j = c.api("GET", "/api/v1/lists/%s/members?%s" % (LIST, q))
            assert st == 200, j
            seen += [m["address"] for m in j["members"]]
            pages += 1
            if not j["more"]:
                assert j["next"] is None
                break
            after = j["next"]
            assert after == j["members"][-1]["address"]
        assert pages == 11, pages
        assert seen == ["m%04d@example.test" % i for i in range(1000)]
        # offset/limit still work (matches skipped).
        st, j = c.api("GET", "/api/v1/lists/%s/members?offset=995&limit=10"
                      % LIST)
        assert [m["address"] for m in j["members"]] == \
            ["m%04d@example.test" % i for i in range(995, 1000)], j
        assert j["more"] is False
        # Search, paged too.
        st, j = c.api("GET", "/api/v1/lists/%s/members?q=M09&limit=50"
                      % LIST)
        assert len(j["members"]) == 50 and j["more"], j
        assert j["members"][0]["address"] == "m0900@example.test"
        st, j = c.api("GET", "/api/v1/lists/%s/members?q=m09&after=%s"
                      % (LIST, j["next"]))
        assert [m["address"] for m in j["members"]][0] == \
            "m0950@example.test" and len(j["members"]) == 50, j
        assert j["more"] is False
        # The page: 50 rows, a Next form carrying the last address.
        o = wc.Client(srv)
        o.login(OWNER)
        page = o.get("/lists/%s/members" % LIST)
        assert page.status == 200
        assert page.body.count("members/remove") == 50
        assert 'name="after" value="m0049@example.test"' in page.body
        page = o.get("/lists/%s/members?after=m0049%%40example.test" % LIST)
        assert ">m0050@example.test<" in page.body
        assert ">m0049@example.test<" not in page.body
        # Delivery mode by the owner.
        r = o.post("/lists/%s/members/set" % LIST,
                   {"address": "m0001@example.test", "mode": "digest"})
        assert r.status == 303, (r.status, r.body)
        assert "digest" in member_line(srv, "m0001@example.test")
        st, j = c.api("POST", "/api/v1/lists/%s/members/set" % LIST,
                      {"address": "m0001@example.test", "mode": "nomail"})
        assert st == 200, j
        assert "nomail" in member_line(srv, "m0001@example.test")
        st, j = c.api("POST", "/api/v1/lists/%s/members/set" % LIST,
                      {"address": "m0001@example.test", "mode": "weekly"})
        assert st == 400, j
        st, j = c.api("POST", "/api/v1/lists/%s/members/set" % LIST,
                      {"address": "none@example.test", "mode": "mail"})
        assert st == 404, j
        # Bounce score: shown, and reset by the owner.
        bounce(srv, "m0002@example.test")
        dt.wait_for(lambda: "bounce=1" in member_line(
            srv, "m0002@example.test"), 15, what="bounce counted")
        st, j = c.api("GET", "/api/v1/lists/%s/members?q=m0002" % LIST)
        assert j["members"][0]["bounce"] == 1, j
        page = o.get("/lists/%s/members?q=m0002" % LIST)
        assert "members/reset-bounce" in page.body, page.body
        r = o.post("/lists/%s/members/reset-bounce" % LIST,
                   {"address": "m0002@example.test"})
        assert r.status == 303, (r.status, r.body)
        assert "bounce=0" in member_line(srv, "m0002@example.test")
        log = srv.log_text()
        assert "command=member-set user=%s" % OWNER in log
        assert "command=member-reset-bounce user=%s" % OWNER in log


def test_import_and_csv():
    srv = wc.server(users=(OWNER,))
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", OWNER)
        lc.dlist(srv, "subscribe", LIST, "old@example.test")
        o = wc.Client(srv)
        o.login(OWNER)
        text = ("new1@example.test\r\nNew Two <New2@Example.test>\n"
                "# a comment\n\nold@example.test\nnew1@example.test\n"
                "not an address\n" + "x" * 310 + "@example.test\n"
                "=cmd@example.test\n")
        r = o.post("/lists/%s/members/import" % LIST, {"text": text})
        assert r.status == 200, (r.status, r.body)
        assert "3 added, 2 already members, 2 invalid" in r.body, r.body
        assert "not an address" in r.body
        assert sorted(lc.members(srv, LIST)) == [
            "=cmd@example.test", "new1@example.test", "new2@example.test",
            "old@example.test"]
        # A file, as the page's form sends it (multipart/form-data).
        r = o.post_file("/lists/%s/members/import" % LIST, {"text": ""},
                        "members.txt", b"file1@example.test\r\n"
                        b"file2@example.test\nnot an address\n")
        assert r.status == 200, (r.status, r.body)
        assert "2 added, 0 already members, 1 invalid" in r.body, r.body
        assert {"file1@example.test", "file2@example.test"} <= \
            set(lc.members(srv, LIST))
        page = o.get("/lists/%s/members" % LIST)
        assert 'enctype="multipart/form-data"' in page.body and \
            'type="file" name="file"' in page.body
        # API, as a text/plain body.
        c = wc.Client(srv, wc.token(srv, "--list", LIST))
        st, j = c.api("POST", "/api/v1/lists/%s/members/import" % LIST)
        assert st == 400, j
        conn = http.client.HTTPSConnection(
            "localhost", srv.port("web"),
            context=ssl.create_default_context(cafile=srv.cert), timeout=30)
        conn.request("POST", "/api/v1/lists/%s/members/import" % LIST,
                     body="-lead@example.test\nbad\n", headers={
                         "Content-Type": "text/plain",
                         "Authorization": "Bearer " + c.bearer})
        resp = conn.getresponse()
        j = json.loads(resp.read())
        conn.close()
        assert resp.status == 200 and j["added"] == 1 and \
            j["invalid"] == 1 and j["invalid_lines"] == ["bad"], j
        # CSV export: quoted cells, formula guard.
        r = o.get("/lists/%s/members.csv" % LIST)
        assert r.status == 200
        assert r.getheader("Content-Type").startswith("text/csv")
        assert r.getheader("Content-Disposition") == \
            'attachment; filename="club-members.csv"'
        rows = list(csv.reader(io.StringIO(r.body)))
        assert rows[0] == ["address", "mode", "bounce", "since"], rows
        addrs = [row[0] for row in rows[1:]]
        assert addrs == ["'-lead@example.test", "'=cmd@example.test",
                         "file1@example.test", "file2@example.test",
                         "new1@example.test", "new2@example.test",
                         "old@example.test"], addrs
        assert all(row[1] == "mail" and row[2] == "0" and
                   re.match(r"\d{4}-\d\d-\d\dT", row[3])
                   for row in rows[1:]), rows
        assert '"\'=cmd@example.test","mail","0",' in r.body


def test_reject_with_reason():
    srv = wc.server(users=(MOD, OWNER, "poster@example.test"))
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", OWNER)
        lc.set_list_option(srv, LIST, "moderator %s" % MOD)
        lc.send(srv, "poster@example.test", LIST, subject="off topic post")
        held = os.path.join(srv.state_dir, "lists", LIST, "held")
        dt.wait_for(lambda: os.path.isdir(held) and os.listdir(held), 15,
                    what="held post")
        c = wc.Client(srv)
        c.login(MOD)
        page = c.get("/lists/%s/moderation" % LIST)
        assert 'name="reason"' in page.body
        tok = re.search(r'name="id" value="([0-9a-f]+)"', page.body).group(1)
        reason = "Off topic\r\nhere; see the FAQ \u00e9 " + "x" * 600
        r = c.post("/lists/%s/moderation/reject" % LIST,
                   {"id": tok, "reason": reason})
        assert r.status == 303, (r.status, r.body)
        m = lc.wait_message(srv, "poster@example.test",
                            lc.subject_has("rejected"), what="reject notice")
        body = lc.body_of(m)
        line = [ln for ln in body.splitlines() if ln.startswith("Reason:")]
        assert line, body
        assert line[0].startswith("Reason: Off topic  here; see the FAQ "
                                  "\u00e9 xxx"), line
        assert len(line[0].encode()) <= len("Reason: ") + 500, line
        assert not os.path.exists(os.path.join(held, tok))
        assert 'command=reject user=%s' % MOD in srv.log_text()


def test_confirm_link():
    srv = wc.server(users=("joiner@example.test", OWNER))
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", OWNER)
        lc.set_list_option(srv, LIST, "subscribe confirm")
        lc.send(srv, "joiner@example.test", "club-request@example.test",
                subject="subscribe")
        m = lc.wait_message(srv, "joiner@example.test",
                            lc.subject_has("confirm"), what="confirmation")
        body = lc.body_of(m)
        url = re.search(r"(https://\S+/confirm\?\S+)", body).group(1)
        u = urllib.parse.urlsplit(url)
        assert u.port == srv.port("web") and u.path == "/confirm", url
        tok = lc.token_in(m, "confirm")
        assert urllib.parse.parse_qs(u.query) == {"list": [LIST],
                                                  "token": [tok]}, url
        anon = wc.Client(srv)
        page = anon.get(u.path + "?" + u.query)
        assert page.status == 200, (page.status, page.body)
        assert "Subscribe joiner@example.test to %s?" % LIST in page.body
        bad = anon.get("/confirm?list=%s&token=%s" % (LIST, "0" * 24))
        assert bad.status == 404
        assert anon.get("/confirm?list=no@example.test&token=%s"
                        % tok).status == 404
        r = anon.post(u.path, dict(urllib.parse.parse_qsl(u.query)),
                      csrf=False)
        assert r.status == 200 and 'id="confirmed"' in r.body, r.body
        dt.wait_for(lambda: "joiner@example.test" in lc.members(srv, LIST),
                    15, what="member after the confirm link")
        # The token is used up: the link now answers 404.
        dt.wait_for(lambda: anon.get(u.path + "?" + u.query).status == 404,
                    15, what="token used up")
        assert "command=confirm user=- " in srv.log_text()


if __name__ == "__main__":
    dt.main([test_paging_search_mode_bounce, test_import_and_csv,
             test_reject_with_reason, test_confirm_link])
