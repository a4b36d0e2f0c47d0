#!/usr/bin/env python3
"""userdb_tool - dmail-user: every command, its exit codes and messages,
file ownership when run as root, import of a passwd-file, and that the
POP3 worker (standalone mode, dmail-pop3d -i) accepts what the tool
wrote: passwords, --hash, foreign hashes, disable/enable, del.
"""

import os
import pwd
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402


def openssl_hash(flag, password):
    """A crypt(3) hash made by another tool (as an admin migrating would)."""
    return subprocess.run(["openssl", "passwd", flag, "-salt", "Xy7salt",
                           password], capture_output=True, text=True,
                          check=True).stdout.strip()


class Env:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="dmail-u-")
        os.chmod(self.tmp, 0o755)
        self.state = os.path.join(self.tmp, "state")
        self.conf = os.path.join(self.tmp, "dmail.conf")
        with open(self.conf, "w") as f:
            f.write("hostname mx.example.test\n"
                    "local_domains example.test other.test\n"
                    "state_dir %s\n" % self.state)
            if dt.RUN_AS:
                f.write("run_as %s\n" % dt.RUN_AS)

    def user(self, *args, stdin=""):
        return subprocess.run([dt.DMAIL_USER, "-c", self.conf] + list(args),
                              input=stdin, capture_output=True, text=True,
                              timeout=60)

    def pop(self, script):
        """One standalone POP3 session; returns the output text."""
        r = subprocess.run([dt.POP3D, "-c", self.conf, "-i"],
                           input=script.encode(), capture_output=True,
                           timeout=60)
        return r.stdout.decode("utf-8", "replace")

    def can_login(self, user, password):
        out = self.pop("USER %s\r\nPASS %s\r\nQUIT\r\n" % (user, password))
        return "+OK maildrop has" in out

    def cleanup(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


def check(r, code, text=None):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    if text is not None:
        assert text in r.stdout + r.stderr, (text, r.stdout, r.stderr)


def with_env(fn):
    def run():
        if not os.path.exists(dt.DMAIL_USER):
            raise dt.SkipTest("dmail-user not built")
        e = Env()
        try:
            fn(e)
        finally:
            e.cleanup()
    run.__name__ = fn.__name__
    return run


@with_env
def test_add_show_list_del(e):
    check(e.user("add", "Alice@Example.Test", stdin="pw one\n"), 0, "added")
    mbox = os.path.join(e.state, "mail", "example.test", "alice")
    for sub in ("cur", "new", "tmp"):
        st = os.stat(os.path.join(mbox, sub))
        assert st.st_mode & 0o777 == 0o700
        if dt.RUN_AS:
            assert st.st_uid == pwd.getpwnam(dt.RUN_AS).pw_uid
    if dt.RUN_AS:
        uid = pwd.getpwnam(dt.RUN_AS).pw_uid
        for n in os.listdir(os.path.join(e.state, "db")):
            assert os.stat(os.path.join(e.state, "db", n)).st_uid == uid, n
    check(e.user("add", "alice@example.test", stdin="x\n"), 4,
          "already exists")
    check(e.user("add", "bob@example.test", "--quota-bytes", "10M",
                 "--quota-messages", "100", stdin="pw two\n"), 0)
    check(e.user("add", "carol@example.test", stdin=""), 5, "no password")
    check(e.user("add", "../x@example.test", stdin="pw\n"), 5, "invalid")
    check(e.user("add", "nodomain", stdin="pw\n"), 5, "invalid")
    check(e.user("add"), 2, "usage")
    # a domain the server does not accept mail for is refused ...
    check(e.user("add", "eve@elsewhere.test", stdin="pw\n"), 5,
          "not in local_domains")
    check(e.user("show", "eve@elsewhere.test"), 3, "no such account")
    # ... unless the operator insists (a domain about to be added)
    check(e.user("add", "eve@elsewhere.test", "--force", stdin="pw\n"), 0,
          "warning")
    check(e.user("passwd", "eve@elsewhere.test", "--force", stdin="x\n"), 2,
          "usage")
    check(e.user("del", "eve@elsewhere.test"), 0, "deleted")
    check(e.user("frobnicate", "a@example.test"), 2, "unknown command")
    check(e.user("add", "d@example.test", "--quota-bytes", "lots",
                 stdin="pw\n"), 5)
    r = e.user("list")
    check(r, 0)
    assert r.stdout == "alice@example.test\nbob@example.test\n", r.stdout
    r = e.user("show", "bob@example.test")
    check(r, 0, "quota_bytes: 10485760")
    assert "quota_messages: 100" in r.stdout
    assert "password: yescrypt" in r.stdout
    assert "enabled: yes" in r.stdout
    check(e.user("show", "nobody@example.test"), 3, "no such account")
    assert e.can_login("alice", "pw one")
    assert e.can_login("bob@example.test", "pw two")
    assert not e.can_login("alice", "pw two")
    check(e.user("del", "bob@example.test"), 0, "deleted")
    check(e.user("del", "bob@example.test"), 3)
    assert not e.can_login("bob@example.test", "pw two")
    assert e.user("list").stdout == "alice@example.test\n"


@with_env
def test_passwd_disable_quota(e):
    check(e.user("add", "alice@example.test", stdin="old\n"), 0)
    check(e.user("passwd", "alice@example.test", stdin="new pass\n"), 0)
    assert e.can_login("alice", "new pass")
    assert not e.can_login("alice", "old")
    check(e.user("passwd", "zed@example.test", stdin="x\n"), 3)
    h = openssl_hash("-6", "hashed")
    check(e.user("passwd", "alice@example.test", "--hash", h), 0)
    assert e.can_login("alice", "hashed")
    assert "sha512" in e.user("show", "alice@example.test").stdout
    check(e.user("passwd", "alice@example.test", "--hash", "plaintext"), 5,
          "crypt")
    check(e.user("disable", "alice@example.test"), 0)
    assert "enabled: no" in e.user("show", "alice@example.test").stdout
    assert "disabled" in e.user("list").stdout
    out = e.pop("USER alice\r\nPASS hashed\r\nQUIT\r\n")
    assert "-ERR [AUTH] account disabled" in out, out
    check(e.user("enable", "alice@example.test"), 0)
    assert e.can_login("alice", "hashed")
    check(e.user("quota", "alice@example.test", "--quota-bytes", "1k"), 0)
    assert "quota_bytes: 1024" in e.user("show", "alice@example.test").stdout
    check(e.user("apop", "alice@example.test", stdin="secret\n"), 0)
    assert "apop: yes" in e.user("show", "alice@example.test").stdout


@with_env
def test_import(e):
    path = os.path.join(e.tmp, "passwd")
    md5 = openssl_hash("-1", "legacy")
    y = openssl_hash("-6", "dovecot")
    with open(path, "w") as f:
        f.write("# a Dovecot passwd-file\n\n"
                "one@example.test:%s\n"
                "Two@Other.Test:%s:1000:1000::/home/two::\n" % (md5, y))
    check(e.user("add", "one@example.test", "--quota-messages", "5",
                 stdin="before\n"), 0)
    check(e.user("import", path), 0, "imported 2 accounts")
    assert e.can_login("one@example.test", "legacy")
    assert e.can_login("two@other.test", "dovecot")
    # Existing account kept its quota, only the hash changed.
    assert "quota_messages: 5" in e.user("show", "one@example.test").stdout
    assert os.path.isdir(os.path.join(e.state, "mail", "other.test", "two",
                                      "new"))
    bad = os.path.join(e.tmp, "bad")
    with open(bad, "w") as f:
        f.write("three@example.test:%s\nno-colon-here\n"
                "four@example.test:notahash\n" % md5)
    r = e.user("import", bad)
    check(r, 5, "2 invalid lines, nothing imported")
    assert ":2:" in r.stderr and ":3:" in r.stderr, r.stderr
    check(e.user("show", "three@example.test"), 3)
    check(e.user("import", os.path.join(e.tmp, "missing")), 1,
          "cannot open")


if __name__ == "__main__":
    dt.main([test_add_show_list_del, test_passwd_disable_quota, test_import])
