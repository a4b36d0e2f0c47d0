#!/usr/bin/env python3
"""smtp_proto.py - dmail-smtpd protocol behaviour against a real dmaild:
greeting, EHLO, every reply code of the command set, pipelining (RFC 2920),
limits (line length, recipients, errors, timeouts), relay control from a
client bound to 127.0.0.2, and interoperability with smtplib, curl, swaks.
"""

import os
import shutil
import smtplib
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

DOMAIN = "example.test"
BOB = "bob@" + DOMAIN


class Client:
    """A raw SMTP client that reads replies exactly as sent."""

    def __init__(self, port, source=None):
        self.sock = dt.connect(port, source=source)
        self.f = self.sock.makefile("rb")

    def reply(self):
        """One whole reply: (code, [lines])."""
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError("connection closed; got %r" % lines)
            assert line.endswith(b"\r\n"), line
            lines.append(line[:-2].decode("utf-8", "replace"))
            if line[3:4] == b" ":
                return int(line[:3]), lines
            assert line[3:4] == b"-", line

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code, enhanced=None):
        got, lines = self.cmd(line)
        assert got == code, "%r -> %r, expected %d" % (line, lines, code)
        if enhanced:
            assert lines[-1].split(" ")[1] == enhanced, \
                "%r -> %r, expected %s" % (line, lines, enhanced)
        return lines

    def closed(self):
        self.sock.settimeout(5)
        try:
            return self.f.read() == b""
        except OSError:
            return True

    def close(self):
        self.f.close()
        self.sock.close()


def server(**kw):
    """A dmaild running dmail-smtpd from the build tree."""
    extra = kw.pop("extra", "")
    kw.setdefault("smtp", True)
    srv = dt.Server(domains=[DOMAIN], extra=extra, start=False, **kw)
    if not any(l.startswith("smtp_program") for l in srv.base_lines):
        srv.write_conf(extra=extra + "\nsmtp_program %s\n" % dt.SMTPD)
    return srv.start()


def greet(srv, source=None):
    c = Client(srv.port("smtp"), source=source)
    code, lines = c.reply()
    assert code == 220 and lines[0].startswith("220 mx.example.test ESMTP"), \
        lines
    return c


def test_ehlo_and_reply_codes():
    with server() as srv:
        srv.add_user(BOB)
        c = greet(srv)
        lines = c.expect("EHLO client.example", 250)
        assert lines[0] == "250-mx.example.test Hello 127.0.0.1", lines
        kw = [l[4:] for l in lines[1:]]
        for want in ("PIPELINING", "SIZE 26214400", "8BITMIME",
                     "ENHANCEDSTATUSCODES", "SMTPUTF8",
                     "AUTH PLAIN LOGIN"):
            assert want in kw, (want, kw)
        assert "STARTTLS" not in kw and "CHUNKING" not in kw, kw
        c.expect("NOOP", 250, "2.0.0")
        c.expect("HELP", 214, "2.0.0")
        c.expect("VRFY bob", 252, "2.5.2")
        c.expect("EXPN staff", 502, "5.5.1")
        c.expect("XYZZY", 500, "5.5.2")
        c.expect("RCPT TO:<%s>" % BOB, 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        c.expect("MAIL FROM:<a@example.org> FOO=1", 555, "5.5.4")
        c.expect("MAIL FROM:a@example.org", 501, "5.5.4")
        c.expect("MAIL FROM:<a b@example.org>", 501, "5.1.7")
        c.expect("MAIL FROM:<a@example.org> SIZE=999999999", 552, "5.3.4")
        c.expect("MAIL FROM:<a@example.org>", 250, "2.1.0")
        c.expect("MAIL FROM:<a@example.org>", 503, "5.5.1")
        c.expect("DATA", 554, "5.5.1")
        c.expect("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")
        c.expect("RCPT TO:<bob>", 501, "5.1.3")
        c.expect("RCPT TO:<%s>" % BOB, 250, "2.1.5")
        c.expect("RSET", 250, "2.0.0")
        c.expect("DATA", 503, "5.5.1")
        c.expect("RSET x", 501, "5.5.4")
        c.expect("QUIT", 221, "2.0.0")
        assert c.closed()


def test_pipelining_replies_in_order():
    with server() as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        # One write holding a whole transaction and more (RFC 2920 3.1).
        c.send("MAIL FROM:<a@example.org>\r\n"
               "RCPT TO:<nobody@%s>\r\n"
               "RCPT TO:<%s>\r\n"
               "DATA\r\n" % (DOMAIN, BOB))
        codes = [c.reply()[0] for _ in range(4)]
        assert codes == [250, 550, 250, 354], codes
        c.send("Subject: pipelined\r\n\r\nbody\r\n.\r\n"
               "MAIL FROM:<b@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % BOB)
        codes = [c.reply()[0] for _ in range(4)]
        assert codes == [250, 250, 250, 354], codes
        c.send("Subject: second\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        codes = [c.reply()[0] for _ in range(3)]
        assert codes == [250, 250, 221], codes
        files = srv.wait_messages(BOB, 2)
        subjects = sorted(open(f, "rb").read().split(b"Subject: ")[1]
                          .split(b"\n")[0] for f in files)
        assert subjects == [b"pipelined", b"second"], subjects


def test_line_and_count_limits():
    with server(extra="max_recipients 3\nsmtp_max_errors 6\n") as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        # 512 octets with CRLF is the limit (RFC 5321 4.5.3.1.4)
        c.expect("NOOP " + "x" * 505, 250)
        c.expect("NOOP " + "x" * 506, 500, "5.5.2")
        c.expect("NOOP " + "x" * 20000, 500, "5.5.2")
        c.expect("MAIL FROM:<a@example.org>", 250)
        for _ in range(3):
            c.expect("RCPT TO:<%s>" % BOB, 250)
        c.expect("RCPT TO:<%s>" % BOB, 452, "4.5.3")
        c.expect("RSET", 250)
        # errors so far: 500, 500 (a 452 for an excess recipient is not
        # an error) -> four more and the session ends
        c.expect("BAD1", 500)
        c.expect("BAD2", 500)
        c.expect("BAD3", 500)
        code, lines = c.cmd("BAD4")
        assert code == 500, lines
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.7.0"), lines
        assert c.closed()


def test_pipelined_recipients_over_the_limit():
    """RFC 5321 4.5.3.1.10: a client that pipelines more recipients than
    the limit gets 452 for the excess and keeps its session; the message
    goes to the accepted ones."""
    users = ["r%d@%s" % (i, DOMAIN) for i in range(20)]
    with server(extra="max_recipients 3\nsmtp_max_errors 5\n") as srv:
        for u in users:
            srv.add_user(u)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        c.send("MAIL FROM:<a@example.org>\r\n" +
               "".join("RCPT TO:<%s>\r\n" % u for u in users) +
               "DATA\r\n")
        codes = [c.reply()[0] for _ in range(len(users) + 2)]
        assert codes == [250] + [250] * 3 + [452] * 17 + [354], codes
        c.send("Subject: many\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<%s>" % users[3], 250)
        c.expect("DATA", 354)
        c.expect("Subject: the rest\r\n\r\nbody\r\n.", 250)
        c.expect("QUIT", 221)
        for u in users[:4]:
            srv.wait_messages(u, 1)
        for u in users[4:]:
            assert srv.maildir_messages(u) == [], u


def test_command_timeout():
    with server(extra="smtp_command_timeout 1\n") as srv:
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        start = time.monotonic()
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert 0.5 < time.monotonic() - start < 10
        assert c.closed()


def test_data_and_session_timeouts():
    extra = "smtp_data_timeout 1\nsmtp_session_timeout 3\n"
    with server(extra=extra) as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<%s>" % BOB, 250)
        c.expect("DATA", 354)
        c.send("Subject: stalled\r\n\r\nhalf a mess")
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert c.closed()
        assert srv.maildir_messages(BOB) == []
        # a busy client still meets the session limit
        c = greet(srv)
        start = time.monotonic()
        while True:
            code, lines = c.cmd("NOOP")
            if code != 250:
                break
            assert time.monotonic() - start < 10, "no session timeout"
            time.sleep(0.3)
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert 2.5 < time.monotonic() - start < 10
        assert c.closed()


def test_relay_denied_from_other_address():
    extra = "relay_networks 127.0.0.1/32\n"
    with server(extra=extra) as srv:
        srv.add_user(BOB)
        # 127.0.0.2 is not in relay_networks: no relaying
        c = greet(srv, source="127.0.0.2")
        c.expect("EHLO outside.example", 250)
        c.expect("MAIL FROM:<a@example.org>", 250)
        lines = c.expect("RCPT TO:<victim@elsewhere.example>", 554, "5.7.1")
        assert "Relay access denied" in lines[0], lines
        c.expect("RCPT TO:<victim@[192.0.2.1]>", 554, "5.7.1")
        c.expect("RCPT TO:<@%s:victim@elsewhere.example>" % DOMAIN, 554,
                 "5.7.1")
        c.expect("RCPT TO:<\"victim@elsewhere.example\"@%s>" % DOMAIN, 550,
                 "5.1.1")
        # local mail is still welcome from anywhere
        c.expect("RCPT TO:<%s>" % BOB, 250)
        c.expect("QUIT", 221)
        assert "reason=\"relay access denied\"" in srv.log_text()
        assert srv.spool_files() == [] or all(
            "elsewhere" not in open(f, "rb").read().decode("latin-1")
            for f in srv.spool_files())
        # 127.0.0.1 is: the message is queued for the outbound side
        c = greet(srv, source="127.0.0.1")
        c.expect("EHLO inside.example", 250)
        c.expect("MAIL FROM:<a@example.test>", 250)
        c.expect("RCPT TO:<friend@elsewhere.example>", 250, "2.1.5")
        c.expect("DATA", 354)
        lines = c.expect("Subject: out\r\n\r\nhello\r\n.", 250, "2.0.0")
        assert "queued as" in lines[0], lines
        c.expect("QUIT", 221)
        dt.wait_for(lambda: any(
            b"friend@elsewhere.example" in open(f, "rb").read()
            for f in srv.spool_files()), 5, what="queued message")


def test_smtplib_curl_swaks():
    with server() as srv:
        srv.add_user(BOB)
        port = srv.port("smtp")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            refused = s.sendmail("a@example.org", [BOB],
                                 b"Subject: smtplib\r\n\r\nhi\r\n")
            assert refused == {}
        srv.wait_messages(BOB, 1)
        if shutil.which("curl"):
            body = os.path.join(srv.tmp, "curl.txt")
            with open(body, "wb") as f:
                f.write(b"Subject: curl\r\n\r\nfrom curl\r\n")
            r = subprocess.run(
                ["curl", "-sS", "--url", "smtp://127.0.0.1:%d" % port,
                 "--mail-from", "a@example.org", "--mail-rcpt", BOB,
                 "--upload-file", body], capture_output=True, timeout=30)
            assert r.returncode == 0, r.stderr
            srv.wait_messages(BOB, 2)
            r = subprocess.run(
                ["curl", "-sS", "--url", "smtp://127.0.0.1:%d" % port,
                 "--mail-from", "a@example.org", "--mail-rcpt",
                 "nobody@" + DOMAIN, "--upload-file", body],
                capture_output=True, timeout=30)
            assert r.returncode != 0 and b"550" in r.stderr, r.stderr
        if shutil.which("swaks"):
            r = subprocess.run(
                ["swaks", "--server", "127.0.0.1", "--port", str(port),
                 "--from", "a@example.org", "--to", BOB, "--pipeline",
                 "--header", "Subject: swaks"], capture_output=True,
                timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
            assert b"<-  250 2.0.0 Ok: queued as" in r.stdout, r.stdout
        want = 1 + bool(shutil.which("curl")) + bool(shutil.which("swaks"))
        files = srv.wait_messages(BOB, want)
        texts = b"".join(open(f, "rb").read() for f in files)
        for subj in (b"smtplib", b"curl", b"swaks")[:want]:
            assert b"Subject: " + subj in texts, subj
        log = srv.log_text()
        assert "action=accepted" in log and "to=<%s>" % BOB in log, log


if __name__ == "__main__":
    dt.main([test_ehlo_and_reply_codes, test_pipelining_replies_in_order,
             test_line_and_count_limits,
             test_pipelined_recipients_over_the_limit, test_command_timeout,
             test_data_and_session_timeouts,
             test_relay_denied_from_other_address, test_smtplib_curl_swaks])
