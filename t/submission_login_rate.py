#!/usr/bin/env python3
"""submission_login_rate - logins per minute of one account on
submission (submission_rate_limit_connections, smtpd/smtp_checks.c,
counted at each successful AUTH in the shared client table): beyond the
rate the right password gets 454 4.7.0 (RFC 4954 temporary
authentication failure) and the session stays unauthenticated; another
account logs in fine; the refusals count as reason "rate" in tellsmtp
status --prometheus."""

import base64
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402
from submission_dkim import server  # noqa: E402

BOB = "bob@example.test"
CAROL = "carol@example.test"


def login(srv, user):
    """(code, text) of AUTH PLAIN with the right password; on a refusal
    also checks that MAIL is still refused (not authenticated)."""
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), timeout=20) as s:
        s.ehlo("client.test")
        code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(
            ("\0%s\0secret" % user).encode()).decode())
        if code != 235:
            mcode, _ = s.mail(user)
            assert mcode >= 500, mcode
        return code, text


def test_login_rate():
    if not os.path.exists(oc.QUEUED):
        raise dt.SkipTest("queued not built")
    with Sink() as sk, server(sk, "submission_rate_limit_connections 2\n") \
            as srv:
        assert login(srv, BOB)[0] == 235
        assert login(srv, BOB)[0] == 235
        code, text = login(srv, BOB)
        assert code == 454 and text.startswith(b"4.7.0"), (code, text)
        assert login(srv, CAROL)[0] == 235
        assert login(srv, CAROL)[0] == 235
        assert login(srv, CAROL)[0] == 454
        log = srv.log_text()
        assert log.count("reason=account-connection-rate") == 2, log
        out = oc.tell(srv, "status", "--prometheus").stdout
        rate = [ln for ln in out.splitlines()
                if ln.startswith("dmail_smtp_rejected_total{") and
                'reason="rate"' in ln and 'role="submission"' in ln]
        assert rate and rate[0].endswith(" 2"), (rate, out[-2000:])
    with Sink() as sk, server(sk) as srv:       # off by default
        for _ in range(5):
            assert login(srv, BOB)[0] == 235


if __name__ == "__main__":
    dt.main([test_login_rate])
