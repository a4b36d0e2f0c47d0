#!/usr/bin/env python3
"""DList durability through real SMTP: a post accepted (250) while no
list worker runs waits in the list spool and is distributed once a
worker starts (and one for a list deleted meanwhile goes back to its
sender); kill -9 of the list worker in the middle of a fan-out to
remote members (VERP, one queue entry each) loses nobody, and the
restarted worker resumes from its progress file, so at most a few
members (the last unrecorded batch) get a second copy."""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import sink  # noqa: E402

LIST = "club@example.test"
PROGRESS_EVERY = 20      # listd/post.c


def test_accepted_while_worker_down():
    missing = os.path.join(os.path.dirname(lc.LISTD), "no-such-listd")
    srv = lc.server(users=["alice@example.test", "bob@example.test",
                           "owner@example.test"], list_program=missing)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        lc.dlist(srv, "create", "gone@example.test", "--owner",
                 "owner@example.test")
        lc.send(srv, "alice@example.test", LIST, subject="while down")
        lc.send(srv, "alice@example.test", "gone@example.test",
                subject="to a list about to go")
        spool = os.path.join(srv.state_dir, "lists", "spool", "new")
        assert len(os.listdir(spool)) == 2, os.listdir(spool)
        # The list is deleted before any worker saw the post: its sender
        # is told, nothing vanishes silently.
        lc.dlist(srv, "delete", "gone@example.test")
        time.sleep(1)
        assert not srv.maildir_messages("bob@example.test")
        # Start the list pool (reload with the real program).
        srv.write_conf(srv.extra.replace(missing, lc.LISTD))
        srv.reload()
        m = lc.wait_message(srv, "bob@example.test",
                            lc.subject_has("while down"))
        assert m["List-Id"] == "<club.example.test>"
        n = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("no such list"))
        assert "gone@example.test" in lc.body_of(n)
        assert n["From"] == "MAILER-DAEMON@example.test"
        lc.wait_spool_empty(srv)


def test_standalone_once():
    """dmail-listd -c FILE -i processes the spool once and exits."""
    missing = os.path.join(os.path.dirname(lc.LISTD), "no-such-listd")
    srv = lc.server(users=["alice@example.test", "bob@example.test",
                           "owner@example.test"], list_program=missing)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        lc.send(srv, "alice@example.test", LIST, subject="by hand")
        assert not lc.spool_empty(srv)
        r = subprocess.run([lc.LISTD, "-c", srv.conf_path, "-i"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert lc.spool_empty(srv)
        m = lc.wait_message(srv, "bob@example.test",
                            lc.subject_has("by hand"))
        assert m["List-Id"] == "<club.example.test>"
        assert re.search(r"action=distribute list=club@example\.test "
                         r"from=<alice@example\.test> local=2 ", r.stderr), \
            r.stderr


def test_two_workers_share_the_spool():
    srv = lc.server(users=["alice@example.test", "bob@example.test",
                           "owner@example.test"], list_workers=3)
    with srv:
        lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        dt.wait_for(lambda: len(lc.listd_pids(srv)) == 3,
                    what="three list workers")
        for i in range(30):
            lc.send(srv, "alice@example.test", LIST, subject="msg %02d" % i)
        dt.wait_for(lambda: len(srv.maildir_messages("bob@example.test"))
                    >= 30, 30, what="30 posts for bob")
        lc.settle(srv, 1.0)
        subjects = sorted(m["Subject"] for m in
                          lc.messages(srv, "bob@example.test"))
        assert subjects == ["[club] msg %02d" % i for i in range(30)], \
            subjects
        idx = os.path.join(srv.state_dir, "lists", LIST, "archive",
                           "index")
        with open(idx) as f:
            nums = [int(ln.split("\t")[0]) for ln in f]
        assert nums == list(range(1, 31)), nums
        lc.assert_workers_healthy(srv)


def test_kill_during_fanout():
    n = 1500
    remote = ["r%04d@remote.test" % i for i in range(n)]
    with sink.Sink() as sk:
        srv = lc.server(users=["owner@example.test"], queue=True,
                        extra="transport remote.test [127.0.0.1]:%d\n"
                        % sk.port)
        with srv:
            lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
            path = os.path.join(srv.tmp, "m.txt")
            with open(path, "w") as f:
                f.write("\n".join(remote) + "\n")
            lc.dlist(srv, "import", LIST, path)
            pids = dt.wait_for(lambda: lc.listd_pids(srv),
                               what="list worker")
            lc.send(srv, "owner@example.test", LIST, subject="crash test")
            progress = os.path.join(srv.state_dir, "lists", LIST,
                                    "progress")
            # A finished record (write_file_durable's temporary files
            # have ".tmp." in their names).
            dt.wait_for(lambda: os.path.isdir(progress) and
                        [f for f in os.listdir(progress)
                         if ".tmp." not in f], 30, interval=0.01,
                        what="a progress record")
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            # The master starts a new worker, which resumes.
            dt.wait_for(lambda: [p for p in lc.listd_pids(srv)
                                 if p not in pids], 20,
                        what="a new list worker")
            lc.wait_spool_empty(srv, timeout=60)

            def total():
                with sk.lock:
                    return sum(len(m.rcpts) for m in sk.messages)
            dt.wait_for(lambda: total() >= n, 120, interval=0.2,
                        what="every member at the sink")
            time.sleep(2)
            with sk.lock:
                msgs = list(sk.messages)
            seen = {}
            for m in msgs:
                for r in m.rcpts:
                    seen[r] = seen.get(r, 0) + 1
            assert sorted(seen) == remote, "lost %d member(s)" % (
                n - len(seen))
            twice = [r for r, c in seen.items() if c > 1]
            assert len(twice) <= PROGRESS_EVERY, \
                "%d members got two copies" % len(twice)
            assert all(c <= 2 for c in seen.values())
            assert "resuming" in srv.log_text()
            assert not os.listdir(progress), os.listdir(progress)
            print("kill -9 during fan-out of %d: %d duplicate(s)"
                  % (n, len(twice)), flush=True)


if __name__ == "__main__":
    dt.main([test_accepted_while_worker_down, test_standalone_once,
             test_two_workers_share_the_spool, test_kill_during_fanout])
