#!/usr/bin/env python3
"""two_nodes - two DMail nodes on one directory and one mail store
(issue 15, README "Running several nodes"), as root only:

- two dmaild instances, each in its own network namespace (ip netns, a
  veth pair between them, the addresses 10.231.15.1 and .2 exist inside
  the namespaces only), each with its own state_dir (queue, run/, db/)
  and node_name;
- one throw-away PostgreSQL cluster (t/directory_common.py) holding the
  accounts, reached by both nodes through its Unix socket in a directory
  both see (a Unix socket is not bound to a network namespace);
- one shared mail directory: a local directory that both
  state_dir/mail symlink to. An NFS export on loopback is not set up
  (not done: the machine this was written on has no nfsd); the first
  line printed says whether the kernel offers nfsd.

Checks (one "PASS: nodes: ..." / "FAIL: nodes: ..." line each, counted
by contrib/count-tests.py; "SKIP: ..." and exit 0 when it cannot run):
mail accepted by A is fetched over POP3 from B; a POP3 session on A makes
B answer [IN-USE]; an account inserted into PostgreSQL works on both
nodes at once; kill -9 of node A's dmaild and all its workers loses no
acknowledged mail (every message A answered 250 is fetched from B) and B
keeps serving. Run once by contrib/run-tests.sh (not in both builds):
DMAIL_BUILDDIR=_build/plain python3 t/two_nodes.py
"""

import ctypes
import os
import poplib
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import directory_common as dc  # noqa: E402

NS = {"a": ("dmail-node-a", "10.231.15.1"), "b": ("dmail-node-b",
                                                "10.231.15.2")}
CLONE_NEWNET = 0x40000000
FAILED = []


def report(ok, what):
    print("%s: nodes: %s" % ("PASS" if ok else "FAIL", what), flush=True)
    if not ok:
        FAILED.append(what)


class InNetns:
    """with InNetns(name): sockets made inside belong to that namespace
    (setns(2) on this thread; back to the original on leaving)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/%s" % self.name, os.O_RDONLY)
        try:
            if self.libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns %s" % self.name)
        finally:
            os.close(fd)

    def __exit__(self, *exc):
        self.libc.setns(self.home, CLONE_NEWNET)
        os.close(self.home)


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True,
                          text=True, check=check)


def netns_up():
    """Two namespaces joined by a veth pair; addresses inside only."""
    netns_down()
    for name, _ in NS.values():
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")
    ip("link", "add", "dmnode-a", "netns", NS["a"][0], "type", "veth",
       "peer", "name", "dmnode-b", "netns", NS["b"][0])
    for key, (name, addr) in NS.items():
        ip("-n", name, "addr", "add", addr + "/24", "dev", "dmnode-" + key)
        ip("-n", name, "link", "set", "dmnode-" + key, "up")


def netns_down():
    for name, _ in NS.values():
        for pid in ip("netns", "pids", name, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        ip("netns", "del", name, check=False)


def shared_storage(tmp):
    """The shared mail directory and a sentence saying what it is."""
    mail = os.path.join(tmp, "shared-mail")
    os.makedirs(mail)
    nfsd = os.path.isdir("/proc/fs/nfsd") or "nfsd" in open(
        "/proc/filesystems").read()
    if nfsd and shutil.which("exportfs"):
        note = "nfsd present, but an NFS export is not set up by this " \
               "test yet: shared local directory %s" % mail
    else:
        note = "no nfsd in this kernel (no /proc/fs/nfsd): shared local " \
               "directory %s, not NFS" % mail
    if dt.RUN_AS:
        pw = pwd.getpwnam(dt.RUN_AS)
        os.chown(mail, pw.pw_uid, pw.pw_gid)
    return mail, note


class Node(dt.Server):
    """A dmaild in network namespace NS[key], SMTP on :25, POP3 on
    :110 of its namespace address, its state_dir/mail a symlink to the
    shared mail directory."""

    def __init__(self, key, pg, mail):
        self.ns, addr = NS[key]
        extra = ("smtp_program %s\npop3_program %s\nnode_name node-%s\n"
                 "userdb_backend pgsql\npgsql_conninfo host=%s port=%d "
                 "dbname=dmail user=dmail connect_timeout=3\n"
                 "userdb_cache_negative_ttl 0\nuserdb_timeout 3\n"
                 "client_connection_limit 0\n"
                 "client_connection_rate_limit 0\npop3_plaintext_auth yes\n"
                 % (dt.SMTPD, dt.POP3D, key, pg.tmp, pg.port))
        super().__init__(hostname="node-%s.example.test" % key,
                         extra=extra, start=False)
        self.host = addr
        self.ports = {"smtp": 25, "pop3": 110}
        self.base_lines += ["smtp_listen %s:25" % addr,
                            "pop3_listen %s:110" % addr]
        self.write_conf()
        os.makedirs(self.state_dir)
        os.symlink(mail, os.path.join(self.state_dir, "mail"))

    def start(self, timeout=15):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, dt.DMAILD, "-f", "-c",
             self.conf_path], stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log, env=self.env)
        dt.wait_for(lambda: self.proc.poll() is not None or
                    (self.listening(25) and self.listening(110)), timeout,
                    what="%s listeners" % self.ns)
        if self.proc.poll() is not None:
            raise AssertionError("dmaild in %s exited:\n%s"
                                 % (self.ns, self.log_tail()))
        return self

    def listening(self, port):
        with InNetns(self.ns):
            try:
                socket.create_connection((self.host, port), 2).close()
                return True
            except OSError:
                return False

    def smtp(self):
        with InNetns(self.ns):
            return smtplib.SMTP(self.host, 25, timeout=20)

    def pop3(self):
        with InNetns(self.ns):
            return poplib.POP3(self.host, 110, timeout=20)

    def kill9(self):
        """kill -9 of the master and every worker of this node."""
        pids = ip("netns", "pids", self.ns).stdout.split()
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        self.proc.wait(10)
        dt.wait_for(lambda: not ip("netns", "pids", self.ns).stdout.split(),
                    10, what="%s empty" % self.ns)
        return len(pids)


def send(node, rcpt, subject):
    """True once node answered 250 to the message."""
    with node.smtp() as s:
        s.ehlo("client.test")
        s.sendmail("sender@remote.test", [rcpt], "From: sender@remote.test"
                   "\r\nSubject: %s\r\n\r\nbody of %s\r\n" % (subject,
                                                              subject))
    return True


def subjects(node, user, password="secret", delete=False):
    p = node.pop3()
    try:
        p.user(user)
        p.pass_(password)
        out = set()
        for i in range(1, p.stat()[0] + 1):
            for line in p.top(i, 0)[1]:
                if line.startswith(b"Subject: "):
                    out.add(line[9:].decode())
            if delete:
                p.dele(i)
        return out
    finally:
        p.quit()


def pop_error(node, user, password="secret"):
    p = node.pop3()
    try:
        p.user(user)
        p.pass_(password)
        return None
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        p.quit()


def check(what, fn):
    try:
        report(bool(fn()), what)
    except Exception as e:  # one failed check does not stop the others
        report(False, "%s (%s: %s)" % (what, type(e).__name__, e))


def scenario(a, b, pg):
    user = "alice@example.test"
    pg.add_user(user, "secret")
    check("mail accepted by node A is fetched over POP3 from node B",
          lambda: send(a, user, "a-to-b") and
          "a-to-b" in subjects(b, user, delete=True))

    def in_use():
        p = a.pop3()
        p.user(user)
        p.pass_("secret")
        try:
            err = pop_error(b, user)
            return err is not None and "[IN-USE]" in err
        finally:
            p.quit()
    check("a POP3 session on node A makes node B answer [IN-USE]", in_use)
    check("node B serves the mailbox once A's session ended",
          lambda: subjects(b, user) == set())

    def new_account():
        pg.add_user("carol@example.test", "pw2")
        return (send(a, "carol@example.test", "to-carol-a") and
                send(b, "carol@example.test", "to-carol-b") and
                subjects(a, "carol@example.test", "pw2") ==
                {"to-carol-a", "to-carol-b"} and
                subjects(b, "carol@example.test", "pw2") ==
                {"to-carol-a", "to-carol-b"})
    check("an account inserted in PostgreSQL works on both nodes at once",
          new_account)

    # kill -9 of node A while clients send to it: every 250 is kept.
    acked, stop = [], threading.Event()

    def sender(k):
        n = 0
        while not stop.is_set():
            subject = "load-%d-%d" % (k, n)
            n += 1
            try:
                if send(a, user, subject):
                    acked.append(subject)
            except (OSError, smtplib.SMTPException):
                pass
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    dt.wait_for(lambda: len(acked) >= 40, 60, what="40 messages acked")
    killed = a.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    print("nodes: killed %d processes of node A after %d acknowledged "
          "messages" % (killed, len(acked)), flush=True)
    got = subjects(b, user)
    lost = sorted(set(acked) - got)
    report(not lost, "kill -9 of node A loses no acknowledged mail "
           "(%d acknowledged, %d fetched from B, lost: %s)"
           % (len(acked), len(got), lost[:5] or "none"))
    check("node B keeps serving after node A died",
          lambda: send(b, user, "after-kill") and
          "after-kill" in subjects(b, user))


def main():
    if os.geteuid() != 0:
        print("SKIP: nodes test: not root (needs ip netns)")
        return 0
    if not shutil.which("ip") or not os.path.exists(dt.DMAILD):
        print("SKIP: nodes test: ip or %s missing" % dt.DMAILD)
        return 0
    try:
        pg = dc.Postgres()
    except dt.SkipTest as e:
        print("SKIP: nodes test: %s" % e)
        return 0
    tmp = tempfile.mkdtemp(prefix="dmail-nodes-")
    os.chmod(tmp, 0o755)
    nodes = []
    try:
        try:
            netns_up()
        except subprocess.CalledProcessError as e:
            print("SKIP: nodes test: ip netns refused: %s" % e.stderr.strip())
            return 0
        mail, note = shared_storage(tmp)
        print("nodes: mail store: %s" % note, flush=True)
        nodes = [Node("a", pg, mail), Node("b", pg, mail)]
        for n in nodes:
            n.start()
        scenario(nodes[0], nodes[1], pg)
    except Exception as e:
        report(False, "set-up (%s: %s)" % (type(e).__name__, e))
    finally:
        for n in nodes:
            try:
                if n.running():
                    n.stop()
            except Exception:
                pass
            if FAILED:
                print("---- %s log tail ----\n%s" % (n.ns, n.log_tail()))
            shutil.rmtree(n.tmp, ignore_errors=True)
        netns_down()
        pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
