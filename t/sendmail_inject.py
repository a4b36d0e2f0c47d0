#!/usr/bin/env python3
"""sendmail_inject - dmail-sendmail as cron, PHP mail() and scripts use it:
run without root, -t with Bcc removed, -i and the lone dot, headers added
when missing, sendmail flags ignored, unknown users reported with exit 67,
and the maildrop fallback when the server is down (never lost, listed by
-bp in the format of "tellsmtp queue": both print the same listing).
Submission goes through the SMTP client (common/smtp_client.c): -v shows
its dialogue, and a reply whose lines carry different codes is a protocol
error (the recipient waits in the maildrop) instead of being read by the
code of its last line."""

import os
import pwd
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
from deliver_smtp import server, read  # noqa: E402

SENDMAIL = dt.prog("util/dmail-sendmail")


def as_nobody():
    """preexec_fn: drop to nobody when the tests run as root, to prove
    that dmail-sendmail needs no privileges."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam("nobody")

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def sendmail(srv, args, stdin, unprivileged=True):
    if not os.path.exists(SENDMAIL):
        raise dt.SkipTest("dmail-sendmail not built")
    return subprocess.run([SENDMAIL, "-C", srv.conf_path] + args,
                          input=stdin, capture_output=True, timeout=60,
                          preexec_fn=as_nobody() if unprivileged else None)


def header_block(data):
    return data.split(b"\n\n", 1)[0]


def test_plain_submission_adds_headers():
    with server(users=["alice@example.test"]) as srv:
        r = sendmail(srv, ["-oem", "-odi", "-B", "8BITMIME", "-N", "never",
                           "-F", "Cron Daemon", "alice"],
                     b"Subject: cron output\n\nline 1\n.\nnot part of it\n")
        assert r.returncode == 0, r.stderr
        (path,) = srv.wait_messages("alice@example.test", 1)
        data = read(path)
        head = header_block(data)
        assert b"\nSubject: cron output\n" in head, head
        assert b"\nDate: " in head and b"\nMessage-ID: <" in head, head
        who = b"nobody" if os.geteuid() == 0 else \
            pwd.getpwuid(os.geteuid()).pw_name.encode()
        assert b"\nFrom: Cron Daemon <" + who + b"@example.test>\n" in head + b"\n", head
        assert b"Return-Path: <" + who + b"@example.test>" in head, head
        assert data.endswith(b"\n\nline 1\n"), data


def test_extract_recipients_and_bcc_removed():
    users = ["alice@example.test", "bob@example.test", "carol@example.test"]
    with server(users=users) as srv:
        msg = (b"From: Me <me@example.test>\n"
               b"To: \"Alice A.\" <alice@example.test>, bob@example.test (Bob)\n"
               b"Cc: undisclosed:;\n"
               b"Bcc: carol@example.test\n"
               b"Subject: -t\n"
               b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
               b"\n"
               b"body\n")
        r = sendmail(srv, ["-t", "-oi", "-f", "me@example.test"], msg)
        assert r.returncode == 0, r.stderr
        for u in users:
            (path,) = srv.wait_messages(u, 1)
            head = header_block(read(path))
            assert b"Bcc:" not in head, head
            assert b"\nFrom: Me <me@example.test>\n" in head, head
            assert head.count(b"\nDate: ") == 1, head


def test_lone_dot_with_i():
    with server(users=["alice@example.test"]) as srv:
        r = sendmail(srv, ["-i", "alice@example.test"],
                     b"From someone Mon Jan  1 00:00:00 2024\n"
                     b"Subject: dots\n\n.\n..\n.x\nend\n")
        assert r.returncode == 0, r.stderr
        (path,) = srv.wait_messages("alice@example.test", 1)
        data = read(path)
        assert data.endswith(b"\n\n.\n..\n.x\nend\n"), data
        assert b"From someone" not in data, data     # mbox line dropped
        assert b"\nSubject: dots\n" in data, data


def test_unknown_recipient_exit_67():
    with server(users=["alice@example.test"]) as srv:
        r = sendmail(srv, ["nosuch@example.test", "alice@example.test"],
                     b"Subject: x\n\nx\n")
        assert r.returncode == 67, (r.returncode, r.stderr)
        assert b"<nosuch@example.test>: 550 5.1.1" in r.stderr, r.stderr
        srv.wait_messages("alice@example.test", 1)


def test_no_recipients_is_usage_error():
    with server() as srv:
        r = sendmail(srv, [], b"Subject: x\n\nx\n")
        assert r.returncode == 64, (r.returncode, r.stderr)


def test_server_down_goes_to_maildrop():
    with server(users=["alice@example.test"]) as srv:
        spool = os.path.join(srv.state_dir, "spool")
        # One message while the server runs (its worker sets up the
        # queue directories), then stop it.
        r = sendmail(srv, ["alice@example.test"], b"Subject: up\n\nup\n")
        assert r.returncode == 0, r.stderr
        srv.wait_messages("alice@example.test", 1)
        srv.stop()
        # The SMTP workers created the maildrop for everyone (1733).
        drop = os.path.join(spool, "maildrop")
        assert os.stat(drop).st_mode & 0o7777 == 0o1733, oct(os.stat(drop).st_mode)
        r = sendmail(srv, ["-f", "", "alice@example.test", "far@remote.test"],
                     b"Subject: while down\n\nkept\n")
        assert r.returncode == 0, r.stderr
        files = [n for n in os.listdir(drop) if not n.startswith(".")]
        assert len(files) == 1, os.listdir(drop)
        data = read(os.path.join(drop, files[0]))
        head, msg = data.split(b"\n\n", 1)
        lines = head.split(b"\n")
        assert lines[0] == b"dmail-queue 1", lines
        assert b"id " + files[0].encode() in lines, lines
        assert b"sender " in lines, lines          # null sender: empty
        assert b"rcpt P\talice@example.test\talice@example.test" in lines
        assert b"rcpt P\tfar@remote.test\tfar@remote.test" in lines
        assert b"Subject: while down" in msg and msg.endswith(b"\n\nkept\n")
        # The queue listing (root can read the maildrop).
        r = sendmail(srv, ["-bp"], b"", unprivileged=False)
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert files[0] in out and "alice@example.test  pending" in out, out
        assert "far@remote.test  pending" in out and "<>" in out, out
        assert "(maildrop)" in out, out
        # A queued message shows the queue manager's last error and hold.
        queue = os.path.join(spool, "queue")
        defer = os.path.join(spool, "defer")
        os.makedirs(queue, exist_ok=True)
        os.makedirs(defer, exist_ok=True)
        # An old arrival, so that both listings show the same age.
        head, rest = data.split(b"\n\n", 1)
        head = b"\n".join(b"arrival 1000000000" if x.startswith(b"arrival ")
                          else x for x in head.split(b"\n"))
        for d in (queue, drop):
            with open(os.path.join(d, files[0]), "wb") as f:
                f.write(head + b"\n\n" + rest)
        with open(os.path.join(defer, files[0]), "w") as f:
            f.write("attempts 1\nnext 0\nhold 1\nwarned 0\n"
                    "r 1 N 451 4.4.1\tmx.remote.test[192.0.2.9]\t"
                    "451 4.4.1 try later\n")
        r = sendmail(srv, ["-bp"], b"", unprivileged=False)
        out = r.stdout.decode()
        assert "(on hold)" in out and "attempts=1" in out, out
        assert ("far@remote.test  pending: 451 4.4.1 try later from "
                "mx.remote.test[192.0.2.9]") in out, out
        assert "-- 2 message(s)" in out, out
        assert "1 in the maildrop" in out, out
        # mailq and tellsmtp queue: one listing.
        t = srv.tell("queue")
        assert t.returncode == 0, t.stderr
        assert t.stdout == out, (t.stdout, out)


class ScriptedSMTP:
    """A server on the smtp_listen port that answers each line with the
    next reply of a script (the greeting first); what it got is kept."""

    def __init__(self, port, replies):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1)
        self.replies = list(replies)
        self.got = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            f = conn.makefile("rb")
            conn.sendall(self.replies.pop(0))
            for line in f:
                self.got += line
                if not self.replies:
                    break
                conn.sendall(self.replies.pop(0))

    def close(self):
        self.thread.join(10)
        self.sock.close()


def test_disagreeing_reply_is_a_protocol_error():
    with server(users=["alice@example.test"]) as srv:
        # The server makes the maildrop; then a script takes its port.
        r = sendmail(srv, ["alice@example.test"], b"Subject: up\n\nup\n")
        assert r.returncode == 0, r.stderr
        srv.stop()
        sk = ScriptedSMTP(srv.port("smtp"), [
            b"220 scripted ESMTP\r\n", b"250 scripted\r\n",
            b"250 2.1.0 ok\r\n",
            # First line 250, last 550: which code? Neither (RFC 5321
            # 4.2.1); the old reader took 550 and refused the recipient.
            b"250-2.1.5 accepted\r\n550 5.1.1 unknown\r\n"])
        try:
            r = sendmail(srv, ["-v", "bob@example.test"],
                         b"Subject: odd\n\nodd\n")
        finally:
            sk.close()
        assert r.returncode == 0, (r.returncode, r.stderr)
        err = r.stderr.decode()
        assert ">>> MAIL FROM:<" in err and "<<< 250 2.1.0 ok" in err, err
        assert "lines with different codes" in err, err
        assert b"RCPT TO:<bob@example.test>" in sk.got, sk.got
        drop = os.path.join(srv.state_dir, "spool", "maildrop")
        files = [n for n in os.listdir(drop) if not n.startswith(".")]
        assert len(files) == 1, os.listdir(drop)
        assert b"rcpt P\tbob@example.test" in read(os.path.join(drop,
                                                                 files[0]))


def test_long_lines_are_split_not_refused():
    with server(users=["alice@example.test"]) as srv:
        subject = b"S" * 1500
        body = bytes(b"abcdefghij"[i % 10] for i in range(3000))
        r = sendmail(srv, ["alice@example.test"],
                     b"Subject: " + subject + b"\n\n" + body + b"\nend\n")
        assert r.returncode == 0, r.stderr
        (path,) = srv.wait_messages("alice@example.test", 1)
        data = read(path)
        assert max(len(x) for x in data.split(b"\n")) <= 998
        head, rest = data.split(b"\n\n", 1)
        assert rest.replace(b"\n", b"") == body + b"end", rest
        # the header was folded: unfolding gives it back with blanks
        unfolded = head.replace(b"\n ", b"")
        assert b"Subject: " + subject in unfolded, head


if __name__ == "__main__":
    dt.main([test_plain_submission_adds_headers,
             test_extract_recipients_and_bcc_removed,
             test_lone_dot_with_i,
             test_unknown_recipient_exit_67,
             test_no_recipients_is_usage_error,
             test_long_lines_are_split_not_refused,
             test_server_down_goes_to_maildrop,
             test_disagreeing_reply_is_a_protocol_error])
