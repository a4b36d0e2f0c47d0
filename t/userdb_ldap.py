#!/usr/bin/env python3
"""userdb_ldap - accounts in OpenLDAP (issue 15), against a real
throw-away slapd (t/directory_common.py):

- RCPT to an account's mail and mailAlternateAddress is accepted and
  delivered to one Maildir (the one of its mail address); POP3 login with
  the {CRYPT} password works; an unknown user gets 550; accountStatus
  disabled gets 550 5.2.1; a filter value with LDAP special characters
  is escaped (no match, not an error, not a wildcard).
- slapd stopped mid-run: 451 4.3.0 / -ERR [SYS/TEMP]; back: normal.
- an entry added with ldapadd is served at once (negative TTL 0).
- dmail-user list/show read the directory; add is refused (read-only).
- local domains (associatedDomain), aliases and forwards
  (mailForwardingAddress) in the directory (directory_common.routing_cases).
"""

import os
import poplib
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import directory_common as dc  # noqa: E402
from userdb_pgsql import rcpt, send, pop_login, pop_error  # noqa: E402

NOCACHE = "userdb_cache_ttl 0\nuserdb_cache_negative_ttl 0\nuserdb_timeout 3\n"
PROGRAMS = ("smtp_program %s\npop3_program %s\nclient_connection_limit 0\n"
            "client_connection_rate_limit 0\n" % (dt.SMTPD, dt.POP3D))


def test_accounts_and_delivery():
    with dc.Slapd() as ld:
        ld.load(ld.user_ldif("alice@example.test", "pw-alice",
                             alt=["al@example.test"]),
                ld.user_ldif("off@example.test", "pw-off", status="disabled"))
        ld.start()
        with dt.Server(smtp=True, pop3=True,
                       extra=ld.conf() + NOCACHE + PROGRAMS) as srv:
            send(srv, "alice@example.test")
            send(srv, "al@example.test")
            srv.wait_messages("alice@example.test", 2)
            assert pop_login(srv, "alice@example.test", "pw-alice")[0] == 2
            assert "[AUTH]" in pop_error(srv, "alice@example.test", "bad")
            assert rcpt(srv, "nobody@example.test")[0] == 550
            assert rcpt(srv, "a*@example.test")[0] == 550
            code, text = rcpt(srv, "off@example.test")
            assert code == 550 and b"5.2.1" in text, (code, text)
            ld.ldapadd(ld.user_ldif("new@example.test", "pw-new"))
            assert rcpt(srv, "new@example.test")[0] == 250


def test_server_down_and_back():
    with dc.Slapd() as ld:
        ld.load(ld.user_ldif("bob@example.test", "pw-bob"))
        ld.start()
        with dt.Server(smtp=True, pop3=True,
                       workers={"smtp": (1, 1, 1000), "pop3": (1, 1, 1000)},
                       extra=ld.conf() + NOCACHE + PROGRAMS) as srv:
            assert rcpt(srv, "bob@example.test")[0] == 250
            ld.stop()
            code, text = rcpt(srv, "bob@example.test")
            assert code == 451 and b"4.3.0" in text, (code, text)
            err = pop_error(srv, "bob@example.test", "pw-bob")
            assert err is not None and "[SYS/TEMP]" in err, err
            assert "event=userdb-failed backend=ldap" in srv.log_text()
            ld.start()
            dt.wait_for(lambda: rcpt(srv, "bob@example.test")[0] == 250,
                        20, what="RCPT accepted again")
            assert rcpt(srv, "nobody@example.test")[0] == 550
            pop_login(srv, "bob@example.test", "pw-bob")


def test_dmail_user():
    with dc.Slapd() as ld:
        ld.load(ld.user_ldif("carol@example.test", "pw-carol"))
        ld.start()
        with dt.Server(extra=ld.conf() + NOCACHE, start=False) as srv:
            assert "carol@example.test" in srv.dmail_user("list").stdout
            out = srv.dmail_user("show", "carol@example.test").stdout
            assert "carol@example.test" in out, out
            r = srv.dmail_user("add", "dan@example.test", stdin="x\n",
                               check=False)
            assert r.returncode != 0 and "read-only" in r.stderr, r


def test_domains_and_aliases():
    with dc.Slapd() as ld:
        ld.load()
        ld.start()
        dc.routing_cases(ld)


if __name__ == "__main__":
    dt.main([test_accounts_and_delivery, test_server_down_and_back,
             test_dmail_user, test_domains_and_aliases])
