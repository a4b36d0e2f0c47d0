#!/usr/bin/env python3
"""smtp_tls_auth.py - STARTTLS (RFC 3207), AUTH PLAIN/LOGIN (RFC 4954),
the submission role (AUTH before MAIL) and implicit TLS on the smtps
listener (RFC 8314) against a real dmaild, with a self-signed
certificate made by openssl.
"""

import base64
import os
import re
import smtplib
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
from smtp_proto import BOB, DOMAIN, Client, greet, server  # noqa: E402
from smtp_data import stored_body  # noqa: E402,F401


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TLSClient(Client):
    def starttls(self):
        self.f.close()
        self.sock = client_ctx().wrap_socket(self.sock,
                                             server_hostname="localhost")
        self.f = self.sock.makefile("rb")


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            password.encode()).decode()


def test_starttls_discards_pipelined_and_resets():
    with server(tls=True) as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.__class__ = TLSClient
        lines = c.expect("EHLO client.example", 250)
        assert "250-STARTTLS" in lines, lines
        # not in the middle of a transaction
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("STARTTLS", 503, "5.5.1")
        c.expect("RSET", 250)
        # a command injected after STARTTLS in the same packet must be
        # thrown away, not answered inside TLS (CVE-2011-0411)
        c.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        code, lines = c.reply()
        assert code == 220 and lines[0].startswith("220 2.0.0"), lines
        c.starttls()
        # state reset: EHLO is needed again
        c.expect("MAIL FROM:<a@example.org>", 503, "5.5.1")
        lines = c.expect("EHLO client.example", 250)
        assert "250-STARTTLS" not in lines, lines
        assert "250-AUTH PLAIN LOGIN" in lines, lines
        c.expect("STARTTLS", 554, "5.5.1")
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<%s>" % BOB, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: tls\r\n\r\nsecret\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        (path,) = srv.wait_messages(BOB, 1)
        data = open(path, "rb").read()
        assert b"with ESMTPS" in data and b"TLSv1." in data, data
        assert "discard-pipelined" in srv.log_text()
        assert "injected" not in srv.log_text()


def test_starttls_not_offered_without_cert():
    with server() as srv:
        c = greet(srv)
        lines = c.expect("EHLO client.example", 250)
        assert "250-STARTTLS" not in lines, lines
        c.expect("STARTTLS", 502, "5.5.1")
        c.expect("QUIT", 221)


def test_auth_plain_and_login():
    with server(tls=True) as srv:
        srv.add_user(BOB, "s3cret pass")
        srv.add_user("carol@" + DOMAIN, "carolpw")
        srv.dmail_user("disable", "carol@" + DOMAIN)
        c = greet(srv)
        c.__class__ = TLSClient
        c.expect("EHLO client.example", 250)
        c.expect("STARTTLS", 220)
        c.starttls()
        c.expect("EHLO client.example", 250)
        c.expect("AUTH PLAIN " + plain(BOB, "wrong"), 535, "5.7.8")
        c.expect("AUTH PLAIN " + plain("nobody@" + DOMAIN, "x"), 535,
                 "5.7.8")
        c.expect("AUTH PLAIN " + plain("carol@" + DOMAIN, "carolpw"), 535,
                 "5.7.8")
        c.expect("AUTH PLAIN", 334)
        c.expect("*", 501, "5.7.0")
        c.expect("AUTH PLAIN not-base64!", 501, "5.5.2")
        c.expect("AUTH DIGEST-MD5", 504, "5.5.4")
        c.expect("AUTH LOGIN", 334)
        c.expect(base64.b64encode(b"bob").decode(), 334)
        c.expect(base64.b64encode(b"s3cret pass").decode(), 235, "2.7.0")
        c.expect("AUTH PLAIN " + plain(BOB, "s3cret pass"), 503, "5.5.1")
        # authenticated: relaying is allowed
        c.expect("MAIL FROM:<%s>" % BOB, 250)
        c.expect("RCPT TO:<friend@elsewhere.example>", 250)
        c.expect("RCPT TO:<%s>" % BOB, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: authed\r\n\r\nhi\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        (path,) = srv.wait_messages(BOB, 1)
        assert b"with ESMTPSA" in open(path, "rb").read()
        log = srv.log_text()
        assert re.search(r"action=auth sid=\S+ mech=LOGIN "
                         r"user=bob@example\.test ", log), log
        assert "s3cret" not in log
        # smtplib, PLAIN with initial response
        with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=10) as s:
            s.starttls(context=client_ctx())
            s.login(BOB, "s3cret pass")
            s.sendmail(BOB, ["x@elsewhere.example"], b"Subject: y\r\n\r\n.")
        dt.wait_for(lambda: any(b"x@elsewhere.example" in open(f, "rb").read()
                                for f in srv.spool_files()), 5,
                    what="queued message")


def test_submission_requires_auth():
    with server(smtp=False, submission=True, tls=True) as srv:
        srv.add_user(BOB, "pw")
        c = Client(srv.port("submission"))
        c.__class__ = TLSClient
        assert c.reply()[0] == 220
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<%s>" % BOB, 530, "5.7.0")
        c.expect("STARTTLS", 220)
        c.starttls()
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<%s>" % BOB, 530, "5.7.0")
        c.expect("AUTH PLAIN " + plain("bob", "pw"), 235, "2.7.0")
        c.expect("MAIL FROM:<%s>" % BOB, 250)
        c.expect("RCPT TO:<far@elsewhere.example>", 250)
        c.expect("QUIT", 221)


def test_smtps_implicit_tls():
    with server(smtp=False, smtps=True) as srv:
        srv.add_user(BOB, "pw")
        with smtplib.SMTP_SSL("127.0.0.1", srv.port("smtps"), timeout=10,
                              context=client_ctx()) as s:
            code, msg = s.ehlo("client.example")
            assert code == 250 and b"STARTTLS" not in msg, msg
            assert b"AUTH PLAIN LOGIN" in msg, msg
            code, msg = s.mail(BOB)
            assert code == 530, (code, msg)
            s.login("bob", "pw")
            s.sendmail(BOB, [BOB], b"Subject: smtps\r\n\r\nhi\r\n")
        (path,) = srv.wait_messages(BOB, 1)
        assert b"with ESMTPSA" in open(path, "rb").read()
        # a plain-text client gets nothing but a failed handshake
        c = dt.connect(srv.port("smtps"))
        c.sendall(b"EHLO client.example\r\n")
        c.settimeout(5)
        try:
            data = c.recv(100)
        except OSError:
            data = b""
        assert not data.startswith(b"220") and not data.startswith(b"250"), \
            data
        c.close()


if __name__ == "__main__":
    dt.main([test_starttls_discards_pipelined_and_resets,
             test_starttls_not_offered_without_cert,
             test_auth_plain_and_login, test_submission_requires_auth,
             test_smtps_implicit_tls])
