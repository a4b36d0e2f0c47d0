#!/usr/bin/env python3
"""Poison messages for DList, through real SMTP and the real master.

A header field name with a NUL byte in it ("From\\0: x") used to crash
every list worker on the same spool file (a crash loop of the list pool,
all list mail waiting). Now such a line is not a header field: the header
ends there, the message is processed, and the list pool never crashes.

A message that does crash its worker (here a test build of the list
worker, t/crashhook/dmail-listd, which crashes on a header only it
knows; the installed dmail-listd has no such code) costs at most one
crash: the
dying worker moves the spool file to lists/spool/quarantine/ with a
reason file, the next worker logs it once, tellsmtp queue / telllist
status show it, the rest of the spool goes on, and "telllist release
NAME" puts it back.
"""

import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
from master_common import status  # noqa: E402

LIST = "club@example.test"
USERS = ["alice@example.test", "bob@example.test", "owner@example.test"]
CRASHHOOK = dt.prog("t/crashhook/dmail-listd")


# In a sanitizer build AddressSanitizer keeps SIGSEGV for itself (and
# exits 1) unless told to let the program's own handler have it, as the
# quarantine handler has it in a production build.
os.environ["ASAN_OPTIONS"] = ":".join(
    x for x in (os.environ.get("ASAN_OPTIONS"), "allow_user_segv_handler=1")
    if x)


def send_raw(srv, sender, rcpt, data):
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.sendmail(sender, [rcpt], data)


def list_crashes(srv):
    return int(status(srv)["list"]["crashes"])


def make_list(srv):
    lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
    lc.dlist(srv, "subscribe", LIST, "alice@example.test",
             "bob@example.test")


def test_nul_in_field_name():
    srv = lc.server(users=USERS)
    with srv:
        make_list(srv)
        bad = (b"From\x00: x\r\nSubject: subscribe\r\n"
               b"Message-ID: <nul1@test>\r\n\r\nhelp\r\n")
        send_raw(srv, "alice@example.test", "club-request@example.test",
                 bad)
        send_raw(srv, "alice@example.test", LIST,
                 b"From\x00: x\r\nSubject: nul post\r\n\r\nbody\r\n")
        # A field name with other bytes RFC 5322 does not allow in it.
        send_raw(srv, "alice@example.test", LIST,
                 b"Fr\x01om: y\r\nSub ject: odd\r\n\r\nbody\r\n")
        send_raw(srv, "alice@example.test", LIST,
                 b"From: alice@example.test\r\nSubject: nul\x00value\r\n"
                 b"X-Bin\xff: z\r\n\r\nbody\x00with nul\r\n")
        lc.send(srv, "alice@example.test", LIST, subject="after the poison")
        # The good post behind the poison ones goes out, and the
        # request is answered (to the envelope sender: no From: field).
        lc.wait_message(srv, "bob@example.test",
                        lc.subject_has("after the poison"))
        lc.wait_message(srv, "alice@example.test",
                        lambda m: "command" in lc.body_of(m).lower(),
                        what="reply of the request address")
        lc.wait_spool_empty(srv)
        assert list_crashes(srv) == 0, srv.log_text()[-3000:]
        lc.assert_workers_healthy(srv)
        # The header of the NUL-value post ended at the bad line; the
        # rest went out as body, byte for byte.
        m = lc.wait_message(srv, "bob@example.test",
                            lambda m: b"with nul" in m.as_bytes(),
                            what="post with a NUL in its body")
        assert b"body\x00with nul" in m.as_bytes()


def quarantine_dir(srv):
    return os.path.join(srv.state_dir, "lists", "spool", "quarantine")


def test_crash_is_quarantined():
    if not os.path.exists(CRASHHOOK):
        raise dt.SkipTest("t/crashhook/dmail-listd not built")
    srv = lc.server(users=USERS, list_program=CRASHHOOK)
    with srv:
        make_list(srv)
        lc.send(srv, "alice@example.test", LIST, subject="killer",
                headers={"X-DMail-Test-Crash": "segv"})
        lc.send(srv, "alice@example.test", LIST, subject="good one")
        lc.wait_message(srv, "bob@example.test", lc.subject_has("good one"))
        lc.wait_spool_empty(srv)
        q = dt.wait_for(lambda: [n for n in os.listdir(quarantine_dir(srv))
                                 if not n.startswith(".")]
                        if os.path.isdir(quarantine_dir(srv)) else None,
                        10, what="a quarantined file")
        assert len(q) == 1, q
        name = q[0]
        with open(os.path.join(quarantine_dir(srv), name), "rb") as f:
            assert b"X-DMail-Test-Crash: segv" in f.read()
        dt.wait_for(lambda: "action=quarantine spool=list" in
                    srv.log_text(), 10, what="the quarantine log line")
        log = srv.log_text()
        lines = [ln for ln in log.splitlines()
                 if "action=quarantine " in ln]
        assert len(lines) == 1, lines
        assert "file=%s" % name in lines[0], lines[0]
        assert "signal=SIGSEGV" in lines[0], lines[0]
        # One crash for the poison message, no more.
        time.sleep(1.5)
        assert list_crashes(srv) == 1, status(srv)["list"]
        assert not any(lc.subject_has("killer")(m)
                       for m in lc.messages(srv, "bob@example.test"))
        # Shown to the operator.
        r = srv.tell("queue")
        assert name in r.stdout and "SIGSEGV" in r.stdout, r.stdout
        telllist = os.path.join(srv.tmp, "telllist")   # as installed
        os.symlink(dt.TELLSMTP, telllist)
        r = srv.tell("status", prog_name=telllist)
        assert re.search(r"quarantined.*list=1", r.stdout), r.stdout
        # Released, it is tried again (and crashes again: quarantined
        # again, logged again, one more crash).
        r = srv.tell("release", name)
        assert r.returncode == 0, (r.stdout, r.stderr)
        dt.wait_for(lambda: list_crashes(srv) == 2, 10,
                    what="the released file to be tried again")
        dt.wait_for(lambda: len([ln for ln in srv.log_text().splitlines()
                                 if "action=quarantine " in ln]) == 2, 10,
                    what="second quarantine")
        assert os.path.exists(os.path.join(quarantine_dir(srv), name))


def test_kill9_does_not_quarantine():
    """An operator's kill -9 of a worker busy with a good message does
    not quarantine it; the message is processed by the next worker."""
    if not os.path.exists(CRASHHOOK):
        raise dt.SkipTest("t/crashhook/dmail-listd not built")
    srv = lc.server(users=USERS, list_program=CRASHHOOK)
    with srv:
        make_list(srv)
        lc.send(srv, "alice@example.test", LIST, subject="slow one",
                headers={"X-DMail-Test-Crash": "sleep"})
        pid = dt.wait_for(lambda: _sleeping_worker(srv), 10,
                          what="a list worker busy with the message")
        os.kill(pid, 9)
        lc.wait_message(srv, "bob@example.test", lc.subject_has("slow one"),
                        timeout=20)
        # Its start counter goes once the file is done.
        lc.wait_spool_empty(srv)
        dt.wait_for(lambda: not os.path.isdir(quarantine_dir(srv)) or
                    not os.listdir(quarantine_dir(srv)), 10,
                    what="no start counter left in quarantine/")
        assert "action=quarantine " not in srv.log_text()


def _sleeping_worker(srv):
    for ln in srv.log_text().splitlines():
        m = re.search(r"test hook: sleeping pid=(\d+)", ln)
        if m:
            pid = int(m.group(1))
            if os.path.exists("/proc/%d" % pid):
                return pid
    return None


def test_attempts_without_signal():
    """Deaths no handler sees (SIGKILL by the OOM killer, an exit from
    a sanitizer): the file is quarantined after poison_attempts starts
    that never finished, and only then."""
    if not os.path.exists(CRASHHOOK):
        raise dt.SkipTest("t/crashhook/dmail-listd not built")
    srv = lc.server(users=USERS, list_program=CRASHHOOK,
                    extra="poison_attempts 2\n")
    with srv:
        make_list(srv)
        lc.send(srv, "alice@example.test", LIST, subject="exit one",
                headers={"X-DMail-Test-Crash": "exit"})
        lc.send(srv, "alice@example.test", LIST, subject="fine one")
        lc.wait_message(srv, "bob@example.test", lc.subject_has("fine one"),
                        timeout=30)
        dt.wait_for(lambda: "action=quarantine spool=list" in
                    srv.log_text(), 20, what="quarantine after attempts")
        line = [ln for ln in srv.log_text().splitlines()
                if "action=quarantine " in ln]
        assert len(line) == 1 and "attempts=2" in line[0], line
        assert list_crashes(srv) == 2, status(srv)["list"]


def test_crash_loop_is_throttled():
    """The master's side: list workers that keep dying on the same file
    (here with a quarantine that would take 100 starts) are a crash loop
    of a pool without listeners, throttled with back-off, not restarted
    as fast as they die."""
    if not os.path.exists(CRASHHOOK):
        raise dt.SkipTest("t/crashhook/dmail-listd not built")
    srv = lc.server(users=USERS, list_program=CRASHHOOK,
                    extra="poison_attempts 100\n")
    with srv:
        make_list(srv)
        lc.send(srv, "alice@example.test", LIST, subject="exit loop",
                headers={"X-DMail-Test-Crash": "exit"})
        dt.wait_for(lambda: status(srv)["list"]["throttled"] == "yes", 20,
                    what="list pool reported throttled")
        lines = re.findall(r"event=throttle pool=list ms=(\d+) "
                           r"reason=\"(\d+) workers in a row died during "
                           r"a session",
                           srv.log_text())
        assert lines and lines[0] == ("1000", "5"), lines
        time.sleep(2)
        # 5 deaths, then 1 s, 2 s, ... of back-off: a handful, not
        # hundreds.
        assert list_crashes(srv) <= 8, status(srv)["list"]


if __name__ == "__main__":
    dt.main([test_nul_in_field_name, test_crash_is_quarantined,
             test_kill9_does_not_quarantine, test_attempts_without_signal,
             test_crash_loop_is_throttled])
