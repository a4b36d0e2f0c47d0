#!/usr/bin/env python3
"""userdb_faults - the account database on a bad day, through the real
server (issue 9, section 2):

- full disk: state_dir on a small tmpfs filled to the last byte. POP3
  logins work (and DELE+QUIT frees space), a local RCPT gets 250 and its
  DATA 452 4.3.1 with no partial file, dmail-user list/show work, and
  dmail-user add fails with a clear message, leaving users.db as it was
  and no temporary file; once space is freed new mail and accounts are
  accepted.
- workers killed: many short SMTP and POP3 sessions in parallel while
  random workers are killed with SIGKILL; no reply anywhere is a
  temporary failure (4xx, -ERR [SYS/TEMP]): a session either completes
  or was cut by the kill.
- a writer at work: dmail-user changes accounts again and again while
  lookups run; each lookup sees the old or the new record, never an
  error.

Needs root for the tmpfs mount (the full-disk test skips otherwise).
"""

import errno
import hashlib
import os
import poplib
import random
import signal
import smtplib
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

MSG = "From: a@remote.test\r\nSubject: t\r\n\r\nhello\r\n"
TEMP_MARKERS = ("[SYS/TEMP]",)
# Many sessions a second from loopback: the per-address limits are not
# what these tests are about.
PROGRAMS = ("smtp_program %s\npop3_program %s\nclient_connection_limit 0\n"
            "client_connection_rate_limit 0\n" % (dt.SMTPD, dt.POP3D))


def fill_disk(path):
    """Write a file at path until the file system is full."""
    block = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(block)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
        # The last partial block too.
        for size in (4096, 512, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break


def mount_tmpfs(path, size_mb):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%dm,mode=0755" % size_mb, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise dt.SkipTest("cannot mount tmpfs: %s" % r.stderr.strip())


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pop_login(srv, user, password="secret"):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
    p.user(user)
    p.pass_(password)
    return p


def test_full_disk():
    if not dt.IS_ROOT:
        raise dt.SkipTest("needs root to mount a tmpfs")
    srv = dt.Server(smtp=True, pop3=True, start=False, extra=PROGRAMS,
                    workers={"smtp": (2, 20, 1000), "pop3": (2, 20, 1000)})
    mount_tmpfs(srv.state_dir, 16)
    try:
        with srv:
            srv.start()
            srv.add_user("alice@example.test")
            srv.add_user("bob@example.test")
            s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30)
            for _ in range(3):
                s.sendmail("a@remote.test", ["alice@example.test"],
                           MSG + ("x" * 70 + "\r\n") * 300)
            s.quit()
            srv.wait_messages("alice@example.test", 3)
            db = os.path.join(srv.state_dir, "db")
            users_db = os.path.join(db, "users.db")
            before = sha(users_db)
            fill = os.path.join(srv.state_dir, "fill")
            fill_disk(fill)

            # Local RCPT: 250; DATA: 452 4.3.1, nothing half written.
            new_before = srv.maildir_messages("alice@example.test")
            s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30)
            s.ehlo()
            assert s.mail("a@remote.test")[0] == 250
            code, text = s.rcpt("alice@example.test")
            assert code == 250, (code, text)
            code, text = s.rcpt("bob@example.test")
            assert code == 250, (code, text)
            code, text = s.rcpt("nobody-here@example.test")
            assert code == 550, (code, text)
            code, text = s.data(MSG.encode())
            assert code == 452 and b"4.3.1" in text, (code, text)
            s.quit()
            assert srv.maildir_messages("alice@example.test") == new_before
            tmpdir = os.path.join(srv.maildir("alice@example.test"), "tmp")
            assert os.listdir(tmpdir) == [], os.listdir(tmpdir)

            # Workers killed on the full disk (one in a logged-in
            # session) take no logins with them.
            held = pop_login(srv, "bob@example.test")
            for pid in srv.worker_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                held.quit()
            except (poplib.error_proto, OSError, EOFError):
                pass

            # POP3: logins work on the full disk.
            for _ in range(5):
                p = pop_login(srv, "bob@example.test")
                assert p.stat()[0] == 0
                p.quit()
            # The tool reads, and refuses to change, cleanly.
            r = srv.dmail_user("list")
            assert "alice@example.test" in r.stdout, r.stdout
            r = srv.dmail_user("show", "bob@example.test")
            assert "enabled: yes" in r.stdout, r.stdout
            r = srv.dmail_user("add", "carol@example.test",
                               stdin="pw\n", check=False)
            assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
            assert "No space left on device" in r.stderr, r.stderr
            assert sha(users_db) == before
            left = [n for n in os.listdir(db) if n.startswith("users.db.")]
            assert left == [], left
            r = srv.dmail_user("show", "carol@example.test", check=False)
            assert r.returncode == 3, (r.returncode, r.stderr)

            # ... and DELE+QUIT frees space.
            p = pop_login(srv, "alice@example.test")
            count = p.stat()[0]
            assert count == 3, count
            p.dele(1)
            p.quit()
            assert len(srv.maildir_messages("alice@example.test")) == 2

            # Space back: mail and account changes work again.
            os.unlink(fill)
            s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30)
            s.sendmail("a@remote.test", ["alice@example.test"], MSG)
            s.quit()
            srv.wait_messages("alice@example.test", 3)
            srv.add_user("carol@example.test", "pw")
            p = pop_login(srv, "carol@example.test", "pw")
            p.quit()
            assert "SIGBUS" not in srv.log_text()
    finally:
        umount(srv.state_dir)


class Load:
    """Short SMTP (EHLO, MAIL, RCPT, RSET, QUIT) and POP3 (USER, PASS,
    QUIT) sessions from several threads until stopped. Any temporary
    failure reply is recorded; a session cut short (EOF, reset) is only
    counted."""

    def __init__(self, srv, users, threads=12, rcpt_extra=()):
        self.srv = srv
        self.users = users
        self.rcpt_extra = list(rcpt_extra)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.ok = 0
        self.cut = 0
        self.threads = [threading.Thread(target=self.run, args=(i,))
                        for i in range(threads)]

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def smtp_session(self, rnd):
        s = smtplib.SMTP("127.0.0.1", self.srv.port("smtp"), timeout=30)
        code, text = s.ehlo()
        if code != 250:
            self.fail(("EHLO", code, text))
        s.mail("a@remote.test")
        for rcpt in rnd.sample(self.users, 2) + self.rcpt_extra:
            code, text = s.rcpt(rcpt)
            if 400 <= code < 500:
                self.fail(("RCPT", rcpt, code, text))
            elif code != 250 and rcpt in self.users:
                self.fail(("RCPT", rcpt, code, text))
        s.rset()
        s.quit()

    def pop_session(self, i):
        # One mailbox per thread: a second login would get [IN-USE].
        user = self.users[i % len(self.users)]
        p = poplib.POP3("127.0.0.1", self.srv.port("pop3"), timeout=30)
        try:
            p.user(user)
            p.pass_("secret")
        except poplib.error_proto as e:
            if "EOF" in str(e):
                raise ConnectionError("cut: %s" % e)
            self.fail(("PASS", user, str(e)))
            return
        p.quit()

    def run(self, i):
        rnd = random.Random(i)
        while not self.stop.is_set():
            try:
                if rnd.random() < 0.5:
                    self.smtp_session(rnd)
                else:
                    self.pop_session(i)
                with self.lock:
                    self.ok += 1
            except smtplib.SMTPConnectError as e:
                # 421 at the greeting is a temporary failure too.
                self.fail(("greeting", str(e)))
            except (smtplib.SMTPServerDisconnected, ConnectionError,
                    EOFError, poplib.error_proto, OSError) as e:
                if any(m in str(e) for m in TEMP_MARKERS):
                    self.fail(("POP3", str(e)))
                with self.lock:
                    self.cut += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return False


def test_kill_workers():
    users = ["u%d@example.test" % i for i in range(12)]
    with dt.Server(smtp=True, pop3=True, extra=PROGRAMS,
                   workers={"smtp": (4, 60, 20), "pop3": (4, 60, 20)}) as srv:
        for u in users:
            srv.add_user(u)
        kills = 0
        rnd = random.Random(9)
        with Load(srv, users) as load:
            dt.wait_for(lambda: load.ok >= 20, 60, what="first sessions")
            while kills < 60:
                pids = srv.worker_pids()
                if not pids:
                    continue
                try:
                    os.kill(rnd.choice(pids), signal.SIGKILL)
                    kills += 1
                except OSError:
                    pass
                # Let some sessions start between kills.
                seen = load.ok
                dt.wait_for(lambda: load.ok >= seen + 2, 60,
                            what="sessions after a kill")
        print("kill test: %d kills, %d sessions completed, %d cut, "
              "%d temporary failures" % (kills, load.ok, load.cut,
                                         len(load.failures)))
        assert load.failures == [], load.failures[:10]
        assert "run recovery" not in srv.log_text().lower()


def test_concurrent_writer():
    users = ["w%d@example.test" % i for i in range(8)]
    with dt.Server(smtp=True, pop3=True, extra=PROGRAMS,
                   workers={"smtp": (4, 40, 20), "pop3": (4, 40, 20)}) as srv:
        for u in users:
            srv.add_user(u)
        changes = 0
        # The changing account gets 250 or 550, never 4xx.
        with Load(srv, users, threads=8,
                  rcpt_extra=["flip@example.test"]) as load:
            dt.wait_for(lambda: load.ok >= 10, 60, what="first sessions")
            for i in range(20):
                if i % 2 == 0:
                    srv.add_user("flip@example.test", "x")
                else:
                    srv.dmail_user("del", "flip@example.test")
                srv.dmail_user("quota", users[i % len(users)],
                               "--quota-bytes", str(1000000 + i))
                changes += 2
                seen = load.ok
                dt.wait_for(lambda: load.ok >= seen + 2, 60,
                            what="sessions after a change")
        print("writer test: %d changes, %d sessions, %d temporary "
              "failures" % (changes, load.ok, len(load.failures)))
        assert load.failures == [], load.failures[:10]
        assert load.cut == 0, load.cut
        r = srv.dmail_user("show", users[19 % len(users)])
        assert "quota_bytes: 1000019" in r.stdout, r.stdout


if __name__ == "__main__":
    dt.main([test_full_disk, test_kill_workers, test_concurrent_writer])
