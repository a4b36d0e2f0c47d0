#!/usr/bin/env python3
"""tellsmtp / tellpop / telllist and the control and status sockets:
status table, Prometheus text, reload, shutdown, exit codes, socket
modes, and a master that is not held up by a silent client."""

import os
import re
import socket
import stat
import subprocess

import dmailtest as dt
from master_common import (Session, no_processes_left, status, tw_server,
                           wait_figure, without_node)

PROM_LINE = re.compile(r'^[a-z_]+(\{pool="[a-z0-9]+"(,client="[0-9a-f.:]+")?'
                       r'(,role="[a-z0-9]+")?(,reason="[a-z_]+")?\})? \d+$')


def read_unix(path, request=None, timeout=5):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    if request is not None:
        s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode()


def check_prometheus(text, node="one.example.test"):
    """{'name{labels}': value}, the node label (asserted on every
    sample) left out of the keys."""
    metrics = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        assert re.match(r'^[a-z_]+\{node="%s"[,}]' % re.escape(node),
                        line), "no node label in %r" % line
        line = without_node(line)
        assert PROM_LINE.match(line), "bad exposition line %r" % line
        name, value = line.rsplit(" ", 1)
        metrics[name] = int(value)
    return metrics


def test_status_table_and_prometheus():
    with tw_server(workers=(2, 5, 100)) as srv:
        s = Session(srv.port("smtp"))
        wait_figure(srv, "busy", 1)
        wait_figure(srv, "idle", 2)     # workers_min ready besides it
        st = status(srv)
        smtp = st["smtp"]
        assert int(smtp["workers"]) >= 3 and smtp["idle"] == "2", smtp
        assert smtp["generation"] == "1" and smtp["throttled"] == "no"
        assert re.match(r"\d+s$", smtp["uptime"]), smtp
        out = srv.tell("status").stdout
        assert out.startswith("dmaild node one.example.test pid "), out
        assert "pop3   disabled" in out and "queue  disabled" in out, out
        r = srv.tell("status", "--prometheus")
        assert r.returncode == 0
        m = check_prometheus(r.stdout)
        assert m['dmail_pool_busy_workers{pool="smtp"}'] == 1
        assert m['dmail_pool_idle_workers{pool="smtp"}'] == 2
        assert m["dmail_generation"] == 1
        assert "# TYPE dmail_pool_sessions_total counter" in r.stdout
        s.cmd("QUIT")
        s.close()
        dt.wait_for(lambda: check_prometheus(read_unix(
            os.path.join(srv.state_dir, "run", "status")))
            ['dmail_pool_sessions_total{pool="smtp"}'] == 1, 5,
            what="session counted on the status socket")
        # Same program under its other names.
        for name in ("tellpop", "telllist"):
            link = os.path.join(srv.tmp, name)
            os.symlink(dt.TELLSMTP, link)
            r = srv.tell("status", prog_name=link)
            assert r.returncode == 0 and "smtp" in r.stdout, r.stderr


def test_node_name():
    """node_name names the node in the status header and labels every
    metric sample; default: the hostname (test_status_table_...)."""
    with tw_server(workers=(1, 3, 100), extra="node_name node-a_1.b\n") \
            as srv:
        out = srv.tell("status").stdout
        assert out.startswith("dmaild node node-a_1.b pid "), out
        text = srv.tell("status", "--prometheus").stdout
        m = check_prometheus(text, node="node-a_1.b")
        assert m["dmail_generation"] == 1, m
        assert 'dmail_generation{node="node-a_1.b"} 1' in text, text
        assert ('dmail_pool_workers{node="node-a_1.b",pool="smtp"}'
                in text), text
        text = read_unix(os.path.join(srv.state_dir, "run", "status"))
        check_prometheus(text, node="node-a_1.b")
        # A master setting: a full reload takes the new name.
        srv.write_conf(text=srv.conf_text().replace("node-a_1.b", "node-b"))
        assert srv.tell("reload", "--all").returncode == 0
        assert srv.tell("status").stdout.startswith("dmaild node node-b ")
        check_prometheus(srv.tell("status", "--prometheus").stdout,
                         node="node-b")


def test_socket_modes_and_raw_protocol():
    with tw_server(workers=(1, 3, 100)) as srv:
        ctl = srv.control_socket()
        sts = os.path.join(srv.state_dir, "run", "status")
        assert stat.S_IMODE(os.stat(ctl).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(sts).st_mode) == 0o666
        assert read_unix(ctl, b"frobnicate\n") == "-ERR unknown command\n"
        assert read_unix(ctl, b"status bogus\n").startswith("-ERR usage")
        assert read_unix(ctl, b"x" * 600).startswith("-ERR request too long")
        assert read_unix(ctl, b"status\n").startswith("+OK status\n")
        # A client that says nothing does not hold the master up ...
        silent = socket.socket(socket.AF_UNIX)
        silent.connect(ctl)
        assert srv.tell("status").returncode == 0
        s = Session(srv.port("smtp"))
        s.cmd("QUIT")
        s.close()
        # Served while the silent client is still connected: the master
        # did not wait for it to be dropped.
        silent.setblocking(False)
        try:
            assert silent.recv(10) != b"", "silent client dropped first"
        except BlockingIOError:
            pass
        silent.setblocking(True)
        # ... and is dropped after its 5 seconds.
        silent.settimeout(10)
        assert silent.recv(10) == b""
        silent.close()


def test_reload_shutdown_exit_codes():
    with tw_server(workers=(1, 3, 100)) as srv:
        srv.write_conf(text=srv.conf_text().replace(
            "hostname one.example.test", "hostname two.example.test"))
        r = srv.tell("reload")
        assert r.returncode == 0 and "generation 2" in r.stdout, r
        s = Session(srv.port("smtp"))
        assert s.cmd("HOSTNAME") == "+OK two.example.test"
        s.close()
        assert srv.tell().returncode == 2
        assert srv.tell("restart").returncode == 2
        assert srv.tell("status", "--bogus").returncode == 2
        assert srv.tell("reload", "--prometheus").returncode == 2
        master = srv.proc.pid
        r = srv.tell("shutdown")
        assert r.returncode == 0 and "shutting down" in r.stdout, r
        assert srv.proc.wait(10) == 0
        dt.wait_for(lambda: no_processes_left(srv, master), 5,
                    what="no process left")
        r = srv.tell("status")
        assert r.returncode == 1 and "not running" in r.stderr, r
        r = subprocess.run([dt.TELLSMTP, "-c", "/nonexistent/dmail.conf",
                            "status"], capture_output=True, text=True)
        assert r.returncode == 2


if __name__ == "__main__":
    dt.main([test_status_table_and_prometheus,
             test_node_name,
             test_socket_modes_and_raw_protocol,
             test_reload_shutdown_exit_codes])
