#!/usr/bin/env python3
"""smtp_data.py - DATA handling of dmail-smtpd against a real dmaild:
byte-exact delivery (dot lines, a 10 MB 8-bit message), size limits,
SMTP smuggling attempts under both smtp_bare_lf policies, text line
limit, hop count, and kill -9 of the worker in the middle of DATA.
"""

import os
import random
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
from smtp_proto import BOB, DOMAIN, Client, greet, server  # noqa: E402

ADDED = (b"Return-Path:", b"Delivered-To:", b"Received:")


def stored_body(path):
    """The stored file minus the trace headers the server prepends."""
    data = open(path, "rb").read()
    pos = 0
    while True:
        line_end = data.index(b"\n", pos) + 1
        line = data[pos:line_end]
        if line.startswith(ADDED) or (line[:1] in (b" ", b"\t") and pos):
            pos = line_end
            continue
        return data[pos:]


def check_size_fields(path):
    """Maildir name carries S= (stored size) and W= (size with CRLF)."""
    data = open(path, "rb").read()
    name = os.path.basename(path)
    fields = dict(f.split("=", 1) for f in name.split(":")[0].split(",")[1:]
                  if "=" in f)
    assert int(fields["S"]) == len(data), (name, len(data))
    assert int(fields["W"]) == len(data) + data.count(b"\n"), name


def send_raw(c, sender, rcpts, wire):
    """MAIL, RCPT..., DATA and the already dot-stuffed wire text."""
    c.expect("MAIL FROM:<%s>" % sender, 250)
    for r in rcpts:
        c.expect("RCPT TO:<%s>" % r, 250)
    c.expect("DATA", 354)
    c.send(wire)
    return c.reply()


def test_dot_lines_byte_exact():
    with server() as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        body = (b"Subject: dots\n\n.\n..\n...\n.leading dot\n"
                b"trailing dot.\n. space\n\n \n\t\nlast")
        wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                        for l in body.split(b"\n")) + b".\r\n"
        code, lines = send_raw(c, "a@example.org", [BOB], wire)
        assert code == 250, lines
        c.expect("QUIT", 221)
        (path,) = srv.wait_messages(BOB, 1)
        assert stored_body(path) == body + b"\n", open(path, "rb").read()
        head = open(path, "rb").read()[:-len(body)]
        assert head.startswith(b"Return-Path: <a@example.org>\n"), head
        assert b"Delivered-To: " + BOB.encode() in head, head
        assert b"with ESMTP" in head, head
        check_size_fields(path)


def test_10mb_8bit_message():
    rnd = random.Random(7)
    # every octet but CR and LF, about half of them 8-bit
    table = bytes(b if b not in (10, 13) else 0x80 + b for b in range(256))
    pool = rnd.randbytes(1 << 20).translate(table)
    lines = [b"Subject: big", b"Content-Transfer-Encoding: 8bit", b""]
    size = pos = 0
    while size < 10 * 1024 * 1024:
        n = rnd.randint(0, 200)
        if pos + n > len(pool):
            pos = rnd.randint(0, 1000)
        line = pool[pos:pos + n]
        pos += n
        if rnd.random() < 0.02:
            line = b"." + line
        lines.append(line)
        size += len(line) + 2
    body = b"\n".join(lines) + b"\n"
    with server() as srv:
        srv.add_user(BOB)
        with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=60) as s:
            s.ehlo("client.example")
            refused = s.sendmail("a@example.org", [BOB],
                                 body.replace(b"\n", b"\r\n"),
                                 mail_options=["BODY=8BITMIME"])
            assert refused == {}
        (path,) = srv.wait_messages(BOB, 1)
        got = stored_body(path)
        assert len(got) == len(body), (len(got), len(body))
        assert got == body, "content differs"
        check_size_fields(path)


def test_size_limit():
    with server(extra="max_message_size 100k\n") as srv:
        srv.add_user(BOB)
        c = greet(srv)
        lines = c.expect("EHLO client.example", 250)
        assert "250-SIZE 102400" in lines, lines
        c.expect("MAIL FROM:<a@example.org> SIZE=102401", 552, "5.3.4")
        wire = b"Subject: big\r\n\r\n" + (b"x" * 98 + b"\r\n") * 2000 + \
            b".\r\n"
        code, lines = send_raw(c, "a@example.org", [BOB], wire)
        assert code == 552 and lines[0].startswith("552 5.3.4"), lines
        # the session goes on and a small message still works
        code, lines = send_raw(c, "a@example.org", [BOB],
                               b"Subject: small\r\n\r\nok\r\n.\r\n")
        assert code == 250, lines
        c.expect("QUIT", 221)
        files = srv.wait_messages(BOB, 1)
        time.sleep(0.2)
        files = srv.maildir_messages(BOB)
        assert len(files) == 1 and b"Subject: small" in \
            open(files[0], "rb").read(), files


SMUGGLE = [
    # (name, DATA content as sent)
    ("LF.LF", b"Subject: a\r\n\r\nhello\n.\nMAIL FROM:<evil@example.org>\r\n"
     b"RCPT TO:<%s>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
     % BOB.encode()),
    ("CR.CR", b"Subject: a\r\n\r\nhello\r.\rMAIL FROM:<evil@example.org>\r\n"
     b"RCPT TO:<%s>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
     % BOB.encode()),
    ("CRLF.LF", b"Subject: a\r\n\r\nhello\r\n.\nMAIL FROM:<evil@example.org>"
     b"\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
     % BOB.encode()),
    ("LF.CRLF", b"Subject: a\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.org>"
     b"\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
     % BOB.encode()),
]


def test_smuggling_rejected():
    with server() as srv:
        srv.add_user(BOB)
        for name, data in SMUGGLE:
            c = greet(srv)
            c.expect("EHLO client.example", 250)
            code, lines = send_raw(c, "a@example.org", [BOB], data)
            assert code == 554 and lines[0].startswith("554 5.6.0"), \
                (name, lines)
            # in step: the next command is a command again
            c.expect("NOOP", 250)
            c.expect("QUIT", 221)
        time.sleep(0.3)
        assert srv.maildir_messages(BOB) == [], srv.maildir_messages(BOB)
        assert srv.log_text().count("reason=\"bare ") == len(SMUGGLE)


def test_smuggling_normalized():
    with server(extra="smtp_bare_lf normalize\n") as srv:
        srv.add_user(BOB)
        for name, data in SMUGGLE:
            c = greet(srv)
            c.expect("EHLO client.example", 250)
            code, lines = send_raw(c, "a@example.org", [BOB], data)
            assert code == 250, (name, lines)
            c.expect("QUIT", 221)
        files = srv.wait_messages(BOB, len(SMUGGLE))
        time.sleep(0.3)
        files = srv.maildir_messages(BOB)
        # one message per attempt; the "smuggled" one is only content
        assert len(files) == len(SMUGGLE), files
        for f in files:
            body = stored_body(f)
            assert body.startswith(b"Subject: a\n"), body
            assert b"MAIL FROM:<evil@example.org>\n" in body, body
            assert b"\r" not in body, body


def test_line_limit_and_hops():
    with server() as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        code, lines = send_raw(c, "a@example.org", [BOB],
                               b"Subject: long\r\n\r\n" + b"y" * 999 +
                               b"\r\n.\r\n")
        assert code == 554 and lines[0].startswith("554 5.6.0"), lines
        code, lines = send_raw(c, "a@example.org", [BOB],
                               b"Subject: ok\r\n\r\n" + b"y" * 998 +
                               b"\r\n.\r\n")
        assert code == 250, lines
        hops = b"".join(b"Received: from hop%d\r\n" % i for i in range(51))
        code, lines = send_raw(c, "a@example.org", [BOB],
                               hops + b"Subject: loop\r\n\r\nx\r\n.\r\n")
        assert code == 554 and lines[0].startswith("554 5.4.6"), lines
        hops = b"".join(b"Received: from hop%d\r\n" % i for i in range(50))
        code, lines = send_raw(c, "a@example.org", [BOB],
                               hops + b"Subject: fifty\r\n\r\nx\r\n.\r\n")
        assert code == 250, lines
        c.expect("QUIT", 221)
        time.sleep(0.3)
        files = srv.maildir_messages(BOB)
        subjects = sorted(b"ok" if b"Subject: ok" in open(f, "rb").read()
                          else b"fifty" for f in files)
        assert subjects == [b"fifty", b"ok"], files


def test_kill_worker_during_data():
    with server(workers={"smtp": (1, 2, 100)}) as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        code, lines = send_raw(c, "a@example.org", [BOB],
                               b"Subject: acknowledged\r\n\r\nsafe\r\n.\r\n")
        assert code == 250, lines
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<%s>" % BOB, 250)
        c.expect("DATA", 354)
        c.send(b"Subject: doomed\r\n\r\n" + b"z" * 70 + b"\r\n" * 1)
        c.send((b"z" * 70 + b"\r\n") * 5000)
        time.sleep(0.3)
        pids = srv.worker_pids()
        assert pids, "no worker processes found"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert c.closed()
        time.sleep(0.5)
        files = srv.maildir_messages(BOB)
        assert len(files) == 1, files
        assert b"Subject: acknowledged" in open(files[0], "rb").read()
        # the master starts a new worker and mail flows again
        dt.wait_for(lambda: srv.worker_pids(), 10, what="new worker")
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        code, lines = send_raw(c, "a@example.org", [BOB],
                               b"Subject: after\r\n\r\nx\r\n.\r\n")
        assert code == 250, lines
        c.expect("QUIT", 221)
        files = srv.wait_messages(BOB, 2)
        assert not any(b"Subject: doomed" in open(f, "rb").read()
                       for f in files)


def test_smtputf8_sender():
    with server() as srv:
        srv.add_user(BOB)
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        sender = "j\u00f6rg@b\u00fccher.example"
        c.expect("MAIL FROM:<%s>" % sender, 553, "5.6.7")
        c.expect("MAIL FROM:<%s> SMTPUTF8 BODY=8BITMIME" % sender, 250)
        c.expect("RCPT TO:<%s>" % BOB, 250)
        c.expect("DATA", 354)
        c.send("Subject: gr\u00fc\u00dfe\r\n\r\nh\u00e9\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        (path,) = srv.wait_messages(BOB, 1)
        data = open(path, "rb").read()
        assert b"with UTF8SMTP id" in data, data
        # RFC 6531/6532: the UTF-8 reverse-path is kept as it was given.
        assert data.startswith(("Return-Path: <%s>\n" % sender)
                               .encode()), data[:80]
        assert stored_body(path) == "Subject: gr\u00fc\u00dfe\n\nh\u00e9\n" \
            .encode(), data


def test_disk_full_is_temporary():
    with server() as srv:
        srv.add_user(BOB)
        srv.stop()
        srv.env["DMAIL_FAULT"] = "fsync:1:ENOSPC"
        srv.start()
        c = greet(srv)
        c.expect("EHLO client.example", 250)
        code, lines = send_raw(c, "a@example.org", [BOB],
                               b"Subject: full\r\n\r\nx\r\n.\r\n")
        assert code in (451, 452) and lines[0][4:5] == "4", lines
        c.expect("NOOP", 250)
        c.expect("QUIT", 221)
        time.sleep(0.2)
        base = srv.maildir(BOB)
        for sub in ("new", "cur", "tmp"):
            left = os.listdir(os.path.join(base, sub))
            assert left == [], (sub, left)
        assert "action=not-accepted" in srv.log_text()


if __name__ == "__main__":
    dt.main([test_dot_lines_byte_exact, test_10mb_8bit_message,
             test_size_limit, test_smuggling_rejected,
             test_smuggling_normalized, test_line_limit_and_hops,
             test_kill_worker_during_data, test_smtputf8_sender,
             test_disk_full_is_temporary])
