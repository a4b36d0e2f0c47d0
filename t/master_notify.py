#!/usr/bin/env python3
"""dmaild and the service manager's notify socket (systemd Type=notify,
sd_notify(3)): a fake NOTIFY_SOCKET, a unix datagram socket this test
reads, stands in for systemd. READY=1 comes once the listeners are bound
and the pool's first worker answers; RELOADING=1 then READY=1 around a
reload (SIGHUP and tellsmtp reload, valid or not); WATCHDOG=1 pings when
WATCHDOG_USEC is set; STATUS= with the pools' busy/idle counts;
STOPPING=1 at shutdown. Every datagram comes from the master (checked
with SO_PASSCRED): workers must not inherit NOTIFY_SOCKET."""

import os
import re
import socket
import struct
import time

import dmailtest as dt
from master_common import Session, tw_server


def built_with_libsystemd():
    try:
        with open(os.path.join(dt.BUILDDIR, "config.h")) as f:
            return "#define HAVE_LIBSYSTEMD 1" in f.read()
    except OSError:
        return False


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.messages = []     # (pid, {key: value}, monotonic time)

    def env(self, watchdog_usec=None):
        env = {"NOTIFY_SOCKET": self.path}
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, anc, _flags, _addr = self.sock.recvmsg(
                4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1)
                      for line in data.decode().split("\n") if "=" in line)
        msg = (pid, fields, time.monotonic())
        self.messages.append(msg)
        return msg

    def wait(self, predicate, timeout=15, what="message"):
        """Read datagrams until one satisfies predicate(fields); return it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %ss; got %r"
                                     % (what, timeout, self.messages))
            msg = self._recv(left)
            if msg is not None and predicate(msg[1]):
                return msg

    def close(self):
        self.sock.close()


def notify_server(watchdog_usec=None, start=True):
    if not built_with_libsystemd():
        raise dt.SkipTest("built without libsystemd")
    srv = tw_server(workers=(2, 10, 100), start=False)
    fake = FakeSystemd(srv.tmp)
    srv.env.update(fake.env(watchdog_usec))
    return srv, fake


def check_senders(srv, fake, master_pid):
    bad = [m for m in fake.messages if m[0] != master_pid]
    assert not bad, "datagrams not from the master %d: %r" % (master_pid,
                                                             bad)
    for pid in srv.worker_pids(include_templates=True):
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read()
        assert b"NOTIFY_SOCKET=" not in env, "worker %d has it" % pid


def test_ready_reload_stopping():
    srv, fake = notify_server()
    with srv:
        try:
            srv.start()
            master = srv.proc.pid
            pid, fields, _ = fake.wait(lambda f: f.get("READY") == "1",
                                       what="READY=1")
            assert pid == master
            # Ready means serving: the listener answers at once.
            sess = Session(srv.port("smtp"))
            assert sess.gen == 1
            sess.close()
            assert re.match(r"smtp \d+ busy \d+ idle", fields["STATUS"]), \
                fields
            # A reload by SIGHUP.
            srv.reload()
            fake.wait(lambda f: f.get("RELOADING") == "1",
                      what="RELOADING=1 after SIGHUP")
            fake.wait(lambda f: f.get("READY") == "1",
                      what="READY=1 after the reload")
            rel = [m for m in fake.messages if "RELOADING" in m[1]][-1]
            assert re.match(r"\d+$", rel[1]["MONOTONIC_USEC"]), rel
            # tellsmtp reload, with an invalid file: still RELOADING and
            # READY (the old configuration serves on).
            srv.write_conf(extra=srv.extra + "\nno_such_key 1\n")
            r = srv.tell("reload")
            assert r.returncode != 0, r.stdout
            fake.wait(lambda f: f.get("RELOADING") == "1",
                      what="RELOADING=1 for an invalid file")
            fake.wait(lambda f: f.get("READY") == "1",
                      what="READY=1 after the refused reload")
            check_senders(srv, fake, master)
            assert srv.stop() == 0
            fake.wait(lambda f: f.get("STOPPING") == "1",
                      what="STOPPING=1")
            check_senders(srv, fake, master)
            assert not [m for m in fake.messages if "WATCHDOG" in m[1]], \
                "watchdog pings without WATCHDOG_USEC"
        finally:
            fake.close()


def test_watchdog_pings():
    srv, fake = notify_server(watchdog_usec=400000)
    with srv:
        try:
            srv.start()
            master = srv.proc.pid
            fake.wait(lambda f: f.get("READY") == "1", what="READY=1")
            # Half the interval (200 ms) apart: five pings arrive soon on
            # an idle master that has nothing else to wake it.
            for i in range(5):
                fake.wait(lambda f: f.get("WATCHDOG") == "1",
                          what="WATCHDOG=1 ping %d" % (i + 1))
            pings = [m for m in fake.messages if "WATCHDOG" in m[1]]
            assert len(pings) >= 5
            check_senders(srv, fake, master)
            # A busy worker shows in STATUS within a second or so.
            sess = Session(srv.port("smtp"))
            fake.wait(lambda f: re.search(r"smtp [1-9]\d* busy",
                                          f.get("STATUS", "")) is not None,
                      what="STATUS with a busy smtp worker")
            sess.close()
            assert srv.stop() == 0
        finally:
            fake.close()


def test_no_socket_no_messages():
    """Without NOTIFY_SOCKET (init script, by hand) nothing is sent and
    nothing breaks; a NOTIFY_SOCKET nobody listens on is not fatal."""
    if not built_with_libsystemd():
        raise dt.SkipTest("built without libsystemd")
    with tw_server(workers=(1, 4, 100),
                   env={"NOTIFY_SOCKET": "/nonexistent/notify"}) as srv:
        sess = Session(srv.port("smtp"))
        sess.close()
        srv.reload()
        dt.wait_for(lambda: "event=sd-notify-failed "
                    "socket=/nonexistent/notify" in srv.log_text(),
                    what="one warning")
        assert srv.running()
        assert srv.stop() == 0
        assert srv.log_text().count("event=sd-notify-failed") == 1


if __name__ == "__main__":
    dt.main([test_ready_reload_stopping, test_watchdog_pings,
             test_no_socket_no_messages])
