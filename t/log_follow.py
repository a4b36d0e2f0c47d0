#!/usr/bin/env python3
"""log_follow - an operator follows one message from connect to final
delivery with one grep of its queue id.

A message goes in through the SMTP server to a remote recipient (an SMTP
sink on loopback behind a `transport` line) and out through the queue
manager. The id the server answers with ("queued as ID") is then
grepped in the log, as `grep ID /var/log/mail.log` would: the lines
found are the receipt (dmail-smtpd, action=accepted), the queue copy
(action=deliver ... queued=), the outbound connection (dmail-queued,
action=relay), the recipient's final status (action=deliver ...
status=sent dsn=2.0.0) and the queue file's removal (action=remove), in
that order, each with the id spelled qid=ID. The session id of the
receipt leads to the connect and disconnect lines.

Every line this run logged, whatever the program, starts with action=
or event= (common/log.h), checked on the real log rather than on the
source as t/log_keys.py does.
"""

import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from sink import Sink  # noqa: E402

BODY = (b"From: Alice <alice@example.test>\r\n"
        b"To: Bob <bob@remote.test>\r\n"
        b"Subject: follow me\r\n"
        b"\r\n"
        b"one grep\r\n")

# "2024-01-01T00:00:00.000 dmail-smtpd[123]: warning: action=..."
LINE = re.compile(r"^\S+ ([a-z0-9-]+)\[\d+\]: "
                  r"(?:(debug|warning|error|fatal): )?(.*)$")


def send_one(srv):
    """Send the message; return the id of the "queued as" reply."""
    with smtplib.SMTP(srv.host, srv.port("smtp"), timeout=20) as s:
        s.ehlo("client.test")
        assert s.mail("alice@example.test")[0] == 250
        assert s.rcpt("bob@remote.test")[0] == 250
        code, text = s.data(BODY)
        assert code == 250, (code, text)
    m = re.search(rb"queued as ([A-Za-z0-9]+)", text)
    assert m, text
    return m.group(1).decode()


def log_lines(srv):
    """(program, level, message) of each log line of the run."""
    out = []
    for ln in srv.log_text().splitlines():
        m = LINE.match(ln)
        if m:
            out.append((m.group(1), m.group(2) or "info", m.group(3)))
    return out


def grep(srv, needle):
    return [x for x in log_lines(srv) if needle in x[2]]


def first(lines, pattern):
    """Index of the first line whose message matches pattern."""
    for i, (_, _, msg) in enumerate(lines):
        if re.search(pattern, msg):
            return i
    raise AssertionError("no line matching %r in:\n%s" % (
        pattern, "\n".join("%s: %s" % (p, m) for p, _, m in lines)))


def test_one_grep_follows_a_message():
    with Sink() as sk, \
            oc.server("transport remote.test [127.0.0.1]:%d\n" % sk.port) \
            as srv:
        qid = send_one(srv)
        sk.wait(1)
        oc.wait_queue_empty(srv)
        dt.wait_for(lambda: grep(srv, "action=remove qid=%s " % qid), 10,
                    what="the queue file's removal logged")
        lines = grep(srv, qid)
        # One spelling: wherever the id appears, it is the qid= field.
        for prog, _, msg in lines:
            assert re.search(r"(^| )qid=%s( |$)" % qid, msg), (prog, msg)
        q = re.escape(qid)
        accepted = first(lines, r"^action=accepted sid=\S+ qid=%s "
                                r"client=127\.0\.0\.1 .*from=<alice@example"
                                r"\.test> .*to=<bob@remote\.test>" % q)
        copy = first(lines, r"^action=deliver sid=\S+ qid=%s .*"
                            r"queued=bob@remote\.test .*status=" % q)
        relay = first(lines, r"^action=relay qid=%s relay=\S+ " % q)
        sent = first(lines, r"^action=deliver qid=%s "
                            r"to=<bob@remote\.test> relay=\S+ dsn=2\.0\.0 "
                            r"status=sent reply=\"" % q)
        removed = first(lines, r"^action=remove qid=%s " % q)
        assert lines[accepted][0] == "dmail-smtpd", lines[accepted]
        assert lines[relay][0] == "dmail-queued", lines[relay]
        assert lines[sent][0] == "dmail-queued", lines[sent]
        # Order within each process (lines of different processes are
        # written in whatever order they run: the queue manager may log
        # the pick-up before dmail-smtpd logs its 250).
        assert copy < accepted and sent < removed, \
            (accepted, copy, relay, sent, removed)
        # The session id of the receipt leads to the whole session.
        sid = re.search(r"sid=(\S+)", lines[accepted][2]).group(1)
        session = grep(srv, "sid=%s " % sid)
        first(session, r"^action=connect sid=%s client=127\.0\.0\.1 " % sid)
        first(session, r"^action=disconnect sid=%s .*messages=1" % sid)


def test_every_logged_line_has_action_or_event():
    """Run one message, a rejected recipient and a reload, then read
    every line logged: each starts with action= or event=."""
    with Sink() as sk, \
            oc.server("transport remote.test [127.0.0.1]:%d\n" % sk.port) \
            as srv:
        send_one(srv)
        with smtplib.SMTP(srv.host, srv.port("smtp"), timeout=20) as s:
            s.ehlo("client.test")
            s.mail("alice@example.test")
            assert s.rcpt("nobody@example.test")[0] >= 500
        sk.wait(1)
        oc.wait_queue_empty(srv)
        srv.reload()
        dt.wait_for(lambda: grep(srv, "event=reload-done"), 10,
                    what="reload logged")
        lines = log_lines(srv)
        assert len(lines) > 10, lines
        bad = [(p, lv, m) for p, lv, m in lines if lv != "fatal" and
               not re.match(r"^(action|event)=[a-z0-9-]+( |$)", m)]
        assert not bad, "\n".join("%s: %s: %s" % b for b in bad)


if __name__ == "__main__":
    dt.main([test_one_grep_follows_a_message,
             test_every_logged_line_has_action_or_event])
