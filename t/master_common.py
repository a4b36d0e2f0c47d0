"""Helpers shared by the t/master_*.py tests: a dmaild running the test
worker (t/testworker), sessions speaking its line protocol, and the
status table parsed from tellsmtp."""

import os
import re
import socket
import time

import dmailtest as dt


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


class TWServer(dt.Server):
    """dt.Server that also fails the test when dmaild or a worker wrote a
    sanitizer report into the log (the ASan/UBSan build of .ci/run)."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            if self.running():
                self.stop()
            try:
                text = self.log_text()
            except OSError:
                text = ""
            bad = [m for m in SANITIZER_MARKS if m in text]
            if bad:
                err = AssertionError("sanitizer report in dmaild log: %s"
                                     % bad)
                super().__exit__(AssertionError, err, None)
                raise err
        return super().__exit__(exc_type, exc, tb)


NODE_LABEL = re.compile(r'\{node="[^"]*"\}|(?<=\{)node="[^"]*",')


def without_node(text):
    """Prometheus text with the node="..." label (master_report.c puts it
    first on every sample) taken out, so tests can look samples up by
    their other labels."""
    return NODE_LABEL.sub("", text)


def tw_server(workers=(2, 10, 100), extra="", env=None, start=True,
              hostname="one.example.test"):
    """A dmaild whose smtp pool runs the test worker."""
    if not os.path.exists(dt.TESTWORKER):
        raise dt.SkipTest("t/testworker not built")
    # The per-client limit would refuse the many loopback sessions these
    # tests of the pool machinery open; t/master_limits.py tests it.
    lines = ("smtp_program %s\nclient_connection_limit 0\n"
             "client_connection_rate_limit 0\n" % dt.TESTWORKER
             + extra)
    return TWServer(smtp=True, workers={"smtp": workers}, extra=lines,
                    env=env, start=start, hostname=hostname)


class Session:
    """One connection to the test worker."""

    def __init__(self, port, timeout=10, greet=True):
        self.sock = dt.connect(port, timeout=timeout)
        self.file = self.sock.makefile("rwb")
        self.pid = self.gen = self.greeting = None
        if greet:
            self.read_greeting()

    def read_greeting(self):
        line = self.file.readline().decode()
        m = re.match(r"\+OK testworker pid=(\d+) gen=(\d+)", line)
        if not m:
            raise AssertionError("bad greeting %r" % line)
        self.pid, self.gen = int(m.group(1)), int(m.group(2))
        self.greeting = line
        return line

    def cmd(self, text):
        self.file.write(text.encode() + b"\r\n")
        self.file.flush()
        line = self.file.readline().decode()
        if not line:
            raise ConnectionError("connection closed after %r" % text)
        return line.rstrip("\r\n")

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def status(srv):
    """tellsmtp status as {pool: {column: value}}."""
    r = srv.tell("status")
    if r.returncode != 0:
        raise AssertionError("tellsmtp status failed: %r %r"
                             % (r.stdout, r.stderr))
    lines = r.stdout.splitlines()
    header = None
    pools = {}
    for line in lines:
        words = line.split()
        if words and words[0] == "pool":
            header = words[1:]
            continue
        if header and words and len(words) == len(header) + 1:
            pools[words[0]] = dict(zip(header, words[1:]))
    return pools


def pool_figure(srv, column, pool="smtp"):
    return int(status(srv)[pool][column])


def wait_figure(srv, column, value, timeout=10, pool="smtp"):
    return dt.wait_for(lambda: pool_figure(srv, column, pool) == value,
                       timeout, what="%s %s == %s (now %s)"
                       % (pool, column, value, status(srv).get(pool)))


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def no_processes_left(srv, master_pid):
    """True when neither the master nor any of its workers or template
    processes exist."""
    if alive(master_pid) and not _zombie(master_pid):
        return False
    return not srv.worker_pids(include_templates=True)


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def worker_generation(pid):
    """DMAIL_GENERATION of a worker process, or None if it is gone."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"DMAIL_GENERATION="):
                    return int(item.split(b"=", 1)[1])
    except OSError:
        return None
    return None
