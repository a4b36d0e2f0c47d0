#!/usr/bin/env python3
"""deliver_smtp - end-to-end local delivery through a real dmaild and
dmail-smtpd: headers we add, byte-exact content, Maildir names with S=/W=,
one hard-linked copy for several mailboxes, aliases and forwards (dmail.conf
and the compiled aliases file), postmaster, the queue file for remote
recipients, a 10 MB 8-bit message, the hop limit, and a full disk (fault
injection) answered with 452 and no partial file."""

import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

NEWALIASES = dt.prog("util/dmail-newaliases")


def server(extra="", users=(), env=None, workers=None):
    """A started server with smtp listener, relay from loopback and users
    created before start."""
    srv = dt.Server(smtp=True, start=False, env=env, workers=workers,
                    extra="relay_networks 127.0.0.0/8\n" + extra)
    if "smtp_program" not in srv.conf_text(""):
        srv.write_conf(srv.extra + "\nsmtp_program %s\n" % dt.SMTPD)
    try:
        for u in users:
            srv.add_user(u)
        srv.start()
    except Exception:
        srv.cleanup()
        raise
    return srv


def read(path):
    with open(path, "rb") as f:
        return f.read()


def split_ours(data):
    """Our prepended header lines (Return-Path, Delivered-To, Received,
    which ends with our date line) and the client's message."""
    end = data.index(b" +0000\n") + len(b" +0000\n")
    return data[:end], data[end:]


BODY = (b"Subject: dots and 8bit\r\n"
        b"\r\n"
        b".leading dot\r\n"
        b"..two dots\r\n"
        b".\r\n"
        b"caf\xc3\xa9 8-bit line\r\n"
        b"last\r\n")
# What must be stored: LF line ends, dots as the client meant them.
STORED = BODY.replace(b"\r\n", b"\n")


def test_local_delivery_headers_names_bytes():
    with server(users=["alice@example.test"]) as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.ehlo("client.example.org")
        s.sendmail("sender@remote.test", ["alice@example.test"], BODY)
        s.quit()
        (path,) = srv.wait_messages("alice@example.test", 1)
        data = read(path)
        ours, rest = split_ours(data)
        assert rest == STORED, rest
        assert ours.startswith(b"Return-Path: <sender@remote.test>\n"
                               b"Delivered-To: alice@example.test\n"
                               b"Received: from client.example.org "
                               b"([127.0.0.1])\n\tby mx.example.test "), ours
        assert b"for <alice@example.test>;" in ours, ours
        name = os.path.basename(path)
        m = re.match(r"^\d+\.M\d+P\d+Q\d+\.mx\.example\.test,S=(\d+),W=(\d+)$",
                     name)
        assert m, name
        assert int(m.group(1)) == len(data) == os.path.getsize(path)
        assert int(m.group(2)) == len(data) + data.count(b"\n")
        tmp = os.path.join(srv.maildir("alice@example.test"), "tmp")
        assert os.listdir(tmp) == [], os.listdir(tmp)


def test_aliases_forwards_single_copy():
    extra = ("alias staff alice, bob\n"
             "forward carol@example.test alice, carol@remote.test\n")
    with server(extra, ["alice@example.test", "bob@example.test"]) as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.sendmail("x@remote.test", ["staff@example.test"], b"Subject: 1\r\n\r\nA\r\n")
        s.sendmail("x@remote.test", ["carol@example.test"], b"Subject: 2\r\n\r\nB\r\n")
        s.quit()
        (a1, a2) = srv.wait_messages("alice@example.test", 2)
        (b1,) = srv.wait_messages("bob@example.test", 1)
        by_subject = {}
        for p in (a1, a2):
            by_subject[b"Subject: 1" in read(p)] = p
        # alice and bob share one stored copy (hard link), without a
        # per-recipient Delivered-To.
        st_a, st_b = os.stat(by_subject[True]), os.stat(b1)
        assert st_a.st_ino == st_b.st_ino and st_a.st_nlink == 2
        assert b"Delivered-To:" not in read(b1)
        # the forward: a local copy plus a queue file for the remote
        # target, which remembers the original recipient.
        queue = os.path.join(srv.state_dir, "spool", "queue")
        (qf,) = os.listdir(queue)
        q = read(os.path.join(queue, qf))
        head, msg = q.split(b"\n\n", 1)
        lines = head.split(b"\n")
        assert lines[0] == b"dmail-queue 1", lines
        assert b"id " + qf.encode() in lines
        assert b"sender x@remote.test" in lines
        assert b"rcpt P\tcarol@remote.test\tcarol@example.test" in lines
        assert msg.startswith(b"Received: from "), msg
        assert msg.endswith(b"\nSubject: 2\n\nB\n"), msg
        assert b"Return-Path" not in msg


def test_unknown_user_and_postmaster():
    with server(users=["alice@example.test"]) as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.ehlo("c.example.org")
        s.mail("x@remote.test")
        code, msg = s.rcpt("nobody@example.test")
        assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
        code, msg = s.rcpt("postmaster")
        assert code == 250, (code, msg)
        code, msg = s.rcpt("Postmaster@example.test")
        assert code == 250, (code, msg)
        code, msg = s.data(b"Subject: to the postmaster\r\n\r\nhi\r\n")
        assert code == 250, (code, msg)
        s.quit()
        pm = os.path.join(srv.state_dir, "mail", "example.test",
                          "postmaster", "new")
        files = dt.wait_for(lambda: os.path.isdir(pm) and os.listdir(pm),
                            what="postmaster mail")
        assert len(files) == 1, files


def test_quoted_local_part_is_the_same_mailbox():
    """RFC 5321 4.1.2: "alice"@domain is alice@domain."""
    with server(users=["alice@example.test"]) as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.ehlo("c.example.org")
        s.mail("x@remote.test")
        code, msg = s.docmd('RCPT TO:<"alice"@example.test>')
        assert code == 250, (code, msg)
        code, msg = s.docmd('RCPT TO:<"john doe"@example.test>')
        assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
        code, msg = s.data(b"Subject: quoted\r\n\r\nhi\r\n")
        assert code == 250, (code, msg)
        s.quit()
        (path,) = srv.wait_messages("alice@example.test", 1)
        assert b"Delivered-To: alice@example.test\n" in read(path)


def test_role_mailboxes_go_to_admin_address():
    """postmaster, abuse, mailer-daemon and root of every local domain
    reach admin_address unless an alias or an account says otherwise;
    nothing goes to a Maildir nobody can log into."""
    extra = ("local_domains example.test other.test\n"
             "admin_address boss@example.test\n"
             "alias abuse@other.test alice@example.test\n")
    with server(extra=extra, users=["alice@example.test",
                                    "boss@example.test",
                                    "root@other.test"]) as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.ehlo("c.example.org")
        for rcpt, owner in (("postmaster", "boss@example.test"),
                            ("postmaster@other.test", "boss@example.test"),
                            ("abuse@example.test", "boss@example.test"),
                            ("MAILER-DAEMON@example.test",
                             "boss@example.test"),
                            ("abuse@other.test", "alice@example.test"),
                            ("root@other.test", "root@other.test")):
            before = len(srv.maildir_messages(owner))
            s.mail("x@remote.test")
            code, msg = s.rcpt(rcpt)
            assert code == 250, (rcpt, code, msg)
            code, msg = s.data(b"Subject: to " + rcpt.encode() +
                               b"\r\n\r\nhi\r\n")
            assert code == 250, (rcpt, code, msg)
            srv.wait_messages(owner, before + 1)
        s.quit()
        assert len(srv.maildir_messages("boss@example.test")) == 4
        for dom in ("example.test", "other.test"):
            assert not os.path.exists(os.path.join(
                srv.state_dir, "mail", dom, "postmaster")), dom


def test_admin_address_must_be_an_address():
    srv = dt.Server(smtp=True, start=False,
                    extra="admin_address not-an-address\n")
    try:
        r = subprocess.run([dt.DMAILD, "-n", "-c", srv.conf_path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "admin_address" in r.stderr, r
    finally:
        srv.cleanup()


def test_compiled_aliases_file():
    if not os.path.exists(NEWALIASES):
        raise dt.SkipTest("dmail-newaliases not built")
    with server(users=["alice@example.test", "bob@example.test"],
                extra="aliases_file aliases\n") as srv:
        src = os.path.join(srv.tmp, "aliases")
        with open(src, "w") as f:
            f.write("# test aliases\nteam: alice,\n  bob\n")
        r = subprocess.run([NEWALIASES, "-C", srv.conf_path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "1 aliases" in r.stdout, r.stdout
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.sendmail("x@remote.test", ["team@example.test"], b"Subject: t\r\n\r\n1\r\n")
        srv.wait_messages("alice@example.test", 1)
        srv.wait_messages("bob@example.test", 1)
        # Recompiled while running: the next message follows the new table.
        with open(src, "w") as f:
            f.write("team: bob\n")
        r = subprocess.run([NEWALIASES, "-C", srv.conf_path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        s.sendmail("x@remote.test", ["team@example.test"], b"Subject: t\r\n\r\n2\r\n")
        s.quit()
        srv.wait_messages("bob@example.test", 2)
        assert len(srv.maildir_messages("alice@example.test")) == 1
        # A broken source is refused and the old table stays.
        with open(src, "w") as f:
            f.write("team alice\n")
        r = subprocess.run([NEWALIASES, "-C", srv.conf_path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 65, (r.returncode, r.stderr)
        assert "aliases:1: missing ':'" in r.stderr, r.stderr
        with open(src, "w") as f:
            f.write("a: b\nc: d\n")
        r = subprocess.run([NEWALIASES, "-C", srv.conf_path, "-n"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "2 aliases, syntax OK" in r.stdout, r


def test_ten_megabytes_8bit_byte_exact():
    # 10 MB of 8-bit lines (every byte value except CR and LF), some
    # starting with a dot; stored exactly, sizes in the name right.
    line_bytes = bytes(b for b in range(256) if b not in (10, 13))
    lines = []
    for i in range(10 * 1024 * 1024 // 256):
        pre = b"." if i % 7 == 0 else b""
        lines.append(pre + line_bytes[i % 200:] + line_bytes[:i % 200])
    body = b"\r\n".join(lines) + b"\r\n"
    msg = b"Subject: big\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
    with server(users=["alice@example.test"]) as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=120)
        s.ehlo("client.example.org")
        s.sendmail("x@remote.test", ["alice@example.test"], msg)
        s.quit()
        (path,) = srv.wait_messages("alice@example.test", 1)
        data = read(path)
        _, rest = split_ours(data)
        assert rest == msg.replace(b"\r\n", b"\n"), "content differs"
        name = os.path.basename(path)
        size, wsize = re.search(r",S=(\d+),W=(\d+)$", name).groups()
        assert int(size) == len(data)
        assert int(wsize) == len(data) + data.count(b"\n")


def test_hop_limit():
    with server(users=["alice@example.test"], extra="max_hops 5\n") as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.ehlo("c.example.org")
        ok = b"".join(b"Received: from h%d by h; date\r\n" % i
                      for i in range(5))
        s.sendmail("x@remote.test", ["alice@example.test"],
                   ok + b"Subject: 5 hops\r\n\r\nx\r\n")
        too_many = ok + b"Received: from h6\r\n  (folded) by h; date\r\n"
        try:
            s.sendmail("x@remote.test", ["alice@example.test"],
                       too_many + b"Subject: 6 hops\r\n\r\nx\r\n")
            raise AssertionError("6 hops accepted")
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 554 and e.smtp_error.startswith(b"5.4.6"), e
        # "Received:" in the body does not count.
        s.sendmail("x@remote.test", ["alice@example.test"],
                   ok + b"Subject: body\r\n\r\n" +
                   b"Received: not a header\r\n" * 10)
        s.quit()
        msgs = srv.wait_messages("alice@example.test", 2)
        assert len(msgs) == 2, msgs


def test_concurrent_sessions_unique_names():
    import threading
    errors = []
    with server(users=["alice@example.test", "bob@example.test"],
                workers={"smtp": (4, 20, 100)}) as srv:
        def client(t):
            try:
                s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=60)
                for i in range(10):
                    s.sendmail("x@remote.test",
                               ["alice@example.test", "bob@example.test"],
                               b"X-Seq: %d-%d\r\n\r\nbody %d-%d\r\n"
                               % (t, i, t, i))
                s.quit()
            except Exception as e:  # reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(t,))
                   for t in range(20)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        for user in ("alice@example.test", "bob@example.test"):
            files = srv.wait_messages(user, 200)
            assert len(files) == 200, len(files)
            seqs = set()
            for p in files:
                data = read(p)
                seq = data.split(b"X-Seq: ")[1].split(b"\n")[0]
                assert data.endswith(b"\n\nbody " + seq + b"\n"), data
                seqs.add(seq)
            assert len(seqs) == 200


def test_disk_full_gives_452_and_no_partial_file():
    with server(users=["alice@example.test"],
                env={"DMAIL_FAULT": "fsync:1:ENOSPC"}) as srv:
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        s.ehlo("c.example.org")
        s.mail("x@remote.test")
        code, msg = s.rcpt("alice@example.test")
        assert code == 250, (code, msg)
        code, msg = s.data(b"Subject: lost?\r\n\r\n" + (b"y" * 70 + b"\r\n") * 100)
        assert code == 452 and msg.startswith(b"4.3.1"), (code, msg)
        s.quit()
        md = srv.maildir("alice@example.test")
        for sub in ("new", "cur", "tmp"):
            d = os.path.join(md, sub)
            assert not os.path.isdir(d) or os.listdir(d) == [], (sub, os.listdir(d))
        assert "partial files removed" in srv.log_text()


if __name__ == "__main__":
    dt.main([test_local_delivery_headers_names_bytes,
             test_aliases_forwards_single_copy,
             test_unknown_user_and_postmaster,
             test_quoted_local_part_is_the_same_mailbox,
             test_role_mailboxes_go_to_admin_address,
             test_admin_address_must_be_an_address,
             test_compiled_aliases_file,
             test_ten_megabytes_8bit_byte_exact,
             test_hop_limit,
             test_concurrent_sessions_unique_names,
             test_disk_full_gives_452_and_no_partial_file])
