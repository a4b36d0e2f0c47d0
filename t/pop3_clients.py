#!/usr/bin/env python3
"""pop3_clients - real POP3 clients against dmaild: curl (pop3:// and
pop3s://), fetchmail (STLS, UIDL, delete after fetch) and
`openssl s_client -starttls pop3`. Each part skips if its tool is missing.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
from pop3_session import USER, put, server, wire  # noqa: E402

MSG = b"Subject: clients\nFrom: a@example.test\n\n.leading dot\nbody \xc3\xa9\n"


def need(tool):
    if shutil.which(tool) is None:
        raise dt.SkipTest("%s not installed" % tool)


def test_curl():
    need("curl")
    with server(pop3s=True, tls=True) as srv:
        srv.add_user(USER, "secret")
        put(srv, "1700000001.M1P1.h", MSG)
        base = "pop3://127.0.0.1:%d" % srv.port("pop3")
        r = subprocess.run(["curl", "-s", "--user", "alice:secret", base],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"1 %d\r\n" % len(wire(MSG)), r.stdout
        r = subprocess.run(["curl", "-s", "--user", "alice:secret",
                            base + "/1"], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == wire(MSG), r.stdout
        r = subprocess.run(["curl", "-s", "-k", "--ssl-reqd", "--user",
                            "alice@example.test:secret", base + "/1"],
                           capture_output=True, timeout=30)
        assert r.returncode == 0 and r.stdout == wire(MSG), r
        r = subprocess.run(["curl", "-s", "-k", "--user", "alice:secret",
                            "pop3s://127.0.0.1:%d/1" % srv.port("pop3s")],
                           capture_output=True, timeout=30)
        assert r.returncode == 0 and r.stdout == wire(MSG), r
        r = subprocess.run(["curl", "-s", "--user", "alice:wrong", base],
                           capture_output=True, timeout=30)
        assert r.returncode == 67, r   # CURLE_LOGIN_DENIED


def test_openssl_starttls():
    need("openssl")
    with server(tls=True) as srv:
        srv.add_user(USER, "secret")
        put(srv, "1700000001.M1P1.h", MSG)
        script = b"USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n"
        r = subprocess.run(["openssl", "s_client", "-quiet", "-starttls",
                            "pop3", "-connect",
                            "127.0.0.1:%d" % srv.port("pop3")],
                           input=script, capture_output=True, timeout=30)
        out = r.stdout
        assert b"+OK 1 %d\r\n" % len(wire(MSG)) in out, (out, r.stderr)
        assert b"signing off" in out


def test_fetchmail():
    need("fetchmail")
    with server(tls=True) as srv:
        srv.add_user(USER, "secret")
        put(srv, "1700000001.M1P1.h", MSG)
        put(srv, "1700000002.M2P1.h,S=%d,W=%d" % (len(MSG), len(wire(MSG))),
            MSG)
        tmp = tempfile.mkdtemp(prefix="dmail-fm-")
        try:
            rc = os.path.join(tmp, "fetchmailrc")
            mbox = os.path.join(tmp, "out")
            with open(rc, "w") as f:
                f.write("set no bouncemail\n"
                        "poll 127.0.0.1 service %d protocol pop3 uidl\n"
                        "  user \"alice@example.test\" password \"secret\"\n"
                        "  sslproto \"tls1.2+\" no sslcertck fetchall\n"
                        "  mda \"cat >> %s\"\n" % (srv.port("pop3"), mbox))
            os.chmod(rc, 0o600)
            env = dict(os.environ, HOME=tmp, FETCHMAILHOME=tmp)
            r = subprocess.run(["fetchmail", "-f", rc, "--nodetach",
                                "--nosyslog"], capture_output=True,
                               timeout=60, env=env)
            assert r.returncode == 0, (r.stdout, r.stderr, srv.log_tail())
            with open(mbox, "rb") as f:
                got = f.read()
            assert got.count(b"Subject: clients") == 2, got
            assert b"\n.leading dot\n" in got
            # fetchmail deletes what it fetched (no "keep").
            assert srv.maildir_messages(USER) == []
            assert "tls=yes" in srv.log_text()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    dt.main([test_curl, test_openssl_starttls, test_fetchmail])
