#!/usr/bin/env python3
"""outbound_crash - nothing queued is lost when processes die: kill -9 of a
delivery process in the middle of a transaction, kill -9 of the queue
manager while it delivers, and a restart of dmaild with a full queue."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402


def body(n):
    return ("From: alice@example.test\r\nTo: bob@remote.test\r\n"
            "Subject: crash test %d\r\n\r\nmessage number %d\r\n"
            % (n, n)).encode()


def subjects(sk):
    out = []
    for m in sk.messages:
        for line in m.data.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].decode())
    return out


def transport(port):
    return "transport remote.test [127.0.0.1]:%d\n" % port


def test_kill_delivery_process_mid_transaction():
    # The first connection swallows the message and never answers the
    # final dot; we kill the delivery process right then.
    with Sink(hang="data", hang_count=1) as sk, \
            oc.server(transport(sk.port), reply_timeout=30) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], body(1))
        dt.wait_for(lambda: sk.hung >= 1, 15, what="sink hanging in DATA")
        mgr = oc.manager_pid(srv)
        kids = [p for p in oc.queued_pids(srv) if p != mgr]
        assert kids, "no delivery process"
        for p in kids:
            os.kill(p, signal.SIGKILL)
        sk.wait(1, timeout=20)
        oc.wait_queue_empty(srv)
        oc.sleep(1.5)
        assert subjects(sk) == ["crash test 1"], subjects(sk)
        assert oc.manager_pid(srv) == mgr, "manager should survive"
        assert "ended abnormally" in srv.log_text()


def test_kill_queue_manager():
    n = 6
    # One connection to the destination: the hung message is the only
    # one in flight when the manager dies (with more, every message
    # whose 250 came after the kill is sent again, a legitimate
    # duplicate that made this count depend on timing).
    with Sink(hang="data", hang_count=1) as sk, \
            oc.server(transport(sk.port) + "smtp_dest_concurrency 1\n",
                      reply_timeout=30) as srv:
        for i in range(n):
            oc.send(srv, "alice@example.test", ["bob@remote.test"],
                    body(i))
        dt.wait_for(lambda: sk.hung >= 1, 15, what="sink hanging in DATA")
        mgr = oc.manager_pid(srv)
        os.kill(mgr, signal.SIGKILL)
        # The master restarts it; it rescans the queue and delivers.
        dt.wait_for(lambda: oc.manager_pid(srv) not in (None, mgr), 15,
                    what="new queue manager")
        oc.wait_queue_empty(srv, 30)
        got = subjects(sk)
        want = ["crash test %d" % i for i in range(n)]
        assert set(got) == set(want), (got, want)
        # At most the message in flight (the hung one) twice.
        assert len(got) <= n + 1, got


def test_delivered_recipient_not_resent_after_crash():
    replies = {"temp@remote.test": "451 4.3.0 not now"}
    with Sink(replies=replies) as sk, oc.server(transport(sk.port)) as srv:
        oc.send(srv, "alice@example.test",
                ["ok@remote.test", "temp@remote.test"], body(7))
        sk.wait(1)
        dt.wait_for(lambda: oc.log_count(srv, "status=deferred") >= 1, 10,
                    what="deferral")
        (qid,) = oc.queue_ids(srv)
        with open(os.path.join(srv.state_dir, "spool", "queue", qid),
                  "rb") as f:
            head = f.read().split(b"\n\n", 1)[0]
        # The delivered recipient is on disk before the next attempt.
        assert b"rcpt D\tok@remote.test" in head, head
        assert b"rcpt P\ttemp@remote.test" in head, head
        mgr = oc.manager_pid(srv)
        os.kill(mgr, signal.SIGKILL)
        dt.wait_for(lambda: oc.manager_pid(srv) not in (None, mgr), 15,
                    what="new queue manager")
        dt.wait_for(lambda: sk.rcpt_log.count("temp@remote.test") >= 3, 15,
                    what="retries after the restart")
        assert sk.rcpt_log.count("ok@remote.test") == 1, sk.rcpt_log
        assert sk.count == 1


def test_finished_queue_file_that_reappears_sends_nothing():
    """The queue manager unlinks a finished queue file without fsyncing
    the directory, so a power loss can bring it back. Every recipient in
    it is then final on disk (each result is fsync'd before the next
    step), so the next scan removes it and sends nothing again. Simulated
    here: the manager dies, the file says every recipient is done."""
    replies = {"temp@remote.test": "451 4.3.0 not now"}
    # Retries 5 s apart: nothing of the first manager is in flight
    # when it is killed right after the deferral.
    with Sink(replies=replies) as sk, \
            oc.server(transport(sk.port), retry=("5", "10")) as srv:
        oc.send(srv, "alice@example.test",
                ["ok@remote.test", "temp@remote.test"], body(8))
        sk.wait(1)
        dt.wait_for(lambda: oc.log_count(srv, "status=deferred") >= 1, 10,
                    what="deferral")
        (qid,) = oc.queue_ids(srv)
        mgr = oc.manager_pid(srv)
        os.kill(mgr, signal.SIGKILL)
        path = os.path.join(srv.state_dir, "spool", "queue", qid)
        with open(path, "r+b") as f:
            data = f.read()
            assert data.count(b"rcpt P\ttemp@remote.test") == 1, data
            f.seek(0)
            f.write(data.replace(b"rcpt P\ttemp@remote.test",
                                 b"rcpt D\ttemp@remote.test"))
        tries = sk.rcpt_log.count("temp@remote.test")
        dt.wait_for(lambda: oc.manager_pid(srv) not in (None, mgr), 15,
                    what="new queue manager")
        dt.wait_for(lambda: not oc.queue_ids(srv), 15,
                    what="the finished file removed")
        # The manager logs the removal after the unlink: wait for the
        # line rather than expect it the instant the file is gone.
        removed = "action=remove qid=%s reason=\"all recipients final\"" \
            % qid
        dt.wait_for(lambda: removed in srv.log_text(), 15,
                    what="the removal logged")
        assert sk.rcpt_log.count("ok@remote.test") == 1, sk.rcpt_log
        assert sk.rcpt_log.count("temp@remote.test") == tries, sk.rcpt_log
        assert sk.count == 1


def test_reload_hands_over_the_queue():
    # A delivery hangs in DATA during a reload: the old manager finishes
    # or ends it (shutdown_grace), only then the new one starts work.
    with Sink(hang="data", hang_count=1) as sk, \
            oc.server(transport(sk.port), reply_timeout=30) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"], body(1))
        dt.wait_for(lambda: sk.hung >= 1, 15, what="sink hanging in DATA")
        old = oc.manager_pid(srv)
        srv.reload()
        dt.wait_for(lambda: "waiting for the previous queue manager"
                    in srv.log_text(), 10, what="new manager waiting")
        for i in range(2, 4):
            oc.send(srv, "alice@example.test", ["bob@remote.test"],
                    body(i))
        sk.wait(3, timeout=30)
        oc.wait_queue_empty(srv, 20)
        assert oc.manager_pid(srv) not in (None, old)
        oc.sleep(1)
        assert sorted(subjects(sk)) == ["crash test 1", "crash test 2",
                                        "crash test 3"], subjects(sk)


def test_restart_with_full_queue():
    n = 20
    port = dt.free_port()
    srv = oc.server(transport(port))
    try:
        for i in range(n):
            oc.send(srv, "alice@example.test", ["bob@remote.test"],
                    body(i))
        dt.wait_for(lambda: oc.log_count(srv, "status=deferred") >= n, 20,
                    what="all deferred (nobody listening)")
        assert len(oc.queue_ids(srv)) == n
        assert srv.stop() == 0
        with Sink(port=port) as sk:
            srv.start()
            sk.wait(n, timeout=30)
            oc.wait_queue_empty(srv, 30)
            got = subjects(sk)
            assert sorted(got) == sorted("crash test %d" % i
                                         for i in range(n)), got
            # Connections were reused for several messages.
            assert sk.connections < n, sk.connections
        srv.stop()
        srv.cleanup()
    finally:
        if srv.running():
            srv.stop()


if __name__ == "__main__":
    dt.main([test_kill_delivery_process_mid_transaction,
             test_kill_queue_manager,
             test_delivered_recipient_not_resent_after_crash,
             test_finished_queue_file_that_reappears_sends_nothing,
             test_reload_hands_over_the_queue,
             test_restart_with_full_queue])
