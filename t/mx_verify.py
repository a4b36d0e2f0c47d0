#!/usr/bin/env python3
"""mx_verify - verification of mail from the internet by dmail-smtpd
(smtpd/smtp_verify.c) with the test DNS server answering: SPF through
libspf2 (pass, fail, softfail, permerror for a loop and for more than 10
look-ups), DKIM (RSA and Ed25519 signatures made by dmail-dkim: pass; a
changed body: fail; a bad base64 and an absurd l=: permerror), DMARC
(pass through aligned DKIM, fail, p=reject enforced with dmarc_enforce;
p=quarantine held in the hold queue that tellsmtp lists and releases,
and delivered when not enforced), one Authentication-Results field on top with our forged one removed, and
DNS blocklists at connect (hit with the reply filter, miss)."""

import os
import smtplib
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import dkim_verify  # noqa: E402
import milterlib as ml  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from submission_dkim import keygen  # noqa: E402

DKIM = dt.prog("util/dmail-dkim")
BOB = "bob@example.test"
CAROL = "carol@example.test"
HOST = "mx.example.test"
QUEUED = dt.prog("queued/dmail-queued")


def sign(key, domain, sel, msg):
    r = subprocess.run([DKIM, "sign", key, domain, sel], input=msg,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def local_address():
    """A non-loopback IPv4 address of this machine: libspf2 passes every
    loopback client ("localhost is always allowed"), so the SPF and
    DMARC cases need a client that is not."""
    r = subprocess.run(["ip", "-o", "-4", "addr", "show", "scope", "global"],
                       capture_output=True, text=True)
    for line in r.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            return words[words.index("inet") + 1].split("/")[0]
    raise dt.SkipTest("no non-loopback IPv4 address for the client")


def rev(addr):
    return ".".join(reversed(addr.split(".")))


def zone(rsa_rec, ed_rec, addr):
    many = " ".join("a:h%d.many.test" % i for i in range(11))
    z = {
        "pass.test": [("TXT", "v=spf1 ip4:%s -all" % addr)],
        "fail.test": [("TXT", "v=spf1 ip4:192.0.2.1 -all")],
        "soft.test": [("TXT", "v=spf1 ~all")],
        "loop.test": [("TXT", "v=spf1 include:loop.test -all")],
        "many.test": [("TXT", "v=spf1 %s -all" % many)],
        "signed.test": [("TXT", "v=spf1 -all")],
        "s1._domainkey.signed.test": [("TXT", rsa_rec)],
        "e1._domainkey.signed.test": [("TXT", ed_rec)],
        "_dmarc.signed.test": [("TXT", "v=DMARC1; p=reject")],
        "strict.test": [("TXT", "v=spf1 -all")],
        "_dmarc.strict.test": [("TXT", "v=DMARC1; p=reject; sp=none")],
        "_dmarc.quar.test": [("TXT", "v=DMARC1; p=quarantine")],
        "quar.test": [("TXT", "v=spf1 -all")],
        "_dmarc.half.test": [("TXT", "v=DMARC1; p=quarantine; pct=0")],
        "half.test": [("TXT", "v=spf1 -all")],
        # blocklists: the client listed as 127.0.0.2 on bl1, 127.0.0.4
        # on bl2
        rev(addr) + ".bl1.test": [("A", "127.0.0.2")],
        rev(addr) + ".bl2.test": [("A", "127.0.0.4")],
    }
    for i in range(11):
        z["h%d.many.test" % i] = [("A", "192.0.2.%d" % (i + 10))]
    return z


def server(dns, extra="", users=(BOB,)):
    srv = dt.Server(smtp=True, start=False, hostname=HOST,
                    host=local_address(),
                    extra="smtp_program %s\nverify_inbound yes\n%s%s"
                    % (dt.SMTPD, extra, "queue_program %s\n" % QUEUED
                       if os.path.exists(QUEUED) else ""))
    # attempts:3: now and then one UDP query of a worker never reaches
    # the test server under load; the resolver asks again
    resolv = os.path.join(srv.tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1 %d\noptions timeout:1 attempts:3\n"
                % dns.port)
    srv.write_conf(srv.extra + "\nresolv_conf %s\n" % resolv)
    try:
        for u in users:
            srv.add_user(u)
        srv.start()
    except Exception:
        srv.cleanup()
        raise
    return srv


def send(srv, sender, msg, expect=None):
    """One message to bob: None when accepted, the error text when
    refused with expect."""
    return send_reply(srv, sender, msg, expect)[1]


def send_reply(srv, sender, msg, expect=None):
    """(code, text) of the end of DATA."""
    msg = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.SMTP(srv.host, srv.port("smtp"), timeout=30) as s:
        s.ehlo("client.test")
        s.mail(sender)
        code, text = s.rcpt(BOB)
        assert code == 250, (code, text)
        code, text = s.data(msg)
    if expect is None:
        assert code == 250, (code, text)
        return code, None
    assert code == expect, (code, text, expect)
    return code, text


def results(srv, subject, count=None, user=BOB):
    """The Authentication-Results fields (unfolded) of the message with
    that subject in user's Maildir."""
    def find():
        for p in srv.maildir_messages(user):
            data = open(p, "rb").read()
            if b"\nSubject: " + subject.encode() + b"\n" in data:
                return data
        return None
    data = dt.wait_for(find, 15, what="message " + subject)
    head = data.split(b"\n\n", 1)[0].replace(b"\n\t", b" ").decode()
    return [ln for ln in head.split("\n")
            if ln.lower().startswith("authentication-results:")]


def need():
    for p in (dt.SMTPD, DKIM):
        if not os.path.exists(p):
            raise dt.SkipTest("%s not built" % p)


def msg(frm, subject, body="Hello\n"):
    return ("From: %s\nTo: %s\nSubject: %s\n\n%s"
            % (frm, BOB, subject, body)).encode()


def test_spf_results():
    need()
    with DNSServer(zone("", "", local_address())) as dns, server(dns) as srv:
        for dom, want in (("pass", "pass"), ("fail", "fail"),
                          ("soft", "softfail"), ("loop", "permerror"),
                          ("many", "permerror"), ("none", "none")):
            send(srv, "x@%s.test" % dom, msg("x@%s.test" % dom, dom))
            (ar,) = results(srv, dom)
            assert ar.startswith("Authentication-Results: %s;" % HOST), ar
            if "spf=" not in ar:
                raise dt.SkipTest("built without libspf2 (libspf2-dev)")
            assert "spf=%s smtp.mailfrom=x@%s.test" % (want, dom) in ar, \
                (dom, ar)
            assert "dkim=none" in ar and "dmarc=none" in ar, ar
        # the null sender is checked by its HELO name
        send(srv, "", msg("x@pass.test", "nullsender"))
        (ar,) = results(srv, "nullsender")
        assert "smtp.helo=client.test" in ar, ar
        assert "action=verify" in srv.log_text()


def test_dkim_and_dmarc():
    need()
    with tempfile.TemporaryDirectory() as tmp:
        rsa, (_, rsa_rec) = keygen(tmp, "signed.test", "s1")
        ed, (_, ed_rec) = keygen(tmp, "signed.test", "e1", "--type",
                                 "ed25519")
        good = sign(rsa, "signed.test", "s1",
                    msg("a@signed.test", "rsa", "Hi  there \n\n"))
        edm = sign(ed, "signed.test", "e1", msg("a@signed.test", "ed"))
        bad = sign(rsa, "signed.test", "s1",
                   msg("a@signed.test", "changed")).replace(
                       b"Hello", b"Hullo")
        b64 = sign(rsa, "signed.test", "s1",
                   msg("a@signed.test", "b64")).replace(b"b=", b"b=!!", 1)
        lbig = sign(rsa, "signed.test", "s1",
                    msg("a@signed.test", "lbig")).replace(
                        b"bh=", b"l=99999999999999999999; bh=", 1)
        forged = (b"Authentication-Results: " + HOST.encode() +
                  b"; dkim=pass header.d=signed.test\n" +
                  b"Authentication-Results: other.example; spf=pass\n" +
                  msg("a@signed.test", "forged"))
        with DNSServer(zone(rsa_rec, ed_rec, local_address())) as dns, \
                server(dns, "dmarc_enforce yes\n") as srv:
            for m in (good, edm):
                send(srv, "a@signed.test", m)
            t = send(srv, "a@signed.test", bad, expect=550)
            assert b"5.7.1" in t and b"DMARC" in t, t
            # other domains' failures pass (no p=reject)
            for subj, m in (("b64", b64), ("lbig", lbig)):
                m = m.replace(b"a@signed.test", b"a@nodmarc.test")
                send(srv, "a@signed.test", m)
            send(srv, "a@signed.test", forged.replace(
                b"a@signed.test", b"a@nodmarc.test"))
            (ar,) = results(srv, "rsa")
            assert "dkim=pass header.d=signed.test header.s=s1" in ar, ar
            assert "dmarc=pass (p=reject dis=none) " \
                "header.from=signed.test" in ar, ar
            (ar,) = results(srv, "ed")
            assert "dkim=pass header.d=signed.test header.s=e1" in ar, ar
            (ar,) = results(srv, "b64")
            assert "dkim=permerror (bad base64 in b=)" in ar, ar
            (ar,) = results(srv, "lbig")
            assert "dkim=permerror" in ar, ar
            ars = results(srv, "forged")
            assert len(ars) == 2, ars
            assert ars[0].startswith("Authentication-Results: %s;" % HOST)
            assert "dkim=none" in ars[0], ars
            assert "other.example" in ars[1], ars
            log = srv.log_text()
            assert "status=rejected" in log
        # the rsa message verifies as delivered, with dkimpy too
        if dkim_verify.verifier() is not None:
            assert dkim_verify.verify(good, {"s1._domainkey.signed.test":
                                             rsa_rec})


def test_dmarc_quarantine():
    """p=quarantine with dmarc_enforce: 250, the message held where a
    milter's quarantine goes (tellsmtp quarantine lists it with its
    reason), not delivered; tellsmtp release delivers it with its
    Authentication-Results. pct=0 makes quarantine the next weaker
    policy (none): delivered (the field names the published policy).
    Without dmarc_enforce: only reported."""
    need()
    with DNSServer(zone("", "", local_address())) as dns:
        with server(dns, "dmarc_enforce yes\n") as srv:
            _, text = send_reply(srv, "a@quar.test",
                                 msg("a@quar.test", "quar"), expect=250)
            qid = text.decode().split()[-1]
            out = srv.tell("quarantine").stdout
            assert qid in out and "reason=dmarc-quarantine" in out, out
            send(srv, "a@half.test", msg("a@half.test", "half"))
            (ar,) = results(srv, "half")
            assert "dmarc=fail (p=quarantine dis=none) " \
                "header.from=half.test" in ar, ar
            assert not any(b"Subject: quar\n" in open(p, "rb").read()
                           for p in srv.maildir_messages(BOB))
            log = srv.log_text()
            assert log.count("action=quarantine") == 1, log
            assert 'reason="DMARC policy quarantine"' in log, log
            assert "status=quarantine" in log, log
            if not os.path.exists(QUEUED):
                raise dt.SkipTest("dmail-queued not built")
            r = srv.tell("release", qid)
            assert r.returncode == 0, (r.stdout, r.stderr)
            (ar,) = results(srv, "quar")
            assert "dmarc=fail (p=quarantine dis=quarantine) " \
                "header.from=quar.test" in ar, ar
            assert "Nothing is quarantined" in \
                srv.tell("quarantine").stdout
        # with a milter that changed the envelope, the held message has
        # the milter's sender and recipients
        eom = [ml.pkt("e", ml.s("<bounce@example.test>")),
               ml.pkt("+", ml.s("<%s>" % CAROL))]
        with ml.Milter(eom=eom) as m, server(
                dns, "dmarc_enforce yes\nsmtpd_milters %s\n" % m.spec,
                users=(BOB, CAROL)) as srv:
            _, text = send_reply(srv, "a@quar.test",
                                 msg("a@quar.test", "mquar"), expect=250)
            qid = text.decode().split()[-1]
            assert qid in srv.tell("quarantine").stdout
            if os.path.exists(QUEUED):
                assert srv.tell("release", qid).returncode == 0
                for u in (BOB, CAROL):
                    (ar,) = results(srv, "mquar", user=u)
                    assert "dmarc=fail (p=quarantine dis=quarantine)" \
                        in ar, ar
                p = srv.maildir_messages(CAROL)[0]
                assert open(p, "rb").read().startswith(
                    b"Return-Path: <bounce@example.test>\n")
        with server(dns) as srv:
            send(srv, "a@quar.test", msg("a@quar.test", "quar"))
            (ar,) = results(srv, "quar")
            assert "dmarc=fail (p=quarantine dis=none)" in ar, ar
            assert "status=quarantine" in srv.log_text()
            assert "action=quarantine" not in srv.log_text()


def test_dnsbl():
    need()
    with DNSServer(zone("", "", local_address())) as dns:
        with server(dns, "dnsbl_zones bl1.test=127.0.0.2 bl2.test*2\n"
                    "dnsbl_threshold 3\n") as srv:
            c = dt.connect(srv.port("smtp"), host=srv.host)
            line = dt.recv_line(c)
            c.close()
            assert line.startswith(b"554 5.7.1 ") and b"bl1.test" in line \
                and b"bl2.test" in line, (line, dns.queries)
            assert "action=dnsbl" in srv.log_text()
        # bl1 filters on 127.0.0.3: no hit; bl2 alone is under 3
        with server(dns, "dnsbl_zones bl1.test=127.0.0.3 bl2.test*2\n"
                    "dnsbl_threshold 3\n") as srv:
            send(srv, "x@pass.test", msg("x@pass.test", "dnsbl-miss"))
            results(srv, "dnsbl-miss")
            assert "status=passed" in srv.log_text()


if __name__ == "__main__":
    dt.main([test_spf_results, test_dkim_and_dmarc, test_dmarc_quarantine,
             test_dnsbl])
