"""dmailtest - harness for DMail integration tests.

Starts a real `dmaild -f` from the build tree on loopback ports with a
throw-away state directory, and offers the small helpers every test needs:
free ports, users, TLS certificates, Maildir inspection, waiting.

    import dmailtest as dt

    with dt.Server(domains=["example.test"], smtp=True, pop3=True) as srv:
        srv.add_user("alice@example.test", "secret")
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"))
        ...
        assert srv.maildir_messages("alice@example.test")

Conventions
- Tests are plain scripts: exit 0 pass, 1 fail, 77 skip. Use dt.main(tests)
  to run a list of functions and report each by name.
- The server runs as root in CI; workers drop to `nobody`, so the state
  directory is made traversable by it.
- DMAIL_KEEP=1 keeps the temporary directory for post-mortems.
- Environment from `make check`: DMAIL_BUILDDIR, DMAIL_SRCDIR.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

# Unit tests only: `make distcheck` in contrib/run-tests.sh and the Debian
# package build set this, so the integration suite runs once per CI run
# (in the plain and sanitizer trees), not again in each of those builds.
if os.environ.get("DMAIL_SKIP_INTEGRATION"):
    print("SKIP: integration test (DMAIL_SKIP_INTEGRATION is set)")
    sys.exit(77)

BUILDDIR = os.environ.get("DMAIL_BUILDDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), ".."))
SRCDIR = os.environ.get("DMAIL_SRCDIR") or BUILDDIR


def prog(rel):
    """Path of a program in the build tree, e.g. prog('master/dmaild')."""
    return os.path.join(BUILDDIR, rel)


DMAILD = prog("master/dmaild")
SMTPD = prog("smtpd/dmail-smtpd")
POP3D = prog("pop3d/dmail-pop3d")
DMAIL_USER = prog("util/dmail-user")
TELLSMTP = prog("util/tellsmtp")
TESTWORKER = prog("t/testworker")

IS_ROOT = os.geteuid() == 0
RUN_AS = "nobody" if IS_ROOT else None


class SkipTest(Exception):
    """Raise to skip a test (exit 77 if every test skips)."""


_PORTS_GIVEN = set()


def free_port(host="127.0.0.1"):
    """A TCP port that is free right now on host, and not one this
    process was given before (the kernel may hand out the same ephemeral
    port to two binds in a row once the first socket is closed: a
    server's SMTP and POP3 ports came out equal once in CI)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


# A deadline only bounds a hang: a test asserts what happens, never how
# fast (speed is for contrib/bench/). On a loaded 2-core CI machine, with
# a sanitizer build and a neighbour test starting hundreds of workers,
# seconds pass between two steps, so no deadline is shorter than this.
MIN_WAIT = float(os.environ.get("DMAIL_TEST_MIN_WAIT", "30"))


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate() until it returns a true value; return that value.
    Gives up after max(timeout, MIN_WAIT) seconds."""
    timeout = max(timeout, MIN_WAIT)
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def listening_ports():
    """Set of (ip, port) TCP sockets in LISTEN state, from /proc."""
    result = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] != "0A":
                        continue
                    addr, port = fields[1].rsplit(":", 1)
                    result.add((addr, int(port, 16)))
        except FileNotFoundError:
            pass
    return result


def port_listening(port):
    return any(p == port for _, p in listening_ports())


_cert_cache = {}


def make_cert(directory, cn="localhost"):
    """Self-signed certificate and key in directory; returns (cert, key)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2", "-subj",
             "/CN=" + cn],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(key, 0o644)   # workers read it after dropping root
    return cert, key


def recv_line(sock, bufsize=65536):
    """Read one CRLF line from a socket (slowly, byte-exact)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


class Server:
    """A dmaild instance on loopback with its own state directory.

    Keyword arguments:
      domains     local domains (first one is the default login domain)
      smtp, submission, smtps, pop3, pop3s
                  True to listen on a free loopback port for that role
      tls         generate a self-signed certificate and set tls_cert/key
      extra       more dmail.conf lines (string)
      workers     dict like {"smtp": (min, max, max_use)}
      env         extra environment for dmaild (e.g. DMAIL_FAULT)
      start       False to only write the configuration
    """

    def __init__(self, domains=("example.test",), smtp=False,
                 submission=False, smtps=False, pop3=False, pop3s=False,
                 tls=False, extra="", workers=None, env=None, start=True,
                 hostname="mx.example.test", host="127.0.0.1"):
        self.tmp = tempfile.mkdtemp(prefix="dmail-t-")
        os.chmod(self.tmp, 0o755)
        self.state_dir = os.path.join(self.tmp, "state")
        self.conf_path = os.path.join(self.tmp, "dmail.conf")
        self.log_path = os.path.join(self.tmp, "dmaild.log")
        self.domains = list(domains)
        self.host = host
        self.ports = {}
        self.proc = None
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        roles = [("smtp", smtp), ("submission", submission),
                 ("smtps", smtps), ("pop3", pop3), ("pop3s", pop3s)]
        for role, wanted in roles:
            if wanted:
                self.ports[role] = free_port(host)
        self.cert = self.key = None
        if tls or smtps or pop3s:
            self.cert, self.key = make_cert(self.tmp)
        self.base_lines = [
            "# written by t/dmailtest.py",
            "hostname %s" % hostname,
            "local_domains %s" % " ".join(self.domains),
            "state_dir %s" % self.state_dir,
            "log stderr debug",
            "shutdown_grace 5",
            "worker_idle_timeout 2",
        ]
        if RUN_AS:
            self.base_lines.append("run_as %s" % RUN_AS)
        if self.cert:
            self.base_lines.append("tls_cert %s" % self.cert)
            self.base_lines.append("tls_key %s" % self.key)
        for role, port in self.ports.items():
            hostpart = "[%s]" % host if ":" in host else host
            self.base_lines.append("%s_listen %s:%d" % (role, hostpart, port))
        for pool, sizes in (workers or {}).items():
            wmin, wmax, use = sizes
            self.base_lines.append("%s_workers_min %d" % (pool, wmin))
            self.base_lines.append("%s_workers_max %d" % (pool, wmax))
            self.base_lines.append("%s_max_use %d" % (pool, use))
        self.extra = extra
        self.write_conf()
        if start:
            self.start()

    # -- configuration ------------------------------------------------------
    def conf_text(self, extra=None):
        lines = list(self.base_lines)
        text = "\n".join(lines) + "\n"
        more = self.extra if extra is None else extra
        if more:
            text += more.strip("\n") + "\n"
        return text

    def write_conf(self, extra=None, text=None):
        """(Re)write dmail.conf; text replaces everything when given."""
        if extra is not None:
            self.extra = extra
        with open(self.conf_path, "w") as f:
            f.write(text if text is not None else self.conf_text())

    def port(self, role):
        return self.ports[role]

    # -- life cycle -----------------------------------------------------------
    def start(self, timeout=15):
        if not os.path.exists(DMAILD):
            raise SkipTest("dmaild not built")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([DMAILD, "-f", "-c", self.conf_path],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     env=self.env)
        try:
            for role, port in self.ports.items():
                wait_for(lambda: self.proc.poll() is not None or
                         port_listening(port), timeout,
                         what="%s listener on port %d" % (role, port))
            wait_for(lambda: self.proc.poll() is not None or
                     os.path.exists(self.control_socket()), timeout,
                     what="control socket")
            if self.proc.poll() is not None:
                raise AssertionError("dmaild exited with %s at start:\n%s"
                                     % (self.proc.returncode,
                                        self.log_tail()))
        except Exception:
            self.stop()
            raise
        return self

    def control_socket(self):
        return os.path.join(self.state_dir, "run", "control")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        """SIGHUP the master."""
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=20):
        """SIGTERM the master and wait; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("dmaild did not stop within %ds"
                                     % timeout)
        self.log.close()
        return self.proc.returncode

    def worker_pids(self, include_templates=False):
        """Pids of processes started by this instance (workers), found by
        the DMAIL_CONF_PATH in their environment; excludes the master and,
        unless include_templates, the template processes workers are
        forked from (DMAIL_TEMPLATE=1; forked workers show
        DMAIL_TEMPLATE=0)."""
        pids = []
        needle = ("DMAIL_CONF_PATH=%s" % self.conf_path).encode()
        master = self.proc.pid if self.proc else -1
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == master:
                continue
            try:
                with open("/proc/%s/environ" % entry, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if needle in env and (include_templates or
                                  b"DMAIL_TEMPLATE=1" not in env):
                pids.append(int(entry))
        return pids

    def template_pids(self):
        """Pids of this instance's template processes (worker_spawn
        template): DMAIL_TEMPLATE=1 in their environment. A template's
        short-lived intermediate child may show up too."""
        mine = set(self.worker_pids(include_templates=True))
        return sorted(mine - set(self.worker_pids()))

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(data[-lines:])

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def cleanup(self):
        if os.environ.get("DMAIL_KEEP"):
            sys.stderr.write("kept %s\n" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.running():
                self.stop()
        finally:
            if exc_type is not None:
                sys.stderr.write("---- dmaild log (%s) ----\n%s\n"
                                 % (self.log_path, self.log_tail()))
            left = [p for p in self.worker_pids()]
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if exc_type is None:
                self.cleanup()
        return False

    # -- tools ----------------------------------------------------------------
    def tell(self, *args, prog_name=None, check=False):
        """Run tellsmtp -c CONF ARGS; returns CompletedProcess (text)."""
        return subprocess.run([prog_name or TELLSMTP, "-c", self.conf_path]
                              + list(args), capture_output=True, text=True,
                              check=check, env=self.env, timeout=30)

    def dmail_user(self, *args, stdin=None, check=True):
        return subprocess.run([DMAIL_USER, "-c", self.conf_path] + list(args),
                              input=stdin, capture_output=True, text=True,
                              check=check, env=self.env, timeout=60)

    def add_user(self, address, password="secret", *more):
        """Create an account through dmail-user (creates the Maildir)."""
        if not os.path.exists(DMAIL_USER):
            raise SkipTest("dmail-user not built")
        return self.dmail_user("add", address, *more, stdin=password + "\n")

    def maildir(self, address):
        local, domain = address.split("@", 1)
        return os.path.join(self.state_dir, "mail", domain.lower(),
                            local.lower())

    def maildir_messages(self, address, subdirs=("new", "cur")):
        """Sorted list of message file paths in the account's Maildir."""
        base = self.maildir(address)
        files = []
        for sub in subdirs:
            d = os.path.join(base, sub)
            if os.path.isdir(d):
                files.extend(os.path.join(d, n) for n in os.listdir(d))
        return sorted(files)

    def wait_messages(self, address, count, timeout=10):
        return wait_for(lambda: len(self.maildir_messages(address)) >= count
                        and self.maildir_messages(address), timeout,
                        what="%d message(s) for %s" % (count, address))

    def spool_files(self):
        out = []
        spool = os.path.join(self.state_dir, "spool")
        for root, _dirs, names in os.walk(spool):
            out.extend(os.path.join(root, n) for n in names)
        return sorted(out)


def connect(port, host="127.0.0.1", source=None, timeout=10):
    """A connected TCP socket, optionally bound to a source address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def main(tests):
    """Run test functions (no arguments) in order; print a line per test;
    exit 0 if all passed, 77 if all skipped, 1 otherwise."""
    failed = skipped = 0
    only = os.environ.get("DMAIL_ONLY")
    for fn in tests:
        name = fn.__name__
        if only and only not in name:
            continue
        start = time.monotonic()
        try:
            fn()
        except SkipTest as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e), flush=True)
            continue
        except Exception:
            failed += 1
            print("FAIL %s (%.1fs)" % (name, time.monotonic() - start),
                  flush=True)
            traceback.print_exc()
            continue
        print("ok   %s (%.1fs)" % (name, time.monotonic() - start), flush=True)
    if failed:
        sys.exit(1)
    if skipped and skipped == len(tests):
        sys.exit(77)
    sys.exit(0)
