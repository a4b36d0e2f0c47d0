#!/usr/bin/env python3
"""dovecot_imap - Dovecot IMAP next to DMail (issue 15): Dovecot, started
by the test on a loopback port with contrib/dovecot/dovecot.conf and its
own base_dir, serves the Maildirs DMail delivers to, with DMail's
accounts exported by "dmail-user export". Over IMAP (Python imaplib):
login works and the messages DMail delivered are there; \\Deleted +
EXPUNGE over IMAP is seen by DMail's POP3; a message retrieved and
deleted over POP3 is gone in IMAP; a message retrieved over POP3 is
\\Seen over IMAP, also after Dovecot moved it to cur/.
"""

import grp
import imaplib
import os
import poplib
import pwd
import shutil
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

TOP_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF_IN = os.path.join(TOP_SRC, "contrib", "dovecot", "dovecot.conf")
PROGRAMS = ("smtp_program %s\npop3_program %s\nclient_connection_limit 0\n"
            "client_connection_rate_limit 0\n" % (dt.SMTPD, dt.POP3D))
MSG = "From: a@remote.test\r\nSubject: imap %d\r\n\r\nbody %d\r\n"


class Dovecot:
    def __init__(self, srv):
        if not os.path.exists("/usr/sbin/dovecot"):
            raise dt.SkipTest("dovecot not installed (dovecot-imapd)")
        if os.geteuid() != 0:
            raise dt.SkipTest("needs root (Dovecot switches to the "
                              "Maildirs' owner)")
        self.dir = os.path.join(srv.tmp, "dovecot")
        os.makedirs(self.dir)
        self.users = os.path.join(self.dir, "users")
        out = srv.dmail_user("export").stdout
        with open(self.users, "w") as f:
            f.write(out)
        os.chmod(self.users, 0o644)
        self.port = dt.free_port()
        user = dt.RUN_AS or pwd.getpwuid(os.geteuid()).pw_name
        pw = pwd.getpwnam(user)
        text = open(CONF_IN).read()
        for k, v in (("BASE_DIR", os.path.join(self.dir, "run")),
                     ("STATE_DIR", os.path.join(self.dir, "state")),
                     ("LOG_PATH", os.path.join(self.dir, "dovecot.log")),
                     ("USERS_FILE", self.users),
                     ("MAIL_USER", user),
                     ("MAIL_GROUP", grp.getgrgid(pw.pw_gid).gr_name),
                     ("IMAP_PORT", str(self.port))):
            text = text.replace("@%s@" % k, v)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        subprocess.run(["/usr/sbin/dovecot", "-c", self.conf], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.pidfile = os.path.join(self.dir, "run", "master.pid")
        dt.wait_for(lambda: dt.port_listening(self.port), 20,
                    what="dovecot listening")

    def stop(self):
        try:
            pid = int(open(self.pidfile).read().split()[0])
        except (OSError, ValueError):
            return
        os.kill(pid, 15)
        dt.wait_for(lambda: not os.path.exists("/proc/%d" % pid), 20,
                    what="dovecot stopped")

    def log(self):
        try:
            return open(os.path.join(self.dir, "dovecot.log")).read()
        except OSError:
            return ""


def test_imap_and_pop3_share_mailboxes():
    with dt.Server(smtp=True, pop3=True, extra=PROGRAMS) as srv:
        srv.add_user("ann@example.test", "pw-ann")
        with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=20) as s:
            for i in range(3):
                s.sendmail("a@remote.test", ["ann@example.test"],
                           MSG % (i, i))
        srv.wait_messages("ann@example.test", 3)
        dc = Dovecot(srv)
        try:
            m = imaplib.IMAP4("127.0.0.1", dc.port)
            m.login("ann@example.test", "pw-ann")
            typ, data = m.select("INBOX")
            assert typ == "OK" and int(data[0]) == 3, (typ, data)
            typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert b"imap 0" in data[0][1], data
            # IMAP deletes message 1: POP3 sees two.
            m.store("1", "+FLAGS", "\\Deleted")
            m.expunge()
            p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=20)
            p.user("ann@example.test")
            p.pass_("pw-ann")
            assert p.stat()[0] == 2, p.stat()
            # POP3 retrieves and deletes one: IMAP sees one.
            p.retr(1)
            p.dele(1)
            p.quit()
            m.noop()
            typ, data = m.select("INBOX")
            assert int(data[0]) == 1, data
            typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert b"imap 2" in data[0][1], data
            # POP3 RETR of the last one: \\Seen over IMAP.
            p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=20)
            p.user("ann@example.test")
            p.pass_("pw-ann")
            p.retr(1)
            p.quit()
            m.select("INBOX")
            typ, data = m.fetch("1", "(FLAGS)")
            m.logout()
            assert b"\\Seen" in data[0], data
        except Exception:
            sys.stderr.write(dc.log())
            raise
        finally:
            dc.stop()


if __name__ == "__main__":
    dt.main([test_imap_and_pop3_share_mailboxes])
