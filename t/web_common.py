"""web_common - helpers of the web manager tests (t/web_*.py): a dmaild
with SMTP, the list pool, the queue manager and the web pool on HTTPS
(the harness's self-signed certificate, CN=localhost), API tokens, and a
small browser-like client (cookies, CSRF fields) on http.client."""

import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402

WEBD = dt.prog("webd/dmail-webd")
ADMIN = "admin@example.test"
PASSWORD = "secret"


def server(users=(), extra="", queue=False):
    """list_common's server plus the web pool on a free loopback port,
    HTTPS with the harness's certificate; ADMIN is a web administrator.
    Skips when dmail-webd was not built (no libmicrohttpd)."""
    if not os.path.exists(WEBD):
        raise dt.SkipTest("dmail-webd not built (configure found no "
                          "libmicrohttpd-dev)")
    port = dt.free_port()
    srv = lc.server(users=(), start=False, queue=queue, extra=(
        "web_listen 127.0.0.1:%d\nweb_program %s\nweb_admins %s\n"
        "list_web_url https://localhost:%d/unsubscribe\n%s"
        % (port, WEBD, ADMIN, port, extra)))
    srv.cert, srv.key = dt.make_cert(srv.tmp)
    srv.base_lines += ["tls_cert %s" % srv.cert, "tls_key %s" % srv.key]
    srv.write_conf()
    srv.ports["web"] = port
    try:
        for u in (ADMIN,) + tuple(users):
            srv.add_user(u, PASSWORD)
        srv.start()
    except Exception:
        srv.cleanup()
        raise
    return srv


def token(srv, *scope):
    """A new API token: token(srv, '--admin') or ('--list', LIST)."""
    r = srv.dmail_user("token", "create", *scope)
    return r.stdout.strip()


def multipart(fields, file_field, filename, data):
    """(body, Content-Type) of multipart/form-data: fields, then one
    file."""
    bnd = uuid.uuid4().hex
    parts = [("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n"
              "\r\n%s\r\n" % (bnd, k, v)).encode() for k, v in fields.items()]
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                  "filename=\"%s\"\r\nContent-Type: application/"
                  "octet-stream\r\n\r\n" % (bnd, file_field, filename)
                  ).encode() + data + b"\r\n")
    parts.append(("--%s--\r\n" % bnd).encode())
    return b"".join(parts), "multipart/form-data; boundary=" + bnd


class Client:
    """One browser: keeps cookies, finds CSRF fields, never follows
    redirects (the tests look at them)."""

    def __init__(self, srv, bearer=None):
        self.srv = srv
        self.cookies = {}
        self.bearer = bearer
        self.ctx = ssl.create_default_context(cafile=srv.cert)

    def request(self, method, path, fields=None, headers=None, body=None):
        conn = http.client.HTTPSConnection("localhost", self.srv.port("web"),
                                           context=self.ctx, timeout=30)
        h = dict(headers or {})
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv
                                    for kv in self.cookies.items())
        if self.bearer:
            h["Authorization"] = "Bearer " + self.bearer
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read().decode("utf-8", "replace")
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, val = v.split(";", 1)[0].split("=", 1)
                if "Max-Age=0" in v:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = val
        conn.close()
        resp.body = data
        return resp

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields=None, csrf=True):
        fields = dict(fields or {})
        if csrf and "csrf" not in fields:
            fields["csrf"] = self.csrf
        return self.request("POST", path, fields)

    def post_file(self, path, fields, filename, data, csrf=True):
        """POST a form with a file as a browser does (multipart)."""
        fields = dict(fields or {})
        if csrf and "csrf" not in fields:
            fields["csrf"] = self.csrf
        body, ctype = multipart(fields, "file", filename, data)
        return self.request("POST", path, headers={"Content-Type": ctype},
                            body=body)

    def api(self, method, path, fields=None):
        r = self.request(method, path, fields)
        return r.status, json.loads(r.body)

    def login(self, user, password=PASSWORD, expect=303):
        page = self.get("/login")
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', page.body)
        r = self.post("/login", {"user": user, "password": password,
                                 "csrf": m.group(1)})
        assert r.status == expect, (r.status, r.body[:500])
        if expect == 303:
            home = self.get(r.getheader("Location"))
            self.csrf = re.search(r'name="csrf" value="([0-9a-f]+)"',
                                  home.body).group(1)
        return r


def tellsmtp_remote(srv, tok, *args):
    env = dict(srv.env)
    env.update({"DMAIL_WEB_TOKEN": tok, "DMAIL_WEB_CA": srv.cert})
    return subprocess.run([dt.TELLSMTP, "-H", "https://localhost:%d"
                           % srv.port("web")] + list(args),
                          capture_output=True, text=True, env=env,
                          timeout=60)
