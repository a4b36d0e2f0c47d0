#!/usr/bin/env python3
"""userdb_pgsql - accounts in PostgreSQL (issue 15), against a real
throw-away cluster (t/directory_common.py):

- RCPT to an account in the table is accepted and the message delivered
  to its Maildir; POP3 login with its password works and sees it; an
  unknown user gets 550; a disabled one 550 5.2.1.
- the server stopped mid-run: RCPT gets 451 4.3.0, POP3 -ERR [SYS/TEMP],
  AUTH 454, never "no such user"; once it is back, the same worker
  reconnects and answers normally.
- the cache: with a TTL, an account removed from the table is still
  served until the TTL ends, then refused.
- dmail-user add, show, list, passwd, del and import work on the table;
  add takes a domain of the table domains as local.
- local domains, aliases and forwards in the tables domains and aliases
  (directory_common.routing_cases).
"""

import os
import poplib
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import directory_common as dc  # noqa: E402

MSG = "From: a@remote.test\r\nSubject: pg\r\n\r\nhello pg\r\n"
NOCACHE = "userdb_cache_ttl 0\nuserdb_cache_negative_ttl 0\nuserdb_timeout 3\n"
PROGRAMS = ("smtp_program %s\npop3_program %s\nclient_connection_limit 0\n"
            "client_connection_rate_limit 0\n" % (dt.SMTPD, dt.POP3D))


def rcpt(srv, address):
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=20) as s:
        s.ehlo("client.test")
        s.mail("a@remote.test")
        return s.rcpt(address)


def send(srv, address):
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=20) as s:
        s.sendmail("a@remote.test", [address], MSG)


def pop_login(srv, user, password):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=20)
    try:
        p.user(user)
        p.pass_(password)
        return p.stat()
    finally:
        try:
            p.quit()
        except Exception:
            pass


def pop_error(srv, user, password):
    try:
        pop_login(srv, user, password)
    except poplib.error_proto as e:
        return e.args[0].decode()
    return None


def test_accounts_and_delivery():
    with dc.Postgres() as pg:
        pg.add_user("alice@example.test", "pw-alice")
        pg.add_user("off@example.test", "pw-off", enabled=False)
        with dt.Server(smtp=True, pop3=True,
                       extra=pg.conf() + NOCACHE + PROGRAMS) as srv:
            send(srv, "alice@example.test")
            srv.wait_messages("alice@example.test", 1)
            assert pop_login(srv, "alice@example.test", "pw-alice")[0] == 1
            assert "[AUTH]" in pop_error(srv, "alice@example.test", "bad")
            code, _ = rcpt(srv, "nobody@example.test")
            assert code == 550, code
            code, text = rcpt(srv, "off@example.test")
            assert code == 550 and b"5.2.1" in text, (code, text)


def test_one_resolution_per_rcpt():
    """With the cache off, one message asks the directory each question
    once: the RCPT check and the recording of the recipient share one
    set of answers (userdb_hold()), so the recipient cannot change
    between the two steps, and the expansion does not ask twice what it
    already asked (it asked everything twice before)."""
    with dc.Postgres() as pg:
        pg.add_user("once@example.test", "pw-once")
        with dt.Server(smtp=True, extra=pg.conf() + NOCACHE + PROGRAMS) \
                as srv:
            log = os.path.join(pg.tmp, "postgres.log")
            pg.psql_admin("ALTER SYSTEM SET log_statement = 'all'",
                          db="postgres")
            pg.psql_admin("SELECT pg_reload_conf()", db="postgres")

            def text():
                with open(log, errors="replace") as f:
                    return f.read()

            def marker_logged():
                pg.psql_admin("SELECT 'dmail-log-marker'", db="postgres")
                return "dmail-log-marker" in text()
            dt.wait_for(marker_logged, 30, what="statements logged")
            start = len(text())
            send(srv, "once@example.test")
            srv.wait_messages("once@example.test", 1)
            # (statement, parameters) pairs the message cost.
            asked, stmt = [], None
            for line in text()[start:].splitlines():
                if "LOG:  execute" in line:
                    stmt = line.split(": ", 2)[-1]
                elif "DETAIL:  parameters:" in line and stmt is not None:
                    asked.append((stmt, line.split("parameters: ", 1)[1]))
                    stmt = None
            mine = [q for q in asked if "'once@example.test'" in q[1]]
            assert mine, asked
            assert len(mine) == len(set(mine)), mine


def test_server_down_and_back():
    with dc.Postgres() as pg:
        pg.add_user("bob@example.test", "pw-bob")
        with dt.Server(smtp=True, pop3=True,
                       workers={"smtp": (1, 1, 1000), "pop3": (1, 1, 1000)},
                       extra=pg.conf() + NOCACHE + PROGRAMS) as srv:
            assert rcpt(srv, "bob@example.test")[0] == 250
            pg.stop()
            code, text = rcpt(srv, "bob@example.test")
            assert code == 451 and b"4.3.0" in text, (code, text)
            assert rcpt(srv, "nobody@example.test")[0] == 451
            err = pop_error(srv, "bob@example.test", "pw-bob")
            assert err is not None and "[SYS/TEMP]" in err, err
            assert "event=userdb-failed backend=pgsql" in srv.log_text()
            pg.start()
            dt.wait_for(lambda: rcpt(srv, "bob@example.test")[0] == 250,
                        20, what="RCPT accepted again")
            assert rcpt(srv, "nobody@example.test")[0] == 550
            assert pop_login(srv, "bob@example.test", "pw-bob")[0] == 0


def test_cache_ttl():
    with dc.Postgres() as pg:
        pg.add_user("carol@example.test", "pw-carol")
        with dt.Server(smtp=True,
                       workers={"smtp": (1, 1, 1000)},
                       extra=pg.conf() + PROGRAMS + "userdb_cache_ttl 3\n"
                       "userdb_cache_negative_ttl 0\n") as srv:
            assert rcpt(srv, "carol@example.test")[0] == 250
            pg.psql_admin("DELETE FROM users")
            # Still in the worker's cache ...
            assert rcpt(srv, "carol@example.test")[0] == 250
            # ... until the TTL ends.
            dt.wait_for(lambda: rcpt(srv, "carol@example.test")[0] == 550,
                        15, what="cache entry expired")


def test_dmail_user():
    with dc.Postgres() as pg:
        with dt.Server(extra=pg.conf() + NOCACHE, start=False) as srv:
            srv.dmail_user("add", "dave@example.test", stdin="pw1\n")
            out = srv.dmail_user("show", "dave@example.test").stdout
            assert "dave@example.test" in out, out
            rows = pg.psql_admin("SELECT address, enabled FROM users")
            assert "dave@example.test" in rows, rows
            srv.dmail_user("disable", "dave@example.test")
            rows = pg.psql_admin("SELECT enabled FROM users")
            assert " f" in rows, rows
            imp = os.path.join(srv.tmp, "import.txt")
            with open(imp, "w") as f:
                f.write("erin@example.test:%s\nfrank@example.test:%s\n"
                        % (dc.crypt_hash("e"), dc.crypt_hash("f")))
            srv.dmail_user("import", imp)
            out = srv.dmail_user("list").stdout
            for a in ("dave@", "erin@", "frank@"):
                assert a in out, out
            srv.dmail_user("del", "erin@example.test")
            assert "erin@" not in srv.dmail_user("list").stdout
            r = srv.dmail_user("show", "erin@example.test", check=False)
            assert r.returncode == 3, r
            # A domain of the table domains counts as local for add.
            r = srv.dmail_user("add", "gus@dir.test", stdin="pw\n",
                               check=False)
            assert r.returncode == 5, r
            pg.add_domain("dir.test")
            srv.dmail_user("add", "gus@dir.test", stdin="pw\n")


def test_domains_and_aliases():
    with dc.Postgres() as pg:
        dc.routing_cases(pg)


if __name__ == "__main__":
    dt.main([test_accounts_and_delivery, test_one_resolution_per_rcpt,
             test_server_down_and_back,
             test_cache_ttl, test_dmail_user, test_domains_and_aliases])
