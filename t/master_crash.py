#!/usr/bin/env python3
"""Crash isolation: kill -9 of a worker or a crashing session ends only
that session and the worker is replaced; a pool whose workers die at
start, or keep dying in sessions, is throttled with backoff instead of
fork-bombing; SIGTERM leaves
no process behind, waiting for sessions in progress up to the grace
period."""

import os
import re
import signal
import time

import dmailtest as dt
from master_common import (Session, alive, no_processes_left, status,
                           tw_server, wait_figure, without_node)


def test_kill9_ends_only_its_session(spawn="template"):
    with tw_server(workers=(2, 10, 100),
                   extra="worker_spawn %s\n" % spawn) as srv:
        port = srv.port("smtp")
        sessions = [Session(port) for _ in range(4)]
        victim = sessions[1]
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.file.readline() == b"", "victim session must end"
        victim.close()
        for i, s in enumerate(sessions):
            if s is victim:
                continue
            assert s.cmd("ECHO still %d" % i) == "+OK still %d" % i
        # A session that crashes its own worker: same story.
        crasher = Session(port)
        crasher.file.write(b"CRASH\r\n")
        crasher.file.flush()
        assert crasher.file.readline() == b""
        crasher.close()
        for s in sessions:
            if s is not victim:
                assert s.cmd("QUIT") == "+OK bye"
                s.close()
        wait_figure(srv, "crashes", 2)
        # Replaced: new sessions are served, the pool is not throttled.
        s = Session(port)
        assert s.cmd("ECHO after") == "+OK after"
        s.close()
        st = status(srv)["smtp"]
        assert st["throttled"] == "no", st
        log = srv.log_text()
        assert "killed by signal 9 during a session" in log, log
        assert "killed by signal 11 during a session" in log
        assert "event=throttle " not in log


def crash_loop_is_throttled(spawn):
    # worker_spawn template: the template process itself fails in init()
    # and is what gets restarted; exec: each worker fails.
    with tw_server(workers=(2, 10, 100), extra="worker_spawn %s\n" % spawn,
                   env={"TESTWORKER_EXIT_AT_START": "1"}) as srv:
        def throttles():
            return [int(x) for x in re.findall(
                r"event=throttle pool=smtp ms=(\d+)", srv.log_text())]

        def starts():
            return len(re.findall(r"event=(?:template|worker)-start "
                                  r"pool=smtp ", srv.log_text()))
        # Two throttle periods, the second longer: the back-off works.
        # (Without it there is no throttle line, and thousands of
        # processes would have been started by now.)
        dt.wait_for(lambda: len(throttles()) >= 2, 60,
                    what="two throttle periods")
        delays = throttles()
        assert delays == sorted(delays) and delays[-1] > delays[0], delays
        before = starts()
        assert 2 <= before <= 20, "spawned %d workers" % before
        st = status(srv)["smtp"]
        assert before <= int(st["crashes"]) <= starts(), st
        # Throttled now, or again in the next (longer) period.
        dt.wait_for(lambda: status(srv)["smtp"]["throttled"] == "yes", 60,
                    what="pool reported throttled")
        dt.wait_for(lambda: 'dmail_pool_throttled{pool="smtp"} 1' in
                    without_node(srv.tell("status", "--prometheus").stdout),
                    60,
                    what="throttle in the metrics")
        # The master itself is unharmed and still answers.
        assert srv.running()


def test_crash_loop_is_throttled():
    crash_loop_is_throttled("template")


def test_crash_loop_is_throttled_exec():
    crash_loop_is_throttled("exec")


def test_session_crash_loop_is_throttled():
    # Workers that keep dying in sessions (the same poison input again
    # and again) are a crash loop too: after MASTER_THROTTLE_SESSION_AFTER
    # (5) in a row the pool is throttled with the same back-off, logged
    # once per period and shown by status; a completed session ends the
    # row. The throttle lifts between periods: poll, do not sample.
    with tw_server(workers=(2, 10, 100)) as srv:
        port = srv.port("smtp")
        crashes = 0

        def crash_one():
            nonlocal crashes
            c = Session(port, timeout=30)
            c.file.write(b"CRASH\r\n")
            c.file.flush()
            assert c.file.readline() == b""
            c.close()
            crashes += 1
        for _ in range(4):
            crash_one()
        # Four in a row, then a session that completes: no throttle.
        # "In a row" is the master's order of events: wait until it has
        # counted the four deaths (it may reap the last one after a
        # later session completed, on a busy machine).
        wait_figure(srv, "crashes", 4)
        s = Session(port, timeout=30)
        assert s.cmd("QUIT") == "+OK bye"
        s.close()
        wait_figure(srv, "sessions", 1)
        for _ in range(4):
            crash_one()
        wait_figure(srv, "crashes", 8)
        assert "event=throttle " not in srv.log_text()
        crash_one()
        dt.wait_for(lambda: status(srv)["smtp"]["throttled"] == "yes",
                    timeout=10, what="smtp pool reported throttled")
        log = srv.log_text()
        lines = re.findall(r"event=throttle pool=smtp ms=(\d+) "
                           r"reason=\"(\d+) "
                           r"workers in a row died during a session", log)
        assert lines == [("1000", "5")], lines
        out = srv.tell("status").stdout
        assert "throttled pool smtp" in out and "during a session" in out, \
            out
        # After the period the pool serves again.
        s = Session(port, timeout=30)
        assert s.cmd("ECHO back") == "+OK back"
        assert s.cmd("QUIT") == "+OK bye"
        s.close()
        assert srv.running()


def test_listenerless_quick_exit_is_throttled():
    # A pool without listeners whose program exits at once, even with
    # status 0, must not be restarted in a tight loop.
    srv = tw_server(workers=(1, 3, 100), start=False)
    script = os.path.join(srv.tmp, "quick-exit")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    srv.write_conf(extra=srv.extra + "list_program %s\n" % script)
    srv.start()
    with srv:
        # The status must show the pool throttled at some point; the
        # throttle lifts between back-off periods, so poll rather than
        # sample once at a fixed instant.
        dt.wait_for(lambda: status(srv)["list"]["throttled"] == "yes",
                    timeout=5, what="list pool reported throttled")
        # Two throttle periods: without the back-off there would be
        # none, and thousands of starts.
        dt.wait_for(lambda: srv.log_text().count("event=throttle pool=list ")
                    >= 2, 60, what="two throttle periods")
        starts = len(re.findall(r"event=worker-start pool=list ",
                                srv.log_text()))
        assert 2 <= starts <= 20, "list pool started %d times" % starts
        # The smtp pool is not affected.
        s = Session(srv.port("smtp"))
        assert s.cmd("ECHO fine") == "+OK fine"
        s.close()


def test_master_killed_workers_follow():
    # If the master itself dies, its workers see their channel close:
    # idle ones leave at once, a busy one finishes its session first.
    with tw_server(workers=(3, 10, 100)) as srv:
        dt.wait_for(lambda: len(srv.worker_pids()) >= 3, 5, what="workers")
        s = Session(srv.port("smtp"))
        srv.proc.kill()
        srv.proc.wait()
        dt.wait_for(lambda: srv.worker_pids() == [s.pid], 5,
                    what="only the busy worker left")
        assert s.cmd("ECHO orphan") == "+OK orphan"
        assert s.cmd("QUIT") == "+OK bye"
        s.close()
        dt.wait_for(lambda: not srv.worker_pids(include_templates=True), 5,
                    what="no worker or template left")


def test_sigterm_leaves_no_process(spawn="template"):
    with tw_server(workers=(3, 10, 100),
                   extra="worker_spawn %s\n" % spawn) as srv:
        port = srv.port("smtp")
        dt.wait_for(lambda: len(srv.worker_pids()) >= 3, 5,
                    what="workers")
        busy = Session(port)
        busy.file.write(b"SLEEP 1\r\n")
        busy.file.flush()
        time.sleep(0.2)
        master = srv.proc.pid
        srv.signal(signal.SIGTERM)
        # Listeners close at once: new connections are refused...
        dt.wait_for(lambda: not dt.port_listening(port), 2,
                    what="listener closed")
        # ... while the session in progress finishes normally.
        assert busy.file.readline() == b"+OK slept\r\n"
        assert busy.cmd("ECHO done") == "+OK done"
        busy.close()
        assert srv.proc.wait(60) == 0
        # Done when the session was: no grace period waited, nothing
        # killed.
        assert "event=grace-over" not in srv.log_text()
        assert no_processes_left(srv, master), srv.worker_pids(True)
        assert not os.path.exists(srv.control_socket())


def test_kill9_ends_only_its_session_exec():
    test_kill9_ends_only_its_session("exec")


def test_sigterm_leaves_no_process_exec():
    test_sigterm_leaves_no_process("exec")


def test_grace_period_then_kill():
    with tw_server(workers=(1, 10, 100)) as srv:
        stuck = Session(srv.port("smtp"))
        stuck.file.write(b"SLEEP 30\r\n")
        stuck.file.flush()
        time.sleep(0.2)
        master = srv.proc.pid
        t0 = time.monotonic()
        srv.signal(signal.SIGINT)
        assert srv.proc.wait(60) == 0
        took = time.monotonic() - t0
        # shutdown_grace is 5 s in the harness: not before it.
        assert took >= 4.5, took
        assert stuck.file.readline() == b""
        stuck.close()
        assert no_processes_left(srv, master), srv.worker_pids()
        assert not alive(stuck.pid)
        assert "event=grace-over workers=1 " in srv.log_text()


if __name__ == "__main__":
    dt.main([test_kill9_ends_only_its_session,
             test_kill9_ends_only_its_session_exec,
             test_crash_loop_is_throttled, test_crash_loop_is_throttled_exec,
             test_session_crash_loop_is_throttled,
             test_listenerless_quick_exit_is_throttled,
             test_master_killed_workers_follow,
             test_sigterm_leaves_no_process,
             test_sigterm_leaves_no_process_exec,
             test_grace_period_then_kill])
