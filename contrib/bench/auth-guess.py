#!/usr/bin/env python3
"""auth-guess.py - password guessing against a throw-away dmaild: the
figures of issue 9 section 5.

    DMAIL_BUILDDIR=_build/plain python3 contrib/bench/auth-guess.py [SECONDS]

Runs with the default configuration (auth_throttle_* and
client_connection_rate_limit at their defaults), from loopback:

  guess       one attacker from 127.0.0.1 guessing a victim's POP3
              password as fast as the server answers, SECONDS long
              (default 60): checked guesses per minute (a checked guess
              is one answered "-ERR [AUTH]", i.e. the password was looked
              at; refusals are counted apart)
  owned       the same attacker logging into an account of its own
              after every 3 guesses
  smtp        the attacker guessing over SMTP AUTH PLAIN
  starve      110 guessers from 127.0.0.1 (threads of a second
              process) hammer POP3 while a user logs in from 127.0.0.2
              every second: that user's login times (connect to +OK after
              PASS), median and maximum, and the guessers' checked
              guesses per minute

The same script measures an older build (DMAIL_BUILDDIR pointing at it)
as long as its configuration keys are the same; it passes none.
"""

import base64
import multiprocessing
import os
import smtplib
import socket
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "t"))
import dmailtest as dt  # noqa: E402

USERS = {"victim@example.test": "victim-pw", "mallory@example.test":
         "mallory-pw", "alice@example.test": "alice-pw"}


def pop_login(port, user, password, source=None):
    """ok / failed / refused / error for one USER+PASS on a connection."""
    try:
        s = dt.connect(port, source=source, timeout=120)
        f = s.makefile("rb")
        try:
            f.readline()
            s.sendall(b"USER " + user.encode() + b"\r\n")
            f.readline()
            s.sendall(b"PASS " + password.encode() + b"\r\n")
            line = f.readline()
        finally:
            f.close()
            s.close()
    except OSError:
        return "error"
    if line.startswith(b"+OK"):
        return "ok"
    if line.startswith(b"-ERR [AUTH]"):
        return "failed"
    if line.startswith(b"-ERR [SYS/TEMP]"):
        return "refused"
    return "error"


def smtp_guess(port):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=120)
        s.ehlo("x.example")
        code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0victim\0guess").decode())
        s.close()
    except (OSError, smtplib.SMTPException):
        return "error"
    return {535: "failed", 454: "refused", 235: "ok"}.get(code, "error")


def run_guess(srv, seconds, owned, smtp=False):
    counts = {"failed": 0, "refused": 0, "ok": 0, "error": 0}
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        if smtp:
            r = smtp_guess(srv.port("smtp"))
        else:
            r = pop_login(srv.port("pop3"), "victim", "guess%d" % n)
        counts[r] += 1
        n += 1
        if owned and n % 3 == 0:
            pop_login(srv.port("pop3"), "mallory", "mallory-pw")
    per_min = counts["failed"] * 60.0 / seconds
    return per_min, counts


def guess_forever(port, guessers, stop, checked):
    """In its own process (so the measuring client does not share an
    interpreter lock with 110 threads): guess until stop is set, counting
    checked guesses in checked."""
    def guesser():
        while not stop.is_set():
            if pop_login(port, "victim", "guess") == "failed":
                with checked.get_lock():
                    checked.value += 1

    threads = [threading.Thread(target=guesser, daemon=True)
               for _ in range(guessers)]
    for t in threads:
        t.start()
    stop.wait()


def run_starve(srv, seconds, guessers=110):
    port = srv.port("pop3")
    stop = multiprocessing.Event()
    checked = multiprocessing.Value("l", 0)
    proc = multiprocessing.Process(target=guess_forever,
                                   args=(port, guessers, stop, checked))
    proc.start()
    time.sleep(5)        # let the guessers get going
    start = time.monotonic()
    times, results = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        results.append(pop_login(port, "alice", "alice-pw",
                                 source="127.0.0.2"))
        times.append(time.monotonic() - t0)
        time.sleep(1)
    stop.set()
    per_min = checked.value * 60.0 / (time.monotonic() - start + 5)
    proc.join(180)
    if proc.is_alive():
        proc.kill()
    return times, results, per_min


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    which = sys.argv[2:] or ["guess", "owned", "smtp", "starve"]
    for what in which:
        with dt.Server(smtp=True, pop3=True,
                       extra="smtp_program %s\npop3_program %s\n"
                             % (dt.SMTPD, dt.POP3D)) as srv:
            for u, p in USERS.items():
                srv.add_user(u, p)
            if what == "starve":
                times, results, per_min = run_starve(srv, seconds)
                print("starve: %d logins from 127.0.0.2 (%s), median "
                      "%.3f s, max %.3f s; the 110 guessers got %.1f "
                      "checked guesses per minute" % (
                          len(times), ",".join(sorted(set(results))),
                          statistics.median(times), max(times), per_min),
                      flush=True)
            else:
                per_min, counts = run_guess(srv, seconds, what == "owned",
                                            smtp=what == "smtp")
                print("%s: %.1f checked guesses per minute (%s)"
                      % (what, per_min, counts), flush=True)


if __name__ == "__main__":
    socket.setdefaulttimeout(120)
    main()
