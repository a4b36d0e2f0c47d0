#!/usr/bin/env python3
"""auth_penalty - password guessing and connection floods against a real
dmaild (SMTP and POP3 workers), through the shared per-client table
(common/clienttab.h).

- An attacker who owns one account and logs into it between guesses is
  still blocked: a success clears only that account's count.
- SMTP AUTH guessing (PLAIN and LOGIN) is penalised: refused with 454
  4.7.0 without checking, and the session closed with 421 4.7.0 after a
  few refusals.
- Failures over POP3 count against SMTP AUTH and the other way round.
- While many guessers from 127.0.0.1 hammer, their attempts are answered
  at once with a refusal, and a user logging in from 127.0.0.2 succeeds.
- client_connection_rate_limit refuses the excess connections of an
  address with 421 4.7.0 / -ERR [SYS/TEMP]; client_limit_exempt skips it.

Nothing here is timed: every assertion is about replies. Where a block
may lapse on a slow machine (it lasts 1, 2, 4 ... s), the assertions
leave room for that.
"""

import base64
import os
import re
import smtplib
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
from master_common import SANITIZER_MARKS  # noqa: E402
from pop3_session import Raw as Pop  # noqa: E402

DOMAIN = "example.test"
VICTIM = "victim@" + DOMAIN
MALLORY = "mallory@" + DOMAIN
ALICE = "alice@" + DOMAIN


def server(extra="", workers=None):
    srv = dt.Server(smtp=True, pop3=True,
                    workers=workers or {"smtp": (2, 10, 1000),
                                        "pop3": (2, 10, 1000)},
                    extra="smtp_program %s\npop3_program %s\n%s"
                          % (dt.SMTPD, dt.POP3D, extra))
    try:
        for user in (VICTIM, MALLORY, ALICE):
            srv.add_user(user, "pw-" + user.split("@")[0])
    except BaseException:
        srv.__exit__(*sys.exc_info())
        raise
    return srv


def pop_reply(line):
    if line.startswith(b"+OK"):
        return "ok"
    if line.startswith(b"-ERR [SYS/TEMP]"):
        return "refused"
    if line.startswith(b"-ERR [AUTH]"):
        return "failed"
    raise AssertionError("unexpected POP3 reply %r" % line)


def pop_login(port, user, password, source=None):
    """One USER/PASS on a new connection: ok, failed or refused."""
    p = Pop(port, source=source)
    try:
        assert p.greeting.startswith(b"+OK"), p.greeting
        assert p.cmd("USER " + user).startswith(b"+OK")
        return pop_reply(p.cmd("PASS " + password))
    finally:
        p.close()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def smtp_auth(s, user, password, mech):
    """One AUTH exchange on an open smtplib connection: the final code."""
    if mech == "PLAIN":
        code, _ = s.docmd("AUTH", "PLAIN " + b64("\0%s\0%s" % (user,
                                                                 password)))
        return code
    code, _ = s.docmd("AUTH", "LOGIN")
    if code == 334:
        code, _ = s.docmd(b64(user))
    if code == 334:
        code, _ = s.docmd(b64(password))
    return code


SMTP_RESULT = {235: "ok", 535: "failed", 454: "refused"}


def smtp_login(port, user, password, mech="PLAIN", source=None):
    s = smtplib.SMTP("127.0.0.1", port, timeout=60,
                     source_address=(source, 0) if source else None)
    try:
        s.ehlo("client.example")
        code = smtp_auth(s, user, password, mech)
        assert code in SMTP_RESULT, code
        return SMTP_RESULT[code]
    finally:
        s.close()


def test_owned_account_gains_nothing():
    # Today's flaw: any success from the address reset its count, so
    # logging into an owned account after every few guesses was never
    # slowed down. 10 rounds of 3 guesses + 1 own login: 30 guesses.
    with server("auth_throttle_failures 3\nauth_throttle_max_delay 60\n"
                "auth_throttle_account_failures 0\n") as srv:
        port = srv.port("pop3")
        checked = refused = own_refused = 0
        for _ in range(10):
            for _ in range(3):
                r = pop_login(port, "victim", "guess")
                checked += r == "failed"
                refused += r == "refused"
            r = pop_login(port, "mallory", "pw-mallory")
            assert r in ("ok", "refused"), r
            own_refused += r == "refused"
        # 3 checked guesses, then one more each time a block (1, 2, 4 ...
        # s) lapses: a handful at most, where the old code checked all 30.
        assert checked <= 10, (checked, refused)
        assert refused >= 20, (checked, refused)
        # The owned account is refused too while its address is blocked.
        assert own_refused >= 1
        log = srv.log_text()
        assert re.search(r"dmail-pop3d\[\d+\]: action=auth sid=\S+ "
                         r"client=\S+ user=\S+ status=refused "
                         r"reason=client-failures", log), log


def test_smtp_auth_guessing_is_penalised():
    with server("auth_throttle_failures 3\nauth_throttle_max_delay 60\n"
                "auth_throttle_account_failures 0\n") as srv:
        port = srv.port("smtp")
        results = [smtp_login(port, "victim", "guess",
                              mech=("PLAIN", "LOGIN")[i % 2])
                   for i in range(12)]
        checked = results.count("failed")
        assert checked <= 7, results
        assert results.count("refused") >= 5, results
        # A right password is refused unchecked as well.
        assert "refused" in [smtp_login(port, "alice", "pw-alice")
                             for _ in range(3)]
        # Refusals in one session end it: 421 4.7.0 and close.
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo("client.example")
        for _ in range(20):
            code = smtp_auth(s, "victim", "guess", "PLAIN")
            if code == 421:
                break
        assert code == 421, code
        try:
            s.noop()
            closed = False
        except smtplib.SMTPServerDisconnected:
            closed = True
        assert closed
        assert "status=refused reason=client-failures" in srv.log_text()


def test_penalty_shared_by_smtp_and_pop3():
    # Alternate protocols: neither alone reaches the threshold of 4 before
    # the first refusal on it.
    with server("auth_throttle_failures 4\nauth_throttle_max_delay 60\n"
                "auth_throttle_account_failures 0\n") as srv:
        checked = {"pop3": 0, "smtp": 0}
        first_refusal = {}
        for i in range(16):
            proto = ("pop3", "smtp")[i % 2]
            if proto == "pop3":
                r = pop_login(srv.port("pop3"), "victim", "guess")
            else:
                r = smtp_login(srv.port("smtp"), "victim", "guess")
            if r == "failed":
                checked[proto] += 1
            elif proto not in first_refusal:
                first_refusal[proto] = checked[proto]
            if len(first_refusal) == 2:
                break
        assert set(first_refusal) == {"pop3", "smtp"}, (first_refusal,
                                                        checked)
        assert first_refusal["pop3"] < 4 and first_refusal["smtp"] < 4, \
            (first_refusal, checked)


def test_account_penalty_across_addresses():
    # Guesses on one account from several addresses; the victim's account
    # is blocked, other accounts are not.
    with server("auth_throttle_failures 100\nauth_throttle_max_delay 60\n"
                "auth_throttle_account_failures 3\n") as srv:
        port = srv.port("pop3")
        results = [pop_login(port, "victim", "guess",
                             source="127.0.0.%d" % (10 + i))
                   for i in range(8)]
        assert results.count("failed") <= 6, results
        assert "refused" in results, results
        assert pop_login(port, "alice", "pw-alice",
                         source="127.0.0.30") == "ok"
        assert "reason=account-failures" in srv.log_text()


def test_parallel_guessers_do_not_starve_others():
    # 40 guessers from 127.0.0.1 on a pool of at most 20 POP3 workers.
    # No connection rate limit: the login penalty alone must do it.
    with server("auth_throttle_failures 3\nauth_throttle_max_delay 30\n"
                "client_connection_rate_limit 0\n",
                workers={"smtp": (2, 20, 1000),
                         "pop3": (2, 20, 1000)}) as srv:
        port = srv.port("pop3")
        stop = threading.Event()
        counts = {"failed": 0, "refused": 0, "ok": 0, "error": 0}
        lock = threading.Lock()

        def guesser():
            while not stop.is_set():
                try:
                    p = Pop(port)
                    for _ in range(3):
                        p.cmd("USER victim")
                        r = pop_reply(p.cmd("PASS guess"))
                        with lock:
                            counts[r] += 1
                    p.close()
                except (OSError, AssertionError):
                    with lock:
                        counts["error"] += 1

        threads = [threading.Thread(target=guesser, daemon=True)
                   for _ in range(40)]
        for t in threads:
            t.start()
        try:
            # The guessers' attempts are answered with refusals (the old
            # code made each of them wait in a worker instead).
            dt.wait_for(lambda: counts["refused"] >= 200, timeout=120,
                        what="refusals to the guessers")
            # Meanwhile a user from another address logs in, over POP3
            # and SMTP AUTH.
            assert pop_login(port, "alice", "pw-alice",
                             source="127.0.0.2") == "ok"
            assert smtp_login(srv.port("smtp"), "alice", "pw-alice",
                              source="127.0.0.2") == "ok"
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        assert counts["failed"] < counts["refused"], counts
        srv.stop()
        log = srv.log_text()
        assert not [m for m in SANITIZER_MARKS if m in log], log


def connect_greeted(port, source, greeting):
    """Connect from source; True when the first line starts with greeting,
    False when it is a refusal and the server then closes."""
    s = dt.connect(port, source=source)
    try:
        line = dt.recv_line(s)
        if line.startswith(greeting):
            return True
        assert line.startswith(b"421 4.7.0 ") or \
            line.startswith(b"-ERR [SYS/TEMP] "), line
        assert dt.recv_line(s) == b""
        return False
    finally:
        s.close()


def test_connection_rate_limit():
    with server("client_connection_rate_limit 3\n"
                "client_limit_exempt 127.0.0.3\n") as srv:
        smtp, pop3 = srv.port("smtp"), srv.port("pop3")
        # SMTP from 127.0.0.1: three greetings, then 421 4.7.0 and close.
        assert [connect_greeted(smtp, "127.0.0.1", b"220 ")
                for _ in range(4)] == [True, True, True, False]
        # The bucket is per address, shared by the protocols: POP3 from
        # 127.0.0.1 is refused too, 127.0.0.2 has its own.
        assert not connect_greeted(pop3, "127.0.0.1", b"+OK")
        assert [connect_greeted(pop3, "127.0.0.2", b"+OK")
                for _ in range(4)] == [True, True, True, False]
        # An exempt address is never limited.
        assert all(connect_greeted(smtp, "127.0.0.3", b"220 ")
                   for _ in range(8))
        log = srv.log_text()
        assert re.search(r"action=refuse sid=\S+ client=127\.0\.0\.1 "
                         r"role=smtp reason=client_connection_rate_limit "
                         r"limit=3 refused=1", log), log


if __name__ == "__main__":
    dt.main([test_owned_account_gains_nothing,
             test_smtp_auth_guessing_is_penalised,
             test_penalty_shared_by_smtp_and_pop3,
             test_account_penalty_across_addresses,
             test_parallel_guessers_do_not_starve_others,
             test_connection_rate_limit])
