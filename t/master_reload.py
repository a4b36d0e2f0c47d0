#!/usr/bin/env python3
"""dmaild reload: SIGHUP under 50 concurrent active sessions drops none of
them and new sessions see the new configuration within a second; an
invalid configuration keeps the old one serving; listeners are added and
closed to match; tellsmtp reload reports both outcomes, and answers
within a second with hundreds of idle workers (the retirement of the old
generation and the start of the new one come after the answer)."""

import signal
import socket
import threading
import time

import dmailtest as dt
from master_common import Session, status, tw_server, worker_generation

N = 50


def test_sighup_under_50_sessions():
    with tw_server(workers=(2, 2 * N + 10, 1000)) as srv:
        port = srv.port("smtp")
        sessions = [Session(port) for _ in range(N)]
        assert all(s.gen == 1 for s in sessions)
        for s in sessions:
            assert s.cmd("HOSTNAME") == "+OK one.example.test"
        errors = []
        stop = threading.Event()

        # Keep every session talking while the master reloads.
        def chatter(idx, sess):
            n = 0
            try:
                while not stop.is_set():
                    want = "+OK s%d-%d" % (idx, n)
                    got = sess.cmd("ECHO s%d-%d" % (idx, n))
                    if got != want:
                        errors.append((idx, got))
                        return
                    n += 1
                    time.sleep(0.02)
            except Exception as e:   # noqa: BLE001 - any failure counts
                errors.append((idx, repr(e)))

        threads = [threading.Thread(target=chatter, args=(i, s))
                   for i, s in enumerate(sessions)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        srv.write_conf(text=srv.conf_text().replace(
            "hostname one.example.test", "hostname two.example.test"))
        t0 = time.monotonic()
        srv.signal(signal.SIGHUP)

        # A fresh session sees the new configuration (within a second on
        # an idle machine: contrib/bench/reload-idle.py; the deadline
        # here only bounds a hang).
        def new_config_seen():
            s = Session(port)
            try:
                return s.gen == 2 and \
                    s.cmd("HOSTNAME") == "+OK two.example.test"
            finally:
                s.close()
        dt.wait_for(new_config_seen, 30, interval=0.02,
                    what="new sessions with the new hostname")
        took = time.monotonic() - t0
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(10)
        assert not errors, "sessions disturbed by reload: %s" % errors[:5]
        # The old sessions still run their old configuration, to the end.
        for s in sessions:
            assert s.cmd("HOSTNAME") == "+OK one.example.test"
            assert s.cmd("QUIT") == "+OK bye"
            s.close()
        st = status(srv)["smtp"]
        assert st["generation"] == "2", st
        # Old workers leave after their session: only generation 2 stays.
        dt.wait_for(lambda: all(worker_generation(p) in (None, 2)
                                for p in srv.worker_pids()), 10,
                    what="every generation 1 worker gone")
        sys_msg = "reload took %.3fs under %d sessions" % (took, N)
        print(sys_msg)
        assert "event=reload-done generation=2 status=ok" in srv.log_text()


IDLE = 100


def test_reload_answers_before_replacing_workers():
    # Before the fix the answer waited for every old worker to be retired
    # and every new one to be started: 2.5 s for 300 idle workers on the
    # loaded 2-core build machine, a client time-out with 5,000 (the
    # figures are in contrib/bench/reload-idle.py). What the fix promises
    # is an order, asserted here from the master's log: the answer is
    # sent before the old generation is told to leave and before any
    # worker of the new generation starts.
    with tw_server(workers=(IDLE, IDLE + 20, 1000)) as srv:
        def idle_of(gen):
            st = status(srv)["smtp"]
            return (int(st["idle"]) >= IDLE and
                    int(st["generation"]) == gen and
                    int(st["workers"]) <= IDLE + 20)
        dt.wait_for(lambda: idle_of(1), 120, interval=0.5,
                    what="%d idle workers" % IDLE)
        mark = len(srv.log_text())
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(120)
        c.connect(srv.control_socket())
        c.sendall(b"reload\n")
        answer = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            answer += chunk
        c.close()
        assert answer.startswith(b"+OK reloaded generation 2"), answer
        # The new workers are still starting (slowly in a sanitizer
        # build): this waits for one.
        s = Session(srv.port("smtp"), timeout=120)
        assert s.gen == 2, s.greeting
        s.close()
        dt.wait_for(lambda: idle_of(2), 300, interval=0.5,
                    what="%d idle workers of generation 2" % IDLE)
        lines = srv.log_text()[mark:].splitlines()

        def first(pred, what):
            for i, l in enumerate(lines):
                if pred(l):
                    return i
            raise AssertionError("no log line: %s" % what)
        answered = first(lambda l: "event=control-answer " in l,
                         "answer sent")
        in_effect = first(lambda l: "event=reload-done generation=2 "
                          "status=ok" in l,
                          "generation 2 in effect")
        retired = first(lambda l: "event=template-close " in l and
                        "generation=1" in l, "old template closed")
        started = first(lambda l: "event=worker-start " in l and
                        "generation=2" in l, "new worker started")
        assert in_effect < answered < retired < started, \
            (in_effect, answered, retired, started)


def test_invalid_config_keeps_old():
    with tw_server(workers=(1, 5, 100)) as srv:
        port = srv.port("smtp")
        good = srv.conf_text()
        srv.write_conf(text=good.replace("hostname one.example.test",
                                         "hostname two.example.test")
                       + "smtp_lisen 127.0.0.1:1\nsmtp_workers_max zero\n")
        srv.signal(signal.SIGHUP)
        dt.wait_for(lambda: "keeping generation 1" in srv.log_text(), 5,
                    what="reload refused in the log")
        log = srv.log_text()
        assert "unknown key 'smtp_lisen'" in log, log
        assert "smtp_workers_max" in log
        s = Session(port)
        assert s.gen == 1 and s.cmd("HOSTNAME") == "+OK one.example.test"
        s.cmd("QUIT")
        s.close()
        r = srv.tell("reload")
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert "configuration invalid" in r.stderr
        assert "unknown key 'smtp_lisen'" in r.stderr
        assert srv.running()
        # Fixed file: tellsmtp reload succeeds and takes effect.
        srv.write_conf(text=good.replace("hostname one.example.test",
                                         "hostname two.example.test"))
        r = srv.tell("reload")
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "generation 2" in r.stdout
        s = Session(port)
        assert s.gen == 2 and s.cmd("HOSTNAME") == "+OK two.example.test"
        s.close()


def test_listeners_follow_config():
    with tw_server(workers=(1, 5, 100)) as srv:
        port = srv.port("smtp")
        port2 = dt.free_port()
        text = srv.conf_text()
        srv.write_conf(text=text + "submission_listen 127.0.0.1:%d\n"
                       % port2)
        assert srv.tell("reload").returncode == 0
        s = Session(port2)
        assert "role=submission" in s.greeting and s.gen == 2, s.greeting
        s.cmd("QUIT")
        s.close()
        # IPv6 listeners, when the host has ::1.
        try:
            port6 = dt.free_port("::1")
        except OSError:
            port6 = None
        if port6:
            srv.write_conf(text=text + "submission_listen 127.0.0.1:%d\n"
                           "smtp_listen [::1]:%d\n" % (port2, port6))
            assert srv.tell("reload").returncode == 0
            s6 = dt.connect(port6, host="::1")
            line = s6.makefile("rb").readline().decode()
            assert "role=smtp peer=::1" in line, line
            s6.close()
        # A listener that cannot be bound makes the reload fail whole.
        other = socket.socket()
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        taken = other.getsockname()[1]
        srv.write_conf(text=text + "submission_listen 127.0.0.1:%d\n"
                       "submission_listen 127.0.0.1:%d\n" % (port2, taken))
        r = srv.tell("reload")
        other.close()
        assert r.returncode == 1, r.stdout
        assert "submission_listen 127.0.0.1:%d" % taken in r.stderr, \
            r.stderr
        assert "in use" in r.stderr, r.stderr
        # Remove the second listener: it stops listening.
        srv.write_conf(text=text)
        assert srv.tell("reload").returncode == 0
        dt.wait_for(lambda: not dt.port_listening(port2) and
                    not (port6 and dt.port_listening(port6)), 5,
                    what="ports %d and %s closed" % (port2, port6))
        assert dt.port_listening(port)
        s = Session(port)
        assert s.gen == (4 if port6 else 3), s.greeting
        s.close()


if __name__ == "__main__":
    dt.main([test_reload_answers_before_replacing_workers,
             test_sighup_under_50_sessions, test_invalid_config_keeps_old,
             test_listeners_follow_config])
