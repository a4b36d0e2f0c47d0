#!/usr/bin/env python3
"""Poison messages in the outbound queue and the maildrop.

A queue file whose loading kills the queue manager, a maildrop file
whose pickup kills it, and a message that crashes every delivery
process that tries it are moved to spool/quarantine/{queue,maildrop}/,
logged once, shown by "tellsmtp queue", and the rest of the queue goes
on; "tellsmtp release NAME" puts one back. The crashes are injected by a
test build of the queue manager (t/crashhook/dmail-queued, with a header
only it knows); the installed dmail-queued has no such code.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from master_common import status  # noqa: E402
from sink import Sink  # noqa: E402

CRASHHOOK = dt.prog("t/crashhook/dmail-queued")


# In a sanitizer build AddressSanitizer keeps SIGSEGV for itself (and
# exits 1) unless told to let the program's own handler have it, as the
# quarantine handler has it in a production build.
os.environ["ASAN_OPTIONS"] = ":".join(
    x for x in (os.environ.get("ASAN_OPTIONS"), "allow_user_segv_handler=1")
    if x)


def server(sink, extra=""):
    if not os.path.exists(CRASHHOOK):
        raise dt.SkipTest("t/crashhook/dmail-queued not built")
    oc.QUEUED = CRASHHOOK
    return oc.server("transport remote.test [127.0.0.1]:%d\n%s"
                     % (sink.port, extra), users=["alice@example.test"])


def message(subject, crash=None):
    head = "From: alice@example.test\r\nTo: bob@remote.test\r\n" \
        "Subject: %s\r\n" % subject
    if crash:
        head += "X-DMail-Test-Crash: %s\r\n" % crash
    return (head + "\r\nbody\r\n").encode()


def qdir(srv, spool):
    return os.path.join(srv.state_dir, "spool", "quarantine", spool)


def quarantined(srv, spool):
    d = qdir(srv, spool)
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) \
        if os.path.isdir(d) else []


def poison_lines(srv):
    return [ln for ln in srv.log_text().splitlines()
            if "action=quarantine " in ln]


def queue_crashes(srv):
    return int(status(srv)["queue"]["crashes"])


def test_queue_file_kills_manager():
    with Sink() as sk, server(sk) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                message("killer", "segv load"))
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                message("good"))
        sk.wait(1)
        q = dt.wait_for(lambda: quarantined(srv, "queue"), 15,
                        what="a quarantined queue file")
        dt.wait_for(lambda: poison_lines(srv), 15, what="the log line")
        lines = poison_lines(srv)
        assert len(lines) == 1, lines
        assert "spool=queue file=%s signal=SIGSEGV attempts=1" % q[0] \
            in lines[0], lines
        assert queue_crashes(srv) == 1, status(srv)["queue"]
        assert [b"Subject: good" in m.data for m in sk.messages] == [True]
        oc.wait_queue_empty(srv)
        out = oc.tell(srv, "queue").stdout
        assert q[0] in out and "SIGSEGV" in out, out
        # The operator puts it back: it is loaded again (and crashes
        # the manager again: quarantined again, one more crash).
        r = oc.tell(srv, "release", q[0])
        assert r.returncode == 0 and "released" in r.stdout, (r.stdout,
                                                             r.stderr)
        dt.wait_for(lambda: len(poison_lines(srv)) == 2, 20,
                    what="second quarantine after release")
        assert queue_crashes(srv) == 2
        assert quarantined(srv, "queue") == q


def test_maildrop_file_kills_manager():
    with Sink() as sk, server(sk) as srv:
        drop = os.path.join(srv.state_dir, "spool", "maildrop")
        os.makedirs(drop, exist_ok=True)
        for name, crash in (("DROPKILLER1", "segv pickup"),
                            ("DROPGOOD2", None)):
            tmp = os.path.join(drop, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(b"dmail-queue 1\nid %s\narrival %d\n"
                        b"sender alice@example.test\n"
                        b"rcpt P\tbob@remote.test\tbob@remote.test\n\n"
                        % (name.encode(), int(time.time())))
                f.write(message(name, crash).replace(b"\r\n", b"\n"))
            os.rename(tmp, os.path.join(drop, name))
        with open(os.path.join(srv.state_dir, "spool", "wakeup"), "wb",
                  buffering=0) as f:
            f.write(b"x")
        sk.wait(1)
        dt.wait_for(lambda: quarantined(srv, "maildrop") == ["DROPKILLER1"],
                    15, what="the maildrop file quarantined")
        dt.wait_for(lambda: poison_lines(srv), 15, what="the log line")
        lines = poison_lines(srv)
        assert len(lines) == 1 and "spool=maildrop file=DROPKILLER1 " \
            "signal=SIGSEGV" in lines[0], lines
        assert [b"Subject: DROPGOOD2" in m.data for m in sk.messages] == \
            [True]
        assert queue_crashes(srv) == 1
        assert not [n for n in os.listdir(drop) if not n.startswith(".")]
        assert "DROPKILLER1" in oc.tell(srv, "queue").stdout


def test_delivery_crashes():
    """A message that crashes every delivery process: quarantined after
    poison_attempts (2 here) crashes; nothing else is held up."""
    with Sink() as sk, server(sk, "poison_attempts 2\n") as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                message("deadly", "segv delivery"))
        q = dt.wait_for(lambda: quarantined(srv, "queue"), 30,
                        what="quarantine after 2 delivery crashes")
        dt.wait_for(lambda: poison_lines(srv), 15, what="the log line")
        lines = poison_lines(srv)
        assert len(lines) == 1, lines
        assert re.search(r"spool=queue file=%s signal=SIGSEGV attempts=2 "
                         r"process=delivery" % q[0], lines[0]), lines
        # The manager itself never died.
        assert queue_crashes(srv) == 0, status(srv)["queue"]
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                message("after"))
        sk.wait(1)
        oc.wait_queue_empty(srv)


if __name__ == "__main__":
    dt.main([test_queue_file_kills_manager, test_maildrop_file_kills_manager,
             test_delivery_crashes])
