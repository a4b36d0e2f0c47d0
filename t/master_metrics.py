#!/usr/bin/env python3
"""The event counters of "tellsmtp status --prometheus" and the status
socket (common/scoreboard.h, master/master_report.c): real traffic
through a real dmaild (SMTP accepted and refused for relay and unknown
user, SMTP AUTH and POP3 logins that fail and succeed, a TLS session, a
list post distributed and one held, a recipient deferred by the queue)
moves each counter by exactly the expected amount; a kill -9 of the
workers and a reload take nothing back; promtool accepts the text."""

import os
import poplib
import shutil
import signal
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
from master_common import without_node  # noqa: E402
from master_control import read_unix  # noqa: E402
from smtp_tls_auth import client_ctx  # noqa: E402

QUEUED = dt.prog("queued/dmail-queued")
LIST = "club@example.test"
USERS = ["alice@example.test", "bob@example.test", "stranger@example.test",
         "owner@example.test", "mod@example.test"]
SMTP = ',role="smtp"'
POP3 = ',role="pop3"'


def metrics_text(srv):
    r = srv.tell("status", "--prometheus")
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def metrics(text):
    """{'name{labels}': value} of every sample."""
    out = {}
    for line in without_node(text).splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = int(value)
    return out


def counters(srv):
    """The samples of the event counters and queue gauges only."""
    return {k: v for k, v in metrics(metrics_text(srv)).items()
            if not k.startswith(("dmail_pool_", "dmail_generation",
                                 "dmail_uptime", "dmail_start_time"))}


def key(name, pool, extra=""):
    return '%s{pool="%s"%s}' % (name, pool, extra)


def reject(reason):
    return key("dmail_smtp_rejected_total", "smtp",
               SMTP + ',reason="%s"' % reason)


def server():
    """A dmaild (not started) with SMTP, POP3 and TLS, the list worker
    and the queue manager."""
    for p in (dt.SMTPD, dt.POP3D, lc.LISTD, QUEUED):
        if not os.path.exists(p):
            raise dt.SkipTest("%s not built" % p)
    closed = dt.free_port()
    # No relay_networks: loopback may not relay without AUTH. The queue
    # tries remote.test once (a closed port) and not again for an hour.
    srv = dt.Server(smtp=True, pop3=True, tls=True, start=False,
                    extra="smtp_program %s\npop3_program %s\n"
                    "list_program %s\nqueue_program %s\n"
                    "list_dmarc_rewrite never\nqueue_retry_min 1h\n"
                    "queue_retry_max 2h\nsmtp_connect_timeout 2\n"
                    "transport remote.test [127.0.0.1]:%d\nlists_file %%s\n"
                    % (dt.SMTPD, dt.POP3D, lc.LISTD, QUEUED, closed))
    srv.lists_file = os.path.join(srv.tmp, "lists.dat")
    srv.write_conf(srv.extra % srv.lists_file)
    return srv


def start(srv):
    """Inside "with srv": the users, then dmaild."""
    for u in USERS:
        srv.add_user(u)
    srv.start()


def smtp_traffic(srv):
    """One message accepted; a relay and an unknown user refused; on a
    second connection STARTTLS, one failed and one good AUTH PLAIN, and
    a message to remote.test for the queue."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.sendmail("alice@example.test", ["bob@example.test"],
                   b"Subject: one\r\n\r\nHello.\r\n")
        s.mail("alice@example.test")
        assert s.rcpt("someone@remote.test")[0] == 554
        assert s.rcpt("nobody@example.test")[0] == 550
        s.rset()
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.starttls(context=client_ctx())
        s.ehlo()
        # One mechanism each time: smtplib.login() would try LOGIN too.
        s.user, s.password = "alice@example.test", "wrong"
        try:
            s.auth("PLAIN", s.auth_plain)
            raise AssertionError("bad password accepted")
        except smtplib.SMTPAuthenticationError:
            pass
        s.password = "secret"
        assert s.auth("PLAIN", s.auth_plain)[0] == 235
        s.sendmail("alice@example.test", ["bob@remote.test"],
                   b"Subject: out\r\n\r\nHello.\r\n")


def pop3_traffic(srv):
    """A failed login; then STLS and a good one."""
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
    p.user("alice@example.test")
    try:
        p.pass_("wrong")
        raise AssertionError("bad password accepted")
    except poplib.error_proto:
        pass
    p.quit()
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
    p.stls(client_ctx())
    p.user("alice@example.test")
    p.pass_("secret")
    p.quit()


def list_traffic(srv):
    """A member's post (distributed) and a stranger's (held)."""
    lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
    lc.set_list_option(srv, LIST, "moderator mod@example.test")
    lc.dlist(srv, "subscribe", LIST, "alice@example.test",
             "bob@example.test")
    lc.send(srv, "alice@example.test", LIST, subject="member post")
    lc.send(srv, "stranger@example.test", LIST, subject="outside post")


def expected_after_traffic():
    want = {
        key("dmail_smtp_messages_accepted_total", "smtp", SMTP): 4,
        reject("relay"): 1,
        reject("unknown_user"): 1,
        key("dmail_delivered_local_total", "smtp", SMTP): 1,
        key("dmail_queue_deferred_total", "queue"): 1,
        key("dmail_logins_succeeded_total", "smtp", SMTP): 1,
        key("dmail_logins_failed_total", "smtp", SMTP): 1,
        key("dmail_logins_succeeded_total", "pop3", POP3): 1,
        key("dmail_logins_failed_total", "pop3", POP3): 1,
        key("dmail_tls_sessions_total", "smtp", SMTP): 1,
        key("dmail_tls_sessions_total", "pop3", POP3): 1,
        key("dmail_list_posts_distributed_total", "list"): 1,
        key("dmail_list_posts_held_total", "list"): 1,
        key("dmail_queue_messages", "queue"): 1,
    }
    return want


def check(got, want):
    """Every sample as wanted, the others 0; the list's own notices and
    copies (delivered_local of the list pool) and the queue's age only
    roughly."""
    bad = []
    for k, v in got.items():
        if k in (key("dmail_delivered_local_total", "list"),
                 key("dmail_queue_oldest_message_age_seconds", "queue")):
            continue
        if v != want.get(k, 0):
            bad.append("%s = %d, want %d" % (k, v, want.get(k, 0)))
    missing = [k for k in want if k not in got]
    assert not bad and not missing, "\n".join(bad + missing)
    # Both members' copies of the post, the moderator's notice and the
    # note to the poster went into local Maildirs.
    assert got[key("dmail_delivered_local_total", "list")] >= 4, got
    assert got[key("dmail_queue_oldest_message_age_seconds", "queue")] >= 0


def program_pids(srv, names):
    out = []
    for pid in srv.worker_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                prog = os.path.basename(f.read().split(b"\0")[0])
        except OSError:
            continue
        if prog.decode() in names:
            out.append(pid)
    return out


def test_counters_follow_traffic():
    with server() as srv:
        start(srv)
        first = counters(srv)
        assert first and not any(first.values()), first
        smtp_traffic(srv)
        pop3_traffic(srv)
        list_traffic(srv)
        want = expected_after_traffic()
        slow = [key("dmail_list_posts_distributed_total", "list"),
                key("dmail_list_posts_held_total", "list"),
                key("dmail_queue_deferred_total", "queue"),
                key("dmail_queue_messages", "queue")]
        dt.wait_for(lambda: all(counters(srv).get(k) == want[k]
                                for k in slow), 30,
                    what="list and queue counters")
        lc.settle(srv)
        got = counters(srv)
        check(got, want)
        # The same figures on the status socket.
        sock = metrics(read_unix(os.path.join(srv.state_dir, "run",
                                              "status")))
        for k in want:
            assert sock[k] == got[k], (k, sock[k], got[k])

        # kill -9 every SMTP, POP3 and list worker, then reload: the
        # counts stay where they were.
        before = counters(srv)
        pids = program_pids(srv, ("dmail-smtpd", "dmail-pop3d",
                                  "dmail-listd"))
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        r = srv.tell("reload")
        assert r.returncode == 0 and "generation 2" in r.stdout, r
        after = counters(srv)
        for k, v in before.items():
            assert after[k] >= v, (k, v, after[k])
            if "queue" not in k:
                assert after[k] == v, (k, v, after[k])
        # New workers of generation 2 count on from there.
        lc.send(srv, "alice@example.test", "bob@example.test",
                subject="after reload")
        k = key("dmail_smtp_messages_accepted_total", "smtp", SMTP)
        dt.wait_for(lambda: counters(srv)[k] == before[k] + 1, 10,
                    what="accepted counted after reload")
        k = key("dmail_delivered_local_total", "smtp", SMTP)
        assert counters(srv)[k] == before[k] + 1


def test_promtool_check_metrics():
    promtool = shutil.which("promtool")
    if promtool is None:
        raise dt.SkipTest("promtool not installed (Debian package "
                          "prometheus, see contrib/install-deps.sh)")
    with server() as srv:
        start(srv)
        smtp_traffic(srv)
        text = metrics_text(srv)
        r = subprocess.run([promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr, text)
        assert r.stdout.strip() == "" and r.stderr.strip() == "", \
            (r.stdout, r.stderr)


if __name__ == "__main__":
    dt.main([test_counters_follow_traffic, test_promtool_check_metrics])
