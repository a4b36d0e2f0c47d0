#!/usr/bin/env python3
"""smtp_milter.py - milters in dmail-smtpd (smtpd/milter.c,
smtpd/smtp_milter.c) against a real dmaild, with the small milter of
t/milterlib.py: every stage and its macros, skipped stages and no-reply
steps, each reply type, each modification, quarantine and release, and
milters that are down, hang, crash or break the protocol
(milter_default_action).
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import milterlib as ml  # noqa: E402
from milterlib import pkt, s  # noqa: E402
from smtp_proto import BOB, DOMAIN, Client, greet, server  # noqa: E402

CAROL = "carol@" + DOMAIN
QUEUED = dt.prog("queued/dmail-queued")
MSG = ("From: alice@remote.test\r\nTo: bob@example.test\r\n"
       "Subject: hello\r\nX-Remove: me\r\n\r\nbody line 1\r\n"
       ".. dotted\r\n")


def milter_server(milters, extra="", users=(BOB,), timeout="2s"):
    conf = "smtpd_milters %s\nmilter_command_timeout %s\n" \
           "milter_content_timeout %s\nmilter_connect_timeout 2s\n%s" \
           % (" ".join(milters), timeout, timeout, extra)
    if os.path.exists(QUEUED):
        conf += "queue_program %s\n" % QUEUED
    srv = server(extra=conf)
    for u in users:
        srv.add_user(u)
    return srv


def send(srv, rcpts=(BOB,), sender="alice@remote.test", msg=MSG):
    """One transaction; returns (code, lines) of the end of DATA, or of
    the first command that failed."""
    c = greet(srv)
    try:
        c.expect("EHLO client.example", 250)
        code, lines = c.cmd("MAIL FROM:<%s> SIZE=100" % sender)
        if code != 250:
            return code, lines
        for r in rcpts:
            code, lines = c.cmd("RCPT TO:<%s>" % r)
            if code != 250:
                return code, lines
        code, lines = c.cmd("DATA")
        if code != 354:
            return code, lines
        c.send(msg + ".\r\n")
        return c.reply()
    finally:
        c.close()


def stored(srv, address, count=1):
    path = srv.wait_messages(address, count)[-1]
    return open(path, "rb").read().decode()


def test_stages_and_macros():
    with ml.Milter() as m, milter_server([m.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        assert "body line 1\n. dotted\n" in stored(srv, BOB)
        cmds = m.commands()
        order = [c for c in cmds if c not in (b"D",)]
        assert order[:2] == [b"O", b"C"], order
        for c in (b"H", b"M", b"R", b"T", b"L", b"N", b"B", b"E"):
            assert c in order, (c, order)
        conn = m.data_of("C")[0]
        assert conn.startswith(b"unknown\x004") and b"127.0.0.1\0" in conn
        assert m.data_of("H")[0] == b"client.example\0"
        assert m.data_of("M")[0] == b"<alice@remote.test>\0SIZE=100\0"
        assert m.data_of("R")[0] == b"<%s>\0" % BOB.encode()
        hdrs = m.data_of("L")
        assert b"Subject\0hello\0" in hdrs, hdrs
        assert not any(h.startswith(b"Received") for h in hdrs)
        assert m.data_of("B")[0] == b"body line 1\r\n. dotted\r\n"
        assert m.macros["C"]["j"] == "mx.example.test"
        assert m.macros["C"]["{client_addr}"] == "127.0.0.1"
        assert m.macros["C"]["{daemon_name}"] == "smtp"
        assert m.macros["M"]["{mail_addr}"] == "alice@remote.test"
        assert len(m.macros["M"]["i"]) > 10
        assert m.macros["R"]["{rcpt_addr}"] == BOB
        assert m.macros["R"]["{rcpt_mailer}"] == "local"


def test_skipped_stages_and_no_reply():
    """A milter that wants no connect, HELO or body, and answers no
    header: it never gets them, and gets no wait for a reply."""
    proto = (ml.NOCONNECT | ml.NOHELO | ml.NOBODY | ml.NR_HDR | ml.NR_RCPT |
             ml.NODATA)
    with ml.Milter(proto=proto) as m, milter_server([m.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        cmds = m.commands()
        for c in (b"C", b"H", b"B", b"T"):
            assert c not in cmds, (c, cmds)
        assert b"L" in cmds and b"R" in cmds and b"E" in cmds


def test_reply_types():
    cases = [
        ({"M": pkt("r")}, "mail", 554, "5.7.1"),
        ({"M": pkt("t")}, "mail", 451, "4.7.1"),
        ({"R": pkt("r")}, "rcpt", 550, "5.7.1"),
        ({"R": ml.replycode("450 4.2.0 Greylisted, try later")}, "rcpt",
         450, "4.2.0"),
        ({"T": pkt("r")}, "data", 554, "5.7.1"),
        ({"E": ml.replycode("550 5.7.0 Spam message rejected")}, "eom",
         550, "5.7.0"),
        ({"E": pkt("t")}, "eom", 451, "4.7.1"),
        ({"E": ml.replycode("554 Bad content")}, "eom", 554, "5.7.1"),
    ]
    for replies, stage, code, enh in cases:
        with ml.Milter(replies=replies) as m, \
                milter_server([m.spec]) as srv:
            got, lines = send(srv)
            assert got == code, (stage, replies, lines)
            assert lines[-1].split(" ")[1] == enh, lines
            assert srv.maildir_messages(BOB) == [], replies
    # The milter's own text reaches the client.
    with ml.Milter(replies={"E": ml.replycode(
            "550 5.7.0 Spam message rejected")}) as m, \
            milter_server([m.spec]) as srv:
        got, lines = send(srv)
        assert lines[-1] == "550 5.7.0 Spam message rejected", lines


def test_accept_and_discard():
    # accept at MAIL: the milter hears nothing more of this message
    with ml.Milter(replies={"M": pkt("a")}) as m, \
            milter_server([m.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        stored(srv, BOB)
        assert b"R" not in m.commands() and b"E" not in m.commands()
    # discard at the end: 250, nothing stored, logged
    with ml.Milter(replies={"E": pkt("d")}) as m, \
            milter_server([m.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        dt.wait_for(lambda: "action=discard" in srv.log_text(), 5,
                    what="discard log line")
        assert srv.maildir_messages(BOB) == []


def test_header_and_body_changes():
    eom = [ml.addheader("X-Spam", "yes"),
           ml.addheader("X-Folded", "first\r\n\tsecond"),
           ml.insheader(0, "X-Top", "inserted"),
           ml.chgheader(1, "Subject", "changed"),
           ml.chgheader(1, "X-Remove", ""),
           pkt("b", b"new body\r\nsecond line\r\n")]
    with ml.Milter(eom=eom) as m, milter_server([m.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        text = stored(srv, BOB)
        head, body = text.split("\n\n", 1)
        assert body == "new body\nsecond line\n", repr(body)
        assert "\nSubject: changed\n" in head, head
        assert "X-Remove" not in head and "hello" not in head
        assert head.rstrip().endswith("X-Folded: first\n\tsecond"), head
        assert "X-Spam: yes\n" in head
        lines = head.split("\n")
        received = max(i for i, l in enumerate(lines)
                       if l.startswith("Received:"))
        top = lines.index("X-Top: inserted")
        assert top > received and top < lines.index(
            "From: alice@remote.test"), lines


def test_trickled_replies():
    """Replies and modifications arriving one byte at a time."""
    eom = [ml.addheader("X-Slow", "yes"), pkt("b", b"slow body\r\n")]
    with ml.Milter(eom=eom, trickle=True) as m, \
            milter_server([m.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        text = stored(srv, BOB)
        assert "X-Slow: yes\n" in text and text.endswith("\n\nslow body\n")


def test_envelope_changes():
    eom = [pkt("e", s("<bounce@example.test>")),
           pkt("+", s("<%s>" % CAROL)),
           pkt("-", s("<%s>" % BOB))]
    with ml.Milter(eom=eom) as m, \
            milter_server([m.spec], users=(BOB, CAROL)) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        text = stored(srv, CAROL)
        assert text.startswith("Return-Path: <bounce@example.test>\n"), \
            text[:80]
        assert srv.maildir_messages(BOB) == []


def test_quarantine_and_release():
    with ml.Milter(eom=[pkt("q", s("looks bad"))]) as m, \
            milter_server([m.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        qid = lines[-1].split()[-1]
        out = srv.tell("quarantine").stdout
        assert qid in out, out
        assert "reason=milter-quarantine" in out, out
        assert srv.maildir_messages(BOB) == []
        assert "action=quarantine" in srv.log_text()
        if not os.path.exists(QUEUED):
            raise dt.SkipTest("dmail-queued not built")
        r = srv.tell("release", qid)
        assert r.returncode == 0, (r.stdout, r.stderr)
        text = stored(srv, BOB)
        assert "Subject: hello" in text and "body line 1" in text


def test_default_action():
    dead = "inet:127.0.0.1:%d" % dt.free_port()
    for action, code in (("tempfail", 451), ("reject", 550),
                         ("accept", 250)):
        with milter_server([dead], extra="milter_default_action %s\n"
                           % action) as srv:
            got, lines = send(srv)
            assert got == code, (action, lines)
            if action == "accept":
                stored(srv, BOB)
            assert "event=milter-failed" in srv.log_text()


def test_hang_and_crash():
    for kw in ({"hang_at": "E"}, {"crash_at": "R"}, {"crash_at": "L"}):
        with ml.Milter(**kw) as m, milter_server([m.spec]) as srv:
            got, lines = send(srv)
            assert got == 451, (kw, lines)
            assert srv.maildir_messages(BOB) == []
            assert srv.running()
        with ml.Milter(**kw) as m, milter_server(
                [m.spec], extra="milter_default_action accept\n") as srv:
            got, lines = send(srv)
            assert got == 250, (kw, lines)
            stored(srv, BOB)


def test_protocol_violations():
    """Each breaks the protocol: the milter is dropped (tempfail by
    default), logged once, the worker lives and nothing is stored."""
    bad = [
        {"eom": [ml.addheader("X-A", "b")], "actions": 0},
        {"replies": {"E": struct.pack(">I", 0x7fffffff) + b"c"}},
        {"replies": {"R": pkt("c", b"extra")}},
        {"replies": {"E": pkt("Z")}},
        {"replies": {"E": ml.replycode("250 2.0.0 fine")}},
        {"replies": {"E": ml.replycode("550 4.7.1 mixed classes")}},
        {"eom": [ml.addheader("Bad Name", "v")]},
        {"eom": [ml.addheader("X-Inject", "v\r\nBcc: x@y")]},
        {"eom": [pkt("+", s("not an address <"))]},
        {"replies": {"E": pkt("s")}},
        {"replies": {"R": pkt("c") + pkt("c")}},
        {"eom": [ml.addheader("X-Many", "v")] * 10001},
        {"optneg": pkt("O", struct.pack(">III", 6, 0x1ff, 0x800))},
        {"optneg": pkt("O", struct.pack(">III", 9, 0, 0))},
        {"optneg": pkt("O", struct.pack(">III", 6, 0, 0) + b"\0\0")},
    ]
    for kw in bad:
        with ml.Milter(**kw) as m, milter_server([m.spec]) as srv:
            got, lines = send(srv)
            assert got == 451, (kw, lines)
            log = srv.log_text()
            assert log.count("event=milter-failed") == 1, (kw, log[-2000:])
            assert srv.maildir_messages(BOB) == []
            assert "worker-crash" not in log, kw


def test_macro_list_and_two_milters():
    """A milter that asks for its own macros at negotiation gets only
    those; of two milters, the second sees the first one's header."""
    symlist = struct.pack(">I", 2) + b"{mail_addr} {auth_authen}\0"
    first = ml.Milter(optneg=pkt("O", struct.pack(">III", 6, 0x1ff, 0) +
                                 symlist),
                      eom=[ml.addheader("X-First", "1")])
    second = ml.Milter()
    with first, second, milter_server([first.spec, second.spec]) as srv:
        code, lines = send(srv)
        assert code == 250, lines
        assert first.macros["M"] == {"{mail_addr}": "alice@remote.test"}
        assert b"X-First\x001\0" in second.data_of("L")
        assert "X-First: 1" in stored(srv, BOB)


def test_submission_milters():
    """submission_milters serve the submission role (with the login in
    {auth_authen}); smtpd_milters are not asked there."""
    import base64
    a, b = ml.Milter(), ml.Milter()
    with a, b:
        srv = server(submission=True, extra="smtpd_milters %s\n"
                     "submission_milters %s\nrelay_networks 127.0.0.1/32\n"
                     % (a.spec, b.spec))
        with srv:
            srv.add_user(BOB)
            c = Client(srv.port("submission"))
            assert c.reply()[0] == 220
            c.expect("EHLO client.example", 250)
            token = base64.b64encode(b"\0" + BOB.encode() + b"\0secret")
            c.expect("AUTH PLAIN " + token.decode(), 235)
            c.expect("MAIL FROM:<%s>" % BOB, 250)
            c.expect("RCPT TO:<%s>" % BOB, 250)
            c.expect("DATA", 354)
            c.send(MSG + ".\r\n")
            assert c.reply()[0] == 250
            c.close()
            stored(srv, BOB)
        assert a.commands() == [], a.commands()
        assert b.macros["C"]["{daemon_name}"] == "submission"
        assert b.macros["M"]["{auth_authen}"] == BOB
        assert b.macros["M"]["{auth_type}"] == "PLAIN"


def test_builtin_dkim_signs_what_the_milters_left():
    """With a milter that changes the message and DMail's own dkim_sign,
    the signature is made after the milter: it verifies on the stored
    message, which holds the milter's changes."""
    import tempfile
    import dkim_verify
    from submission_dkim import keygen
    if dkim_verify.verifier() is None:
        raise dt.SkipTest("python3-dkim (dkimpy) is not installed")
    if not os.path.exists(dt.prog("util/dmail-dkim")):
        raise dt.SkipTest("dmail-dkim not built")
    eom = [ml.addheader("X-Scanned", "milter"),
           pkt("b", b"replaced by the milter\r\n")]
    with tempfile.TemporaryDirectory() as tmp, ml.Milter(eom=eom) as m:
        os.chmod(tmp, 0o755)
        key, (name, rec) = keygen(tmp, DOMAIN, "s1")
        with milter_server([m.spec], extra="relay_networks 127.0.0.1/32\n"
                           "dkim_sign %s s1 %s\n" % (DOMAIN, key)) as srv:
            code, lines = send(srv, sender="alice@example.test",
                               msg=MSG.replace("alice@remote.test",
                                               "alice@example.test"))
            assert code == 250, lines
            text = stored(srv, BOB)
            assert "DKIM-Signature:" in text, text
            assert "X-Scanned: milter" in text, text
            assert text.endswith("\n\nreplaced by the milter\n"), text
            assert dkim_verify.verify(text.encode(), {name: rec}), text


def main():
    dt.main([test_stages_and_macros, test_skipped_stages_and_no_reply,
             test_reply_types, test_accept_and_discard,
             test_header_and_body_changes, test_trickled_replies,
             test_envelope_changes,
             test_quarantine_and_release, test_default_action,
             test_hang_and_crash, test_protocol_violations,
             test_macro_list_and_two_milters, test_submission_milters,
             test_builtin_dkim_signs_what_the_milters_left])


if __name__ == "__main__":
    main()
