#!/usr/bin/env python3
"""A crashed master can be restarted at once (issue 9, section 3).

SMTP and POP3 sessions are open when the master is killed with SIGKILL.
Their workers give up the listening sockets as soon as the master is
gone and keep only their own connection, so a new dmaild on the same
configuration binds every listener while those sessions are still open,
and greets new clients; the old sessions finish their transactions: a
message sent in the old SMTP session after the master died is delivered
(to the Maildir, durably) and acknowledged, and the old POP3 session
reads and quits normally.

Before the fix the orphaned workers kept their copies of the listeners
and the new dmaild failed with "Address already in use" until the old
sessions ended."""

import os
import poplib
import signal
import smtplib
import subprocess
import time

import dmailtest as dt

USER = "alice@example.test"


def new_master(srv):
    """Start dmaild on srv's configuration; the Popen once it answers on
    the control socket, None if it exited (a listener could not be
    bound)."""
    proc = subprocess.Popen([dt.DMAILD, "-f", "-c", srv.conf_path],
                            stdin=subprocess.DEVNULL, stdout=srv.log,
                            stderr=srv.log, env=srv.env)

    def answered():
        if proc.poll() is not None:
            return "exited"
        r = srv.tell("status")
        return r.returncode == 0 and ("pid %d " % proc.pid) in r.stdout

    state = dt.wait_for(answered, 30, what="new dmaild up or gone")
    return None if state == "exited" else proc


def restart_with_sessions_open(spawn):
    with dt.Server(smtp=True, pop3=True,
                   workers={"smtp": (2, 10, 100), "pop3": (2, 10, 100)},
                   extra="smtp_program %s\npop3_program %s\n"
                   "worker_spawn %s\n" % (dt.SMTPD, dt.POP3D, spawn)) as srv:
        srv.add_user(USER, "secret")
        old_smtp = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30)
        old_smtp.ehlo("old.example")
        old_pop = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
        old_pop.user(USER)
        old_pop.pass_("secret")

        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        killed = time.monotonic()

        # The new master binds at once. A few tries are allowed for a
        # loaded machine (the orphans get the news by a signal), but the
        # old sessions stay open the whole time: the new master must not
        # need them to end.
        proc = None
        tries = 0
        while proc is None:
            tries += 1
            proc = new_master(srv)
            if proc is None:
                assert time.monotonic() - killed < 20, \
                    "new dmaild could not bind with sessions open:\n%s" \
                    % srv.log_tail(20)
                time.sleep(0.1)
        srv.proc = proc
        up = time.monotonic() - killed
        print("new master answering %.3f s after the kill (%d start%s)"
              % (up, tries, "" if tries == 1 else "s"), flush=True)

        # New clients are greeted by the new master's workers.
        s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30)
        assert s.ehlo()[0] == 250
        s.quit()
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
        assert p.getwelcome().startswith(b"+OK")
        p.quit()

        # The old sessions finish what they started.
        old_smtp.mail("bob@example.org")
        old_smtp.rcpt(USER)
        code, _ = old_smtp.data(b"Subject: after the crash\r\n\r\n"
                                b"sent to an orphaned worker\r\n")
        assert code == 250, code
        old_smtp.quit()
        msgs = srv.wait_messages(USER, 1)
        with open(msgs[0], "rb") as f:
            assert b"sent to an orphaned worker" in f.read()
        count, _ = old_pop.stat()
        assert count == 0, count    # its view: the drop as at login
        assert old_pop.quit().startswith(b"+OK")


def test_restart_template():
    restart_with_sessions_open("template")


def test_restart_exec():
    restart_with_sessions_open("exec")


if __name__ == "__main__":
    dt.main([test_restart_template, test_restart_exec])
