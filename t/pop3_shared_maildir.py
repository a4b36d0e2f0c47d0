#!/usr/bin/env python3
"""Two dmaild instances (two nodes, each with its own state_dir) serving
one mail directory, as on shared storage (README "Running several
nodes"): the POP3 maildrop lock (pop3d/maildrop.c, an fcntl OFD lock)
makes the second node answer [IN-USE] while the first holds the
mailbox, both ways, and frees it at QUIT and at kill -9 of the holder.
The cross-host case over NFS is contrib/test-nodes.sh."""

import os
import poplib
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

USER = "alice@example.test"


def login(srv):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
    p.user(USER)
    p.pass_("secret")
    return p


def in_use(srv):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
    p.user(USER)
    try:
        p.pass_("secret")
    except poplib.error_proto as e:
        p.quit()
        return "[IN-USE]" in str(e)
    p.quit()
    return False


def try_login(srv):
    try:
        return login(srv)
    except (poplib.error_proto, OSError):
        return None


def holder_pid(srv, lockpath):
    """The worker of srv with lockpath open."""
    for pid in srv.worker_pids():
        fddir = "/proc/%d/fd" % pid
        try:
            for fd in os.listdir(fddir):
                if os.readlink(os.path.join(fddir, fd)) == lockpath:
                    return pid
        except OSError:
            pass
    return None


def test_second_node_in_use():
    with dt.Server(pop3=True, hostname="a.example.test",
                   extra="pop3_program %s\nnode_name a" % dt.POP3D) as a:
        a.add_user(USER)
        with dt.Server(pop3=True, hostname="b.example.test",
                       extra="pop3_program %s\nnode_name b" % dt.POP3D,
                       start=False) as b:
            os.makedirs(b.state_dir, exist_ok=True)
            os.symlink(os.path.join(a.state_dir, "mail"),
                       os.path.join(b.state_dir, "mail"))
            b.start()
            b.add_user(USER)
            assert os.path.samefile(a.maildir(USER), b.maildir(USER))
            path = os.path.join(a.maildir(USER), "new",
                                "1800000000.M1P1.a.example.test")
            with open(path, "w") as f:
                f.write("Subject: hi\n\nbody\n")
            p = login(a)
            assert p.stat()[0] == 1
            assert in_use(b)
            p.quit()
            q = login(b)
            assert q.stat()[0] == 1
            assert in_use(a)
            # kill -9 of B's worker holding the lock frees it for A.
            lockpath = os.path.join(a.maildir(USER), "dmail-pop3.lock")
            pid = holder_pid(b, os.path.realpath(lockpath)) or \
                holder_pid(b, lockpath)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            q.sock.close()
            p = dt.wait_for(lambda: try_login(a), 10,
                            what="login on A after kill -9 on B")
            assert p.stat()[0] == 1
            p.quit()


if __name__ == "__main__":
    dt.main([test_second_node_in_use])
