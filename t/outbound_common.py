"""outbound_common - helpers shared by the outbound (dmail-queued) tests:
a dmaild with the SMTP server and the queue manager from the build tree,
sending through its SMTP port, and reading DSNs out of Maildirs."""

import email
import email.policy
import os
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import sink  # noqa: E402,F401

QUEUED = dt.prog("queued/dmail-queued")

# Compressed time for tests: retries every second or two.
FAST = """queue_retry_min %s
queue_retry_max %s
smtp_reply_timeout %d
smtp_connect_timeout 2
"""


def server(extra="", users=(), host="127.0.0.1", domains=("example.test",),
           tls=False, start=True, hostname="mx.example.test",
           reply_timeout=3, retry=("1", "2"), smtp=True, submission=False):
    """A dmaild with smtp listener (and/or submission), relaying for
    loopback, the real SMTP worker and queue manager, and users created
    before start."""
    for p in (dt.SMTPD, QUEUED):
        if not os.path.exists(p):
            raise dt.SkipTest("%s not built" % p)
    srv = dt.Server(smtp=smtp, submission=submission, start=False,
                    host=host, domains=domains,
                    tls=tls, hostname=hostname,
                    extra="relay_networks 127.0.0.0/8\n"
                    "smtp_program %s\nqueue_program %s\n%s%s"
                    % (dt.SMTPD, QUEUED, FAST % (retry[0], retry[1], reply_timeout), extra))
    try:
        for u in users:
            srv.add_user(u)
        if start:
            srv.start()
            wait_queued(srv)
    except Exception:
        srv.cleanup()
        raise
    return srv


def queued_pids(srv):
    """Pids of dmail-queued processes of this instance (the manager and
    its delivery processes share the program name)."""
    out = []
    for pid in srv.worker_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")[0]
        except OSError:
            continue
        if cmd.endswith(b"dmail-queued"):
            out.append(pid)
    return out


def manager_pid(srv):
    """The queue manager itself: the dmail-queued whose parent is dmaild."""
    for pid in queued_pids(srv):
        try:
            with open("/proc/%d/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == srv.proc.pid:
            return pid
    return None


def wait_queued(srv, timeout=10):
    """Wait until the queue manager runs (its FIFO exists)."""
    fifo = os.path.join(srv.state_dir, "spool", "control")
    dt.wait_for(lambda: manager_pid(srv) and os.path.exists(fifo), timeout,
                what="dmail-queued running")


def send(srv, sender, rcpts, body, host=None):
    """Send one message through the instance's SMTP port."""
    with smtplib.SMTP(host or srv.host, srv.port("smtp"), timeout=20) as s:
        s.ehlo("client.test")
        s.sendmail(sender, rcpts, body)


def queue_ids(srv):
    d = os.path.join(srv.state_dir, "spool", "queue")
    try:
        return sorted(n for n in os.listdir(d) if not n.startswith("."))
    except FileNotFoundError:
        return []


def wait_queue_empty(srv, timeout=20):
    dt.wait_for(lambda: not queue_ids(srv), timeout, what="empty queue")


def read_messages(srv, address):
    out = []
    for p in srv.maildir_messages(address):
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def dsn_fields(raw):
    """The message/delivery-status part of a DSN as (per-message dict,
    [per-recipient dict, ...]) with lower-case keys."""
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/report", \
        msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            groups = []
            payload = part.get_payload()
            for block in payload:
                groups.append({k.lower(): v for k, v in block.items()})
            return groups[0], groups[1:]
    raise AssertionError("no message/delivery-status part")


def tell(srv, *args):
    return subprocess.run([dt.TELLSMTP, "-c", srv.conf_path] + list(args),
                          capture_output=True, text=True, timeout=30)


def log_count(srv, needle):
    return srv.log_text().count(needle)


def sleep(s):
    time.sleep(s)
