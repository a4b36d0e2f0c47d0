#!/usr/bin/env python3
"""worker_spawn template: workers forked from a pre-initialised template
process. The workers are the master's children (re-parented); kill -9 of
the template leaves the pool serving and a new template takes over; a
reload replaces the template; kill -9 of a forked worker ends only its
session; forked POP3 workers and their template all map the one shared
per-client table (state_dir/run/clients) of the login penalty."""

import os
import signal

import dmailtest as dt
from master_common import (SANITIZER_MARKS, Session, alive, status,
                           tw_server)


def ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def one_template(srv):
    dt.wait_for(lambda: len(srv.template_pids()) == 1, 5,
                what="one template process (%s)" % srv.template_pids())
    return srv.template_pids()[0]


def test_workers_forked_from_template():
    with tw_server(workers=(3, 10, 100)) as srv:
        dt.wait_for(lambda: len(srv.worker_pids()) >= 3, 5, what="workers")
        tpl = one_template(srv)
        master = srv.proc.pid
        assert ppid(tpl) == master
        for pid in srv.worker_pids():
            # Forked by the template's child, then inherited by the
            # master (child subreaper), which reaps and kills them.
            assert ppid(pid) == master, (pid, ppid(pid), master)
            assert pid != tpl
        s = Session(srv.port("smtp"))
        assert s.pid in srv.worker_pids()
        assert s.gen == 1
        assert s.cmd("ECHO hi") == "+OK hi"
        assert s.cmd("QUIT") == "+OK bye"
        s.close()
        st = status(srv)["smtp"]
        assert st["throttled"] == "no", st


def test_template_kill9_pool_recovers():
    with tw_server(workers=(2, 10, 100)) as srv:
        port = srv.port("smtp")
        dt.wait_for(lambda: len(srv.worker_pids()) >= 2, 5, what="workers")
        tpl = one_template(srv)
        busy = Session(port)
        os.kill(tpl, signal.SIGKILL)
        dt.wait_for(lambda: not alive(tpl), 5, what="template gone")
        # The session in progress is not affected...
        assert busy.cmd("ECHO still") == "+OK still"
        # ... and new sessions (which need new workers, so a new
        # template) are served.
        more = [Session(port) for _ in range(4)]
        for i, s in enumerate(more):
            assert s.cmd("ECHO %d" % i) == "+OK %d" % i
        new = one_template(srv)
        assert new != tpl
        for s in more + [busy]:
            assert s.cmd("QUIT") == "+OK bye"
            s.close()
        log = srv.log_text()
        assert "event=template-exit pool=smtp generation=1 " \
            "reason=\"killed by signal 9\"" in log, log
        st = status(srv)["smtp"]
        assert st["throttled"] == "no", st


def test_reload_replaces_template():
    with tw_server(workers=(2, 10, 100)) as srv:
        dt.wait_for(lambda: len(srv.worker_pids()) >= 2, 5, what="workers")
        old = one_template(srv)
        srv.reload()
        dt.wait_for(lambda: not alive(old), 5, what="old template leaves")
        s = Session(srv.port("smtp"))
        assert s.gen == 2, s.greeting
        assert s.cmd("QUIT") == "+OK bye"
        s.close()
        new = one_template(srv)
        assert new != old
        assert "event=template-exit" not in srv.log_text(), \
            "a template closed by reload is no failure"


def test_kill9_forked_worker_ends_only_its_session():
    with tw_server(workers=(3, 10, 100)) as srv:
        port = srv.port("smtp")
        sessions = [Session(port) for _ in range(3)]
        victim = sessions[0]
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.file.readline() == b"", "victim session must end"
        victim.close()
        for s in sessions[1:]:
            assert s.cmd("ECHO ok") == "+OK ok"
        s = Session(port)
        assert s.cmd("ECHO new") == "+OK new"
        for x in sessions[1:] + [s]:
            assert x.cmd("QUIT") == "+OK bye"
            x.close()
        assert "killed by signal 9 during a session" in srv.log_text()


def maps_client_table(srv, pid):
    """The device:inode of state_dir/run/clients mapped by pid, or None."""
    table = os.path.join(srv.state_dir, "run", "clients")
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == table:
                return (fields[3], fields[4])
    return None


def test_pop3_workers_share_client_table():
    if not os.path.exists(dt.POP3D):
        raise dt.SkipTest("dmail-pop3d not built")
    with dt.Server(pop3=True, workers={"pop3": (3, 10, 100)},
                   extra="pop3_program %s\n" % dt.POP3D) as srv:
        dt.wait_for(lambda: len(srv.worker_pids()) >= 3, 5, what="workers")
        tpl = one_template(srv)
        pids = srv.worker_pids()
        maps = {pid: maps_client_table(srv, pid) for pid in pids + [tpl]}
        assert all(m is not None for m in maps.values()), maps
        assert len(set(maps.values())) == 1, maps
        srv.stop()
        log = srv.log_text()
        assert not [m for m in SANITIZER_MARKS if m in log], log


if __name__ == "__main__":
    dt.main([test_workers_forked_from_template,
             test_template_kill9_pool_recovers,
             test_reload_replaces_template,
             test_kill9_forked_worker_ends_only_its_session,
             test_pop3_workers_share_client_table])
