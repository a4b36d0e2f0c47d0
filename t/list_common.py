"""list_common - helpers shared by the DList tests (t/list_*.py): a dmaild
with the SMTP worker, the list worker (and the queue manager when built),
dlist, sending through SMTP, and reading Maildirs."""

import email
import email.policy
import os
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

LISTD = dt.prog("listd/dmail-listd")
DLIST = dt.prog("util/dlist")
QUEUED = dt.prog("queued/dmail-queued")
DOMAIN = "example.test"


def server(extra="", users=(), queue=False, start=True, list_workers=1,
           dmarc="never", list_program=None):
    """dmaild with SMTP on loopback, the list pool, lists.dat in the
    temporary directory and users created before start. DMARC look-ups
    are off unless asked for (no DNS in the test environment)."""
    for p in (dt.SMTPD, LISTD, DLIST, dt.DMAILD):
        if not os.path.exists(p):
            raise dt.SkipTest("%s not built" % p)
    progs = "smtp_program %s\nlist_program %s\n" % (dt.SMTPD,
                                                      list_program or LISTD)
    if queue:
        if not os.path.exists(QUEUED):
            raise dt.SkipTest("dmail-queued not built")
        progs += ("queue_program %s\nqueue_retry_min 1\n"
                  "queue_retry_max 2\n" % QUEUED)
    srv = dt.Server(smtp=True, start=False, domains=[DOMAIN],
                    extra=progs + "relay_networks 127.0.0.0/8\n"
                    "list_workers_min %d\nlist_dmarc_rewrite %s\n"
                    "lists_file %%s\n%s" % (list_workers, dmarc, extra))
    srv.lists_file = os.path.join(srv.tmp, "lists.dat")
    srv.write_conf(srv.extra % srv.lists_file)
    try:
        for u in users:
            srv.add_user(u)
        if start:
            srv.start()
    except Exception:
        srv.cleanup()
        raise
    return srv


def dlist(srv, *args, check=True, stdin=None):
    r = subprocess.run([DLIST, "-c", srv.conf_path] + list(args),
                       input=stdin, capture_output=True, text=True,
                       timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("dlist %s failed (%d): %s%s"
                             % (" ".join(args), r.returncode, r.stdout,
                                r.stderr))
    return r


def set_list_option(srv, listaddr, line):
    """Set 'key value' in the block of listaddr in lists.dat, replacing
    the key's earlier lines (except the repeatable owner/moderator);
    written to a new file and renamed, as an editor would."""
    key = line.split()[0]
    with open(srv.lists_file) as f:
        lines = f.read().split("\n")
    out, inside = [], False
    for ln in lines:
        words = ln.split()
        if words and words[0] == "list":
            inside = words[1].lower() == listaddr.lower()
        elif inside and words and words[0] == key and \
                key not in ("owner", "moderator"):
            continue
        out.append(ln)
    # Insert after the block's "list" line.
    for i, ln in enumerate(out):
        words = ln.split()
        if words[:2] == ["list", listaddr.lower()]:
            out.insert(i + 1, "\t" + line)
            break
    else:
        raise AssertionError("no list %s in lists.dat" % listaddr)
    tmp = srv.lists_file + ".new"
    with open(tmp, "w") as f:
        f.write("\n".join(out))
    os.rename(tmp, srv.lists_file)


def send(srv, sender, rcpts, subject="hello", body="Hello.\n",
         headers=None, from_hdr=None):
    """Send one message through SMTP; returns the message text."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    lines = ["From: %s" % (from_hdr or sender), "To: %s" % rcpts[0],
             "Subject: %s" % subject,
             "Message-ID: <%f.%d@test>" % (time.time(), os.getpid())]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    text = "\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.sendmail(sender, rcpts, text.encode())
    return text


def messages(srv, address):
    """Parsed messages in the address's Maildir, in name order."""
    out = []
    for path in srv.maildir_messages(address):
        with open(path, "rb") as f:
            out.append(email.message_from_bytes(f.read(),
                                                policy=email.policy.compat32))
    return out


def wait_message(srv, address, pred=lambda m: True, timeout=15,
                 what="message"):
    """Wait until a message matching pred is in address's Maildir."""
    def look():
        for m in messages(srv, address):
            if pred(m):
                return m
        return None
    return dt.wait_for(look, timeout, what="%s for %s" % (what, address))


def subject_has(text):
    return lambda m: text.lower() in (m.get("Subject") or "").lower()


def body_of(m):
    if m.is_multipart():
        return "\n".join(body_of(p) for p in m.get_payload())
    p = m.get_payload(decode=True)
    if p is None:
        p = m.get_payload()
        if isinstance(p, list):
            return "\n".join(body_of(x) for x in p)
        return str(p)
    return p.decode("utf-8", "replace")


TOKEN_RE = re.compile(r"\b(confirm|approve|reject)\s+([0-9a-f]{24})\b")


def token_in(m, word):
    for w, t in TOKEN_RE.findall((m.get("Subject") or "") + "\n" +
                                 body_of(m)):
        if w == word:
            return t
    raise AssertionError("no '%s TOKEN' in message %r" % (word,
                                                          m.get("Subject")))


def spool_empty(srv):
    d = os.path.join(srv.state_dir, "lists", "spool", "new")
    return not os.path.isdir(d) or not os.listdir(d)


def wait_spool_empty(srv, timeout=15):
    dt.wait_for(lambda: spool_empty(srv), timeout,
                what="list spool to be processed")


def settle(srv, seconds=1.0):
    """Let the list worker finish what is in the spool, then wait a
    little more for deliveries to land."""
    wait_spool_empty(srv)
    time.sleep(seconds)


def members(srv, listaddr):
    r = dlist(srv, "members", listaddr)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]


def listd_pids(srv):
    """Pids of this instance's dmail-listd processes."""
    out = []
    for pid in srv.worker_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if f.read().split(b"\0")[0].endswith(b"dmail-listd"):
                    out.append(pid)
        except OSError:
            pass
    return out


def assert_workers_healthy(srv):
    """No list or SMTP worker died during the test (a crash would be
    hidden by the master restarting it)."""
    bad = [ln for ln in srv.log_text().splitlines()
           if ("pool=list " in ln or "pool=smtp " in ln) and
           ("killed by signal" in ln or "exited with status" in ln)
           or "runtime error:" in ln or "AddressSanitizer" in ln]
    assert not bad, "\n".join(bad[:5])
