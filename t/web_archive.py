#!/usr/bin/env python3
"""A list's archive and shared files in the web manager, against a real
dmaild whose list worker distributes the posts: the archive by number,
month and thread, a MIME post shown decoded (quoted-printable, base64,
ISO-8859-1, invalid UTF-8, an HTML part as escaped text, attachments
listed, also one with an empty name="" that once crashed the worker:
found by fuzz/fuzz_mime), members may read and outsiders get 403; shared files uploaded
as multipart/form-data, listed, downloaded byte for byte, replaced and
deleted, bad names (400) and sizes (413) refused with nothing written,
a member's upload refused (403), and the same store as dlist."""

import base64
import http.client
import json
import os
import re
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import web_common as wc  # noqa: E402

LIST = "club@example.test"
OWNER = "owner@example.test"
ALICE = "alice@example.test"      # member
BOB = "bob@example.test"          # member
EVE = "eve@example.test"          # an account, not a member
USERS = (OWNER, ALICE, BOB, EVE)

ATTACHMENT = bytes(range(256)) + b"\x00end"

MIME_BODY = """This is a MIME message.

--b1
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 cr=E8me soft=
break done
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

%s
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

bad =FF byte
--b1
Content-Type: text/html; charset=utf-8

<html><body><p>Hello <b>HTML</b> &amp; friends</p>
<script>alert('stolen')</script>&lt;script&gt;shown&lt;/script&gt;
</body></html>
--b1
Content-Type: application/octet-stream; name="report.bin"
Content-Disposition: attachment; filename="report.bin"
Content-Transfer-Encoding: base64

%s
--b1
Content-Type: application/x-empty-name; name=""

xyz
--b1--
""" % (base64.b64encode("Zweiter Teil: Grüße\n".encode()).decode(),
       base64.encodebytes(ATTACHMENT).decode())


def raw(c, method, path, body=None, ctype=None):
    """One request with c's cookies and token; (status, headers, bytes)."""
    ctx = ssl.create_default_context(cafile=c.srv.cert)
    conn = http.client.HTTPSConnection("localhost", c.srv.port("web"),
                                       context=ctx, timeout=30)
    h = {}
    if ctype:
        h["Content-Type"] = ctype
    if c.cookies:
        h["Cookie"] = "; ".join("%s=%s" % kv for kv in c.cookies.items())
    if c.bearer:
        h["Authorization"] = "Bearer " + c.bearer
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, headers, data


def upload(c, name, data, csrf=True, extra=None):
    """POST files/upload as a browser does: multipart/form-data."""
    fields = dict(extra or {})
    if csrf and getattr(c, "csrf", None):
        fields["csrf"] = c.csrf
    body, ctype = wc.multipart(fields, "file", name, data)
    prefix = "/api/v1" if c.bearer else ""
    return raw(c, "POST", prefix + "/lists/%s/files/upload" % LIST, body,
               ctype)


def files_dir(srv):
    return os.path.join(srv.state_dir, "lists", LIST, "files")


def stored(srv):
    d = files_dir(srv)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def post(srv, sender, subject, body="Hi.\n", headers=None):
    text = lc.send(srv, sender, LIST, subject=subject, body=body,
                   headers=headers)
    lc.wait_message(srv, BOB if sender != BOB else ALICE,
                    lc.subject_has(subject.split("?=")[-1].strip()
                                   or subject))
    return re.search(r"Message-ID: (<[^>]+>)", text).group(1)


def archive_count(c):
    st, j = c.api("GET", "/api/v1/lists/%s/archive" % LIST)
    return j.get("total", 0) if st == 200 else 0


def setup(srv):
    lc.dlist(srv, "create", LIST, "--owner", OWNER)
    lc.dlist(srv, "subscribe", LIST, ALICE, BOB)


def test_archive_pages():
    srv = wc.server(users=USERS)
    with srv:
        setup(srv)
        tok = wc.Client(srv, wc.token(srv, "--list", LIST))
        mid = post(srv, ALICE, "topic alpha", "First post.\n")
        post(srv, BOB, "Re: topic alpha", "A reply.\n",
             {"In-Reply-To": mid, "References": mid})
        post(srv, ALICE, "topic beta <b>bold</b>")
        post(srv, BOB, "Re: [club] topic beta <b>bold</b>", "No refs.\n")
        post(srv, ALICE, "=?utf-8?q?Gr=C3=BC=C3=9Fe?= mime test", MIME_BODY,
             {"MIME-Version": "1.0",
              "Content-Type": "multipart/mixed; boundary=\"b1\""})
        dt.wait_for(lambda: archive_count(tok) == 5, 15,
                    what="five posts archived")
        # By number, newest first, every value escaped.
        st, j = tok.api("GET", "/api/v1/lists/%s/archive?page=1" % LIST)
        assert st == 200 and j["total"] == 5 and j["pages"] == 1, j
        nums = [p["num"] for p in j["posts"]]
        assert nums == [5, 4, 3, 2, 1], nums
        assert j["posts"][0]["subject"] == "[club] Grüße mime test", j
        assert j["posts"][4]["from"] == ALICE, j
        owner = wc.Client(srv)
        owner.login(OWNER)
        page = owner.get("/lists/%s/archive" % LIST)
        assert page.status == 200, page.body
        assert "topic beta &lt;b&gt;bold&lt;/b&gt;" in page.body
        assert "<b>bold</b>" not in page.body
        assert 'href="/lists/%s/archive/1"' % LIST in page.body
        # By month.
        st, j = tok.api("GET", "/api/v1/lists/%s/archive/date" % LIST)
        assert st == 200 and len(j["months"]) == 1, j
        month = j["months"][0]["month"]
        assert j["months"][0]["posts"] == 5 and re.match(
            r"^\d{4}-\d\d$", month), j
        st, j = tok.api("GET", "/api/v1/lists/%s/archive/date?month=%s"
                        % (LIST, month))
        assert st == 200 and len(j["posts"]) == 5, j
        st, j = tok.api("GET", "/api/v1/lists/%s/archive/date?month="
                        "1999-01" % LIST)
        assert st == 200 and j["posts"] == [], j
        assert "month=%s" % month in owner.get(
            "/lists/%s/archive/date" % LIST).body
        # By thread: the reply by references and the reply by subject
        # join their threads, one level down.
        st, j = tok.api("GET", "/api/v1/lists/%s/archive/thread" % LIST)
        assert st == 200, j
        threads = [[(p["num"], p["depth"]) for p in t] for t in j["threads"]]
        assert threads == [[(5, 0)], [(3, 0), (4, 1)], [(1, 0), (2, 1)]], \
            threads
        assert "topic alpha" in owner.get(
            "/lists/%s/archive/thread" % LIST).body
        # One post, MIME decoded.
        st, j = tok.api("GET", "/api/v1/lists/%s/archive/5" % LIST)
        assert st == 200, j
        assert j["subject"] == "[club] Grüße mime test", j
        assert j["from"] == ALICE, j
        texts = [p["text"] for p in j["parts"]]
        assert "Café crème softbreak done" in texts[0], texts
        assert "Zweiter Teil: Grüße" in texts[1], texts
        assert "bad \ufffd byte" in texts[2], texts
        assert j["parts"][3]["type"] == "text/html"
        html = texts[3]
        assert "Hello HTML & friends" in html, html
        assert "stolen" not in html and "<script>shown</script>" in html
        # name="" once crashed the worker (found by fuzz/fuzz_mime).
        base = "/lists/%s/archive/5/" % LIST
        assert j["attachments"] == [{"name": "report.bin", "type":
                                     "application/octet-stream",
                                     "size": len(ATTACHMENT),
                                     "url": base + "1"},
                                    {"name": "(no name)", "type":
                                     "application/x-empty-name",
                                     "size": 3, "url": base + "2"}], j
        page = owner.get("/lists/%s/archive/5" % LIST)
        assert page.status == 200
        assert "Café crème softbreak done" in page.body
        assert "&lt;script&gt;shown&lt;/script&gt;" in page.body
        assert "<script" not in page.body and "stolen" not in page.body
        assert "report.bin" in page.body and "(shown as text)" in page.body
        # Attachments download decoded, never inline, with a safe name.
        assert 'href="%s1"' % base in page.body
        st, hdr, data = raw(owner, "GET", base + "1")
        assert st == 200 and data == ATTACHMENT, (st, len(data), data[-20:])
        assert hdr["content-type"] == "application/octet-stream"
        assert hdr["content-disposition"] == \
            'attachment; filename="report.bin"', hdr
        st, hdr, data = raw(owner, "GET", base + "2")
        assert st == 200 and data == b"xyz" and \
            hdr["content-disposition"] == \
            'attachment; filename="attachment-2"', (st, hdr, data)
        for bad in ("3", "0", "x", "1/2", "+1", "1x"):
            assert owner.get(base + bad).status == 404, bad
        st, j = tok.api("GET", "/api/v1/lists/%s/archive/99" % LIST)
        assert st == 404, j
        st, j = tok.api("GET", "/api/v1/lists/%s/archive/x1" % LIST)
        assert st == 404, j
        # Members read; a logged-in outsider gets 403.
        alice = wc.Client(srv)
        alice.login(ALICE)
        assert alice.get("/lists/%s/archive" % LIST).status == 200
        assert alice.get("/lists/%s/archive/5" % LIST).status == 200
        assert alice.get("/lists/%s/archive/5/1" % LIST).status == 200
        assert alice.get("/lists/%s/archive/thread" % LIST).status == 200
        assert alice.get("/lists/%s/members" % LIST).status == 403
        eve = wc.Client(srv)
        eve.login(EVE)
        for path in ("archive", "archive/1", "archive/5/1", "archive/date",
                     "files"):
            r = eve.get("/lists/%s/%s" % (LIST, path))
            assert r.status == 403, (path, r.status)
            assert "First post" not in r.body


def test_shared_files():
    srv = wc.server(users=USERS)
    with srv:
        setup(srv)
        lc.set_list_option(srv, LIST, "file_max_size 2k")
        owner = wc.Client(srv)
        owner.login(OWNER)
        data = bytes(range(256)) * 4
        st, h, body = upload(owner, "notes.bin", data)
        assert st == 303, (st, body[:300])
        assert stored(srv) == ["notes.bin"]
        page = owner.get("/lists/%s/files" % LIST)
        assert page.status == 200 and "notes.bin" in page.body
        assert 'enctype="multipart/form-data"' in page.body
        assert "1024" in page.body
        # Download: the bytes, as an attachment.
        st, h, got = raw(owner, "GET", "/lists/%s/files/notes.bin" % LIST)
        assert st == 200 and got == data
        assert h["content-type"] == "application/octet-stream"
        assert h["content-disposition"] == \
            'attachment; filename="notes.bin"', h
        assert h["x-content-type-options"] == "nosniff"
        # Replace: same name again.
        st, _, _ = upload(owner, "notes.bin", b"second version\n")
        assert st == 303
        assert raw(owner, "GET", "/lists/%s/files/notes.bin"
                   % LIST)[2] == b"second version\n"
        # dlist sees the same store.
        r = lc.dlist(srv, "files", LIST)
        assert "notes.bin" in r.stdout, r.stdout
        # Bad names: 400 and nothing written.
        for bad in ("../evil", "a/b", "..", ".hidden", "x\\y"):
            st, _, body = upload(owner, bad, b"x")
            assert st == 400, (bad, st)
            assert b"usable file name" in body, body[:400]
        st, _, body = upload(owner, "", b"")
        assert st == 400 and b"No file" in body, (st, body[:300])
        assert stored(srv) == ["notes.bin"]
        assert not os.path.exists(os.path.join(srv.state_dir, "lists",
                                               LIST, "evil"))
        # Too large for the list (413), for web_max_body too (413).
        st, _, body = upload(owner, "big.bin", b"x" * 3000)
        assert st == 413 and b"file_max_size" in body, (st, body[:300])
        st, _, _ = upload(owner, "huge.bin", b"x" * (1024 * 1024 + 10))
        assert st == 413
        assert stored(srv) == ["notes.bin"]
        # Without the CSRF field: refused.
        st, _, _ = upload(owner, "nocsrf.bin", b"x", csrf=False)
        assert st == 403 and stored(srv) == ["notes.bin"]
        # A member reads and downloads but does not upload or delete.
        alice = wc.Client(srv)
        alice.login(ALICE)
        page = alice.get("/lists/%s/files" % LIST)
        assert page.status == 200 and "notes.bin" in page.body
        assert "multipart/form-data" not in page.body
        st, _, got = raw(alice, "GET", "/lists/%s/files/notes.bin" % LIST)
        assert st == 200 and got == b"second version\n"
        st, _, _ = upload(alice, "mine.bin", b"x")
        assert st == 403 and stored(srv) == ["notes.bin"]
        r = alice.post("/lists/%s/files/delete" % LIST, {"name": "notes.bin"})
        assert r.status == 403 and stored(srv) == ["notes.bin"]
        assert raw(alice, "GET", "/lists/%s/files/nothere"
                   % LIST)[0] == 404
        # An outsider gets nothing.
        eve = wc.Client(srv)
        eve.login(EVE)
        assert raw(eve, "GET", "/lists/%s/files/notes.bin" % LIST)[0] == 403
        # Delete.
        r = owner.post("/lists/%s/files/delete" % LIST, {"name": "notes.bin"})
        assert r.status == 303 and stored(srv) == []
        r = owner.post("/lists/%s/files/delete" % LIST, {"name": "notes.bin"})
        assert r.status == 404
        # The API: a list token uploads, lists, downloads, deletes.
        tok = wc.Client(srv, wc.token(srv, "--list", LIST))
        st, _, body = upload(tok, "api.txt", b"by api\n")
        assert st == 200 and json.loads(body)["ok"] is True, body
        st, j = tok.api("GET", "/api/v1/lists/%s/files" % LIST)
        assert st == 200 and j["files"][0]["name"] == "api.txt", j
        assert j["files"][0]["size"] == 7, j
        assert raw(tok, "GET", "/api/v1/lists/%s/files/api.txt"
                   % LIST)[2] == b"by api\n"
        st, j = tok.api("POST", "/api/v1/lists/%s/files/delete" % LIST,
                        {"name": "api.txt"})
        assert st == 200 and stored(srv) == [], j
        st, _, body = upload(tok, "../x", b"x")
        assert st == 400 and json.loads(body)["ok"] is False
        log = srv.log_text()
        assert ("action=web command=putfile user=%s" % OWNER) in log, log
        assert "command=delfile" in log and "status=refused" in log


if __name__ == "__main__":
    dt.main([test_archive_pages, test_shared_files])
