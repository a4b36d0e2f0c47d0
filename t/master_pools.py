#!/usr/bin/env python3
"""dmaild pools: pre-fork, grow to workers_max under concurrent sessions,
wait in the backlog at the maximum (never refused), shrink back to
workers_min idle workers after worker_idle_timeout, max_use."""

import socket
import time

import dmailtest as dt
from master_common import Session, status, tw_server, wait_figure


def test_prefork():
    with tw_server(workers=(3, 10, 100)) as srv:
        dt.wait_for(lambda: len(srv.worker_pids()) == 3, 5,
                    what="3 pre-forked workers")
        wait_figure(srv, "idle", 3)
        st = status(srv)["smtp"]
        assert st["busy"] == "0" and st["generation"] == "1", st
        # Pools without listeners or programs stay off.
        assert "disabled" in srv.tell("status").stdout


def test_grow_to_max_then_backlog_then_shrink():
    with tw_server(workers=(1, 4, 100)) as srv:
        wait_figure(srv, "idle", 1)
        sessions = [Session(srv.port("smtp")) for _ in range(4)]
        pids = {s.pid for s in sessions}
        assert len(pids) == 4, "each session has its own worker: %s" % pids
        wait_figure(srv, "busy", 4)
        assert status(srv)["smtp"]["workers"] == "4"
        # At the maximum a fifth client is accepted by the kernel and
        # waits: no greeting yet, but the connection is not refused.
        fifth = Session(srv.port("smtp"), greet=False, timeout=1.5)
        try:
            data = fifth.sock.recv(100)
            raise AssertionError("fifth session served beyond max: %r"
                                 % data)
        except socket.timeout:
            pass    # waiting in the backlog, as it must
        assert len(srv.worker_pids()) == 4
        # The master noticed the waiting client: one warning, not one
        # per second.
        dt.wait_for(lambda: "connections wait in the listen backlog"
                    in srv.log_text(), 3, what="pool full warning")
        time.sleep(1.2)
        assert srv.log_text().count("connections wait in the listen "
                                    "backlog") == 1
        fifth.sock.settimeout(10)
        assert sessions[0].cmd("QUIT") == "+OK bye"
        sessions[0].close()
        # The worker freed by QUIT (or a replacement) takes the waiting
        # client; its buffered line still gets answered.
        fifth.read_greeting()
        assert fifth.cmd("ECHO late") == "+OK late"
        for s in sessions[1:] + [fifth]:
            assert s.cmd("QUIT") == "+OK bye"
            s.close()
        # Shrink: extra idle workers leave after worker_idle_timeout (2s
        # in the harness), the pool keeps workers_min.
        # (A generous deadline: on a loaded machine, 300 sanitizer
        # workers of a neighbour test exiting at once, the retired
        # workers take seconds to leave.)
        dt.wait_for(lambda: len(srv.worker_pids()) == 1, 90,
                    what="pool shrunk to 1 worker")
        wait_figure(srv, "idle", 1)
        assert int(status(srv)["smtp"]["sessions"]) == 5


def test_burst_grows_on_demand():
    # 30 clients at once against one ready worker: the master sees them
    # waiting on the listener and starts workers for them; every client
    # gets its own worker and nobody is refused.
    with tw_server(workers=(1, 40, 100)) as srv:
        wait_figure(srv, "idle", 1)
        socks = [dt.connect(srv.port("smtp")) for _ in range(30)]
        pids = set()
        for s in socks:
            line = s.makefile("rb").readline().decode()
            assert line.startswith("+OK testworker pid="), line
            pids.add(int(line.split("pid=")[1].split()[0]))
        assert len(pids) == 30, len(pids)
        wait_figure(srv, "busy", 30)
        for s in socks:
            s.close()
        wait_figure(srv, "busy", 0)
        assert status(srv)["smtp"]["crashes"] == "0"


def test_max_use_retires_worker():
    with tw_server(workers=(1, 3, 2)) as srv:
        served = {}
        for _ in range(6):
            s = Session(srv.port("smtp"))
            served[s.pid] = served.get(s.pid, 0) + 1
            assert s.cmd("QUIT") == "+OK bye"
            s.close()
        # max_use 2: no process serves more than two sessions, and one
        # that served two is gone.
        assert max(served.values()) <= 2, served
        used_up = [p for p, n in served.items() if n == 2]
        assert used_up, served
        dt.wait_for(lambda: not set(used_up) & set(srv.worker_pids()), 5,
                    what="workers retired after max_use")
        assert status(srv)["smtp"]["crashes"] == "0"


def dt_alive_worker(srv, pid):
    return pid in srv.worker_pids()


if __name__ == "__main__":
    dt.main([test_prefork, test_grow_to_max_then_backlog_then_shrink,
             test_burst_grows_on_demand, test_max_use_retires_worker])
