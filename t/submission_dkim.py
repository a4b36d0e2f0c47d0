#!/usr/bin/env python3
"""submission_dkim - mail of DMail's own users (smtpd/smtp_checks.c,
common/outgoing.c): DKIM signatures applied by dmail-smtpd to
authenticated submission and by the maildrop pickup, verified at a sink
with Debian's dkimpy; Date: and Message-ID: added when missing; the
sender/login match (submission_sender_check) and the submission rate
limits; a bad dkim_sign key refuses the configuration."""

import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import dkim_verify  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402

DKIM = dt.prog("util/dmail-dkim")
BOB = "bob@example.test"


def keygen(tmp, domain, selector, *extra):
    """A key readable by the workers, and its (name, TXT text)."""
    key = os.path.join(tmp, "%s-%s.key" % (domain, selector))
    r = subprocess.run([DKIM, "keygen", domain, selector, "--out", key] +
                       list(extra), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    if dt.RUN_AS:
        import pwd
        pw = pwd.getpwnam(dt.RUN_AS)
        os.chown(key, pw.pw_uid, pw.pw_gid)
    return key, ("%s._domainkey.%s" % (selector, domain),
                 dkim_verify.record_text(r.stdout))


def server(sk, extra="", start=True):
    return oc.server("transport remote.test [127.0.0.1]:%d\n%s"
                     % (sk.port, extra), start=start, smtp=False,
                     submission=True,
                     domains=("example.test", "other.test"),
                     users=(BOB, "carol@example.test"))


def submit(srv, sender, rcpts, msg, login=BOB):
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), timeout=20) as s:
        s.ehlo("client.test")
        s.login(login, "secret")
        return s.sendmail(sender, rcpts, msg)


def need():
    for p in (dt.SMTPD, oc.QUEUED, DKIM):
        if not os.path.exists(p):
            raise dt.SkipTest("%s not built" % p)
    if dkim_verify.verifier() is None:
        raise dt.SkipTest("python3-dkim not installed")


def header_names(data):
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return [ln.split(b":", 1)[0].lower() for ln in head.split(b"\n")
            if ln and ln[:1] not in (b" ", b"\t")]


def test_submission_is_signed():
    """RSA for example.test, Ed25519 for other.test; a From: of a
    subdomain takes the parent's key; Date and Message-ID are added and
    covered; the signature sits on top of the message, under our
    Received: line."""
    need()
    with Sink() as sk:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            rsa, rec1 = keygen(tmp, "example.test", "s1")
            ed, rec2 = keygen(tmp, "other.test", "e1", "--type", "ed25519")
            records = dict([rec1, rec2])
            with server(sk, "dkim_sign example.test s1 %s\n"
                        "dkim_sign other.test e1 %s\n"
                        "submission_sender_check domain\n"
                        % (rsa, ed)) as srv:
                submit(srv, BOB, ["x@remote.test"],
                       b"From: Bob <bob@example.test>\r\nTo: x@remote.test"
                       b"\r\nSubject: signed\r\n\r\nHello  there \r\n")
                submit(srv, "carol@example.test", ["y@remote.test"],
                       b"From: carol@example.test\r\nSubject: two\r\n"
                       b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                       b"Message-ID: <m1@example.test>\r\n\r\nBody\r\n",
                       login="carol@example.test")
                msgs = sk.wait(2)
                assert "action=dkim-signed" in srv.log_text()
            # Ed25519 and parent-domain keys (alias to other.test user)
            with server(sk, "dkim_sign other.test e1 %s\n" % ed) as srv:
                submit(srv, BOB, ["z@remote.test"],
                       b"From: bob@mail.other.test\r\nSubject: ed\r\n\r\nx\r\n")
                msgs = sk.wait(3)
    by_subject = {}
    for m in msgs:
        for s in (b"signed", b"two", b"ed"):
            if b"Subject: " + s + b"\r\n" in m.data:
                by_subject[s] = m.data
    for s, data in by_subject.items():
        names = header_names(data)
        assert names[0] == b"received" and names[1] == b"dkim-signature", \
            (s, names)
        assert dkim_verify.verify(data, records), (s, data[:600])
        assert not dkim_verify.verify(data.replace(b"\r\n\r\n", b"\r\n\r\nX",
                                                   1), records)
    signed = by_subject[b"signed"]
    assert b"d=example.test; s=s1;" in signed, signed[:400]
    assert b"\r\nDate: " in signed and b"\r\nMessage-ID: <" in signed
    # DKIM covers the added fields (h= names them)
    sig = signed.replace(b"\r\n\t", b"").split(b"DKIM-Signature:")[1]
    h = re.search(rb";\s*h=([^;]+);", sig).group(1).split(b":")
    assert b"date" in h and b"message-id" in h, h
    two = by_subject[b"two"]
    assert two.count(b"\r\nDate: ") == 1 and b"<m1@example.test>" in two
    assert b"a=ed25519-sha256" in by_subject[b"ed"]
    assert b"d=other.test; s=e1;" in by_subject[b"ed"]


def test_maildrop_pickup_is_signed():
    """Mail of local programs (the maildrop, dmail-sendmail's fallback)
    is signed by the queue manager before its commit."""
    need()
    import tempfile
    with Sink() as sk, tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        key, rec = keygen(tmp, "example.test", "s1")
        with server(sk, "dkim_sign example.test s1 %s\n" % key) as srv:
            drop = os.path.join(srv.state_dir, "spool", "maildrop")
            with open(os.path.join(drop, ".DROP1.tmp"), "wb") as f:
                f.write(b"dmail-queue 1\nid DROP1\narrival 1700000000\n"
                        b"sender bob@example.test\nuid 0\n"
                        b"rcpt P\tw@remote.test\tw@remote.test\n"
                        b"\nFrom: bob@example.test\nSubject: cron\n\nok\n")
            os.rename(os.path.join(drop, ".DROP1.tmp"),
                      os.path.join(drop, "DROP1"))
            fd = os.open(os.path.join(srv.state_dir, "spool", "wakeup"),
                         os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"w")
            os.close(fd)
            data = sk.wait(1)[0].data
    assert b"DKIM-Signature: " in data and b"\r\nMessage-ID: " in data
    assert dkim_verify.verify(data, dict([rec])), data[:600]


def expect(code, fn, *args):
    try:
        fn(*args)
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == code, e
        return e.smtp_error
    except smtplib.SMTPRecipientsRefused as e:
        (c, text), = e.recipients.values()
        assert c == code, e
        return text
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == code, e
        return e.smtp_error
    raise AssertionError("no %d" % code)


def test_sender_must_belong_to_login():
    """strict: the login address or an alias leading to it, in MAIL FROM
    and From:; domain: any address of the login's domain; off: anyone."""
    if not os.path.exists(oc.QUEUED):
        raise dt.SkipTest("queued not built")
    msg = b"From: %s\r\nSubject: s\r\n\r\nx\r\n"
    with Sink() as sk, server(sk, "submission_sender_check strict\n"
                              "alias bobby bob\n") as srv:
        submit(srv, BOB, ["a@remote.test"], msg % BOB.encode())
        submit(srv, "bobby@example.test", ["a@remote.test"],
               msg % b"bobby@example.test")
        submit(srv, "", ["a@remote.test"], msg % BOB.encode())
        t = expect(553, submit, srv, "carol@example.test", ["a@remote.test"],
                   msg % BOB.encode())
        assert b"5.7.1" in t, t
        t = expect(553, submit, srv, BOB, ["a@remote.test"],
                   msg % b"carol@example.test")
        assert b"5.7.1" in t and b"From:" in t, t
        assert "reason=\"sender not owned by login\"" in srv.log_text()
        sk.wait(3)
        assert not any(b"carol" in m.data for m in sk.messages)
    with Sink() as sk, server(sk, "submission_sender_check domain\n") as srv:
        submit(srv, "carol@example.test", ["a@remote.test"],
               msg % b"anyone@example.test")
        expect(553, submit, srv, "bob@other.test", ["a@remote.test"],
               msg % BOB.encode())
    with Sink() as sk, server(sk) as srv:       # off by default
        submit(srv, "x@elsewhere.test", ["a@remote.test"],
               msg % b"y@elsewhere.test")


def test_rate_limits():
    """Messages and recipients per minute per account: 450 4.7.1 over
    the rate; another account is not affected; per client address too."""
    if not os.path.exists(oc.QUEUED):
        raise dt.SkipTest("queued not built")
    msg = b"From: bob@example.test\r\nSubject: r\r\n\r\nx\r\n"
    with Sink() as sk, server(sk, "submission_rate_limit_messages 2\n"
                              "submission_rate_limit_recipients 5\n") as srv:
        submit(srv, BOB, ["a@remote.test"], msg)
        submit(srv, BOB, ["a@remote.test"], msg)
        t = expect(450, submit, srv, BOB, ["a@remote.test"], msg)
        assert b"4.7.1" in t and b"messages" in t, t
        submit(srv, "carol@example.test", ["a@remote.test"] * 1, msg,
               "carol@example.test")
        rcpts = ["r%d@remote.test" % i for i in range(6)]
        with smtplib.SMTP("127.0.0.1", srv.port("submission"),
                          timeout=20) as s:
            s.ehlo("client.test")
            s.login("carol@example.test", "secret")
            s.mail("carol@example.test")
            codes = [s.rcpt(r)[0] for r in rcpts]
        assert codes == [250, 250, 250, 250, 450, 450], codes
        assert "reason=\"account recipient rate\"" in srv.log_text()
        # visible in tellsmtp status --prometheus: 1 MAIL, 2 RCPT
        out = oc.tell(srv, "status", "--prometheus").stdout
        rate = [ln for ln in out.splitlines()
                if ln.startswith("dmail_smtp_rejected_total{") and
                'reason="rate"' in ln and 'role="submission"' in ln]
        assert rate and rate[0].endswith(" 3"), (rate, out[-2000:])
    with Sink() as sk, server(
            sk, "submission_client_rate_limit_messages 1\n") as srv:
        submit(srv, BOB, ["a@remote.test"], msg)
        t = expect(450, submit, srv, "carol@example.test", ["a@remote.test"],
                   msg, "carol@example.test")
        assert b"127.0.0.1" in t, t


def test_bad_key_refuses_configuration():
    need()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.key")
        with open(bad, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot base64\n")
        srv = dt.Server(smtp=False, start=False,
                        extra="dkim_sign example.test s1 %s\n"
                        "dkim_sign other.test s1 relative.key\n" % bad)
        try:
            r = subprocess.run([dt.DMAILD, "-n", "-c", srv.conf_path],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 1, r
            assert "key 'dkim_sign'" in r.stderr and bad in r.stderr, \
                r.stderr
            assert "SELECTOR /PATH/KEY" in r.stderr, r.stderr
        finally:
            srv.cleanup()


if __name__ == "__main__":
    dt.main([test_submission_is_signed, test_maildrop_pickup_is_signed,
             test_sender_must_belong_to_login, test_rate_limits,
             test_bad_key_refuses_configuration])
