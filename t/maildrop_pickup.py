#!/usr/bin/env python3
"""maildrop_pickup - the maildrop through the real path: dmail-sendmail
with no SMTP server to talk to writes state_dir/spool/maildrop/, the
queue manager (dmail-queued under dmaild) picks it up with
deliver_maildrop(): a recipient whose mailbox is full (452 4.2.2) keeps
the whole file for a later try and gets it once space is freed; a file
bigger than max_message_size is bounced to its sender (552 5.3.4), never
deleted silently; garbage is quarantined. Mail DMail writes itself (a
bounce, a list notice) carries one shape of Received: line."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sendmail_inject import SENDMAIL, as_nobody  # noqa: E402

# The one form of our Received: line on generated mail (deliver.h).
GENERATED = re.compile(rb"^Received: from localhost \(local\)\n"
                       rb"\tby mx\.example\.test \(DMail\) with local id "
                       rb"[0-9A-F]+(\n\tfor <[^>]+>)?;\n\t[A-Z][a-z]{2}, ",
                       re.M)


def server(users=(), extra=""):
    """dmaild with the queue manager and no SMTP listener: the SMTP
    server is down, dmail-sendmail falls back to the maildrop."""
    for p in (oc.QUEUED, SENDMAIL):
        if not os.path.exists(p):
            raise dt.SkipTest("%s not built" % p)
    srv = dt.Server(smtp=False, start=False,
                    extra="queue_program %s\n%s%s"
                    % (oc.QUEUED, oc.FAST % ("1", "2", 3), extra))
    try:
        for u in users:
            srv.add_user(u)
        srv.start()
        oc.wait_queued(srv)
    except Exception:
        srv.cleanup()
        raise
    return srv


def sendmail(conf_path, args, stdin):
    return subprocess.run([SENDMAIL, "-C", conf_path] + args, input=stdin,
                          capture_output=True, timeout=60,
                          preexec_fn=as_nobody())


def drop_dir(srv):
    return os.path.join(srv.state_dir, "spool", "maildrop")


def maildrop_files(srv):
    try:
        return sorted(n for n in os.listdir(drop_dir(srv))
                      if not n.startswith("."))
    except FileNotFoundError:
        return []


def wakeup(srv):
    """Poke the queue manager as a writer does (spool.h "wakeup")."""
    fd = os.open(os.path.join(srv.state_dir, "spool", "wakeup"),
                 os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, b"w")
    os.close(fd)


def test_full_mailbox_keeps_the_message():
    users = ["alice@example.test", "bob@example.test"]
    with server(users) as srv:
        srv.dmail_user("quota", "alice@example.test", "--quota-messages", "1")
        r = sendmail(srv.conf_path, ["-f", "bob@example.test",
                                     "alice@example.test"],
                     b"Subject: first\n\nfills the mailbox\n")
        assert r.returncode == 0, r.stderr
        srv.wait_messages("alice@example.test", 1)
        dt.wait_for(lambda: not maildrop_files(srv), 10,
                    what="first maildrop file picked up")

        # Mailbox full: 452 4.2.2 at pickup. The file stays, nothing is
        # delivered (bob neither) and nobody gets a bounce.
        r = sendmail(srv.conf_path, ["-f", "bob@example.test",
                                     "alice@example.test",
                                     "bob@example.test"],
                     b"Subject: second\n\nwaits for room\n")
        assert r.returncode == 0, r.stderr
        (name,) = maildrop_files(srv)
        dt.wait_for(lambda: "action=defer sid=%s to=<alice@example.test> "
                    "reply=\"452 4.2.2" % name in srv.log_text(), 10,
                    what="pickup deferred")
        assert 'reason="kept for a later try"' in srv.log_text(), \
            srv.log_tail()
        assert maildrop_files(srv) == [name]
        assert len(srv.maildir_messages("alice@example.test")) == 1
        assert srv.maildir_messages("bob@example.test") == []

        # Space freed: the next scan delivers it to both, once.
        for p in srv.maildir_messages("alice@example.test"):
            os.unlink(p)
        wakeup(srv)
        dt.wait_for(lambda: not maildrop_files(srv), 10,
                    what="maildrop file delivered")
        (a,) = oc.read_messages(srv, "alice@example.test")
        (b,) = oc.read_messages(srv, "bob@example.test")
        for m in (a, b):
            assert b"Subject: second" in m and m.endswith(b"waits for room\n")
            assert GENERATED.search(m), m[:300]
        assert b"MAILER-DAEMON" not in b


def test_oversized_file_is_bounced_not_deleted():
    users = ["alice@example.test", "bob@example.test"]
    with server(users, extra="max_message_size 4k\n") as srv:
        # Written under a bigger limit (the operator lowered it since).
        big = os.path.join(srv.tmp, "sendmail-big.conf")
        with open(big, "w") as f:
            f.write(srv.conf_text(extra=srv.extra.replace(
                "max_message_size 4k", "max_message_size 1M")))
        os.chmod(big, 0o644)
        body = b"".join(b"line %05d of a message too big\n" % i
                        for i in range(400))
        r = sendmail(big, ["-f", "bob@example.test", "alice@example.test"],
                     b"Subject: too big\n\n" + body)
        assert r.returncode == 0, r.stderr
        dt.wait_for(lambda: not maildrop_files(srv), 10,
                    what="oversized maildrop file handled")
        assert srv.maildir_messages("alice@example.test") == []
        (dsn,) = [m for m in oc.read_messages(srv, "bob@example.test")]
        per_msg, rcpts = oc.dsn_fields(dsn)
        assert rcpts[0]["action"] == "failed", rcpts
        assert rcpts[0]["status"] == "5.3.4", rcpts
        assert rcpts[0]["final-recipient"].endswith("alice@example.test")
        assert b"Subject: too big" in dsn         # the returned header
        assert b"line 00399" not in dsn           # not the whole message
        assert GENERATED.search(dsn), dsn[:300]


def test_garbage_is_quarantined():
    with server(["alice@example.test"]) as srv:
        drop = drop_dir(srv)
        dt.wait_for(lambda: os.path.isdir(drop), 10, what="maildrop dir")
        path = os.path.join(drop, "GARBAGE1")
        with open(path, "wb") as f:
            f.write(b"not a queue file\n")
        wakeup(srv)
        qdir = os.path.join(srv.state_dir, "spool", "quarantine", "maildrop")
        dt.wait_for(lambda: os.path.exists(os.path.join(qdir, "GARBAGE1")),
                    10, what="garbage quarantined")
        assert not os.path.exists(path)
        with open(os.path.join(qdir, "GARBAGE1"), "rb") as f:
            assert f.read() == b"not a queue file\n"


def raw_with_subject(srv, address, text):
    for p in srv.maildir_messages(address):
        with open(p, "rb") as f:
            data = f.read()
        if text in data:
            return data
    return None


def test_generated_mail_has_one_received_form():
    """A bounce of the queue manager (maildrop pickup, unknown user) and
    a list notice of dmail-listd (confirmation request) carry the same
    shape of Received: line: both go through delivery_submit()."""
    import list_common as lc
    users = ["alice@example.test", "bob@example.test"]
    with lc.server(users=users, queue=True) as srv:
        oc.wait_queued(srv)
        lc.dlist(srv, "create", "club@example.test", "--owner",
                 "owner@example.test")
        lc.send(srv, "alice@example.test", "club-request@example.test",
                subject="hi", body="subscribe\n")
        lc.wait_message(srv, "alice@example.test", lc.subject_has("confirm "),
                        what="confirmation request")
        notice = raw_with_subject(srv, "alice@example.test",
                                  b"Subject: confirm ")
        # A maildrop file as dmail-sendmail writes it (spool.h format).
        drop = drop_dir(srv)
        with open(os.path.join(drop, ".DROP1.tmp"), "wb") as f:
            f.write(b"dmail-queue 1\nid DROP1\narrival 1700000000\n"
                    b"sender bob@example.test\nuid 0\n"
                    b"rcpt P\tnosuch@example.test\tnosuch@example.test\n"
                    b"\nSubject: to nobody\n\nx\n")
        os.rename(os.path.join(drop, ".DROP1.tmp"), os.path.join(drop, "DROP1"))
        wakeup(srv)
        bounce = dt.wait_for(lambda: raw_with_subject(
            srv, "bob@example.test", b"Subject: to nobody"), 15,
            what="bounce to bob")
        assert b"5.1.1" in bounce, bounce
    assert GENERATED.search(notice), notice[:400]
    assert GENERATED.search(bounce), bounce[:400]
    # The same lines but for the queue id and the recipient: one form.
    shape = [re.sub(rb"id [0-9A-F]+|<[^>]+>", b"X",
                    GENERATED.search(m).group(0)) for m in (notice, bounce)]
    assert shape[0] == shape[1], shape


if __name__ == "__main__":
    dt.main([test_full_mailbox_keeps_the_message,
             test_oversized_file_is_bounced_not_deleted,
             test_garbage_is_quarantined,
             test_generated_mail_has_one_received_form])
