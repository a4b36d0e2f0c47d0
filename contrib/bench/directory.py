#!/usr/bin/env python3
"""directory.py - the account directories of issue 15 measured, against
throw-away servers (t/directory_common.py: a PostgreSQL cluster made
with initdb, an OpenLDAP slapd) and a throw-away DMail:

1. lookups: account lookups per second through userdb.h in one process,
   as a worker makes them at each login and RCPT (userdb-lookups.c,
   compiled here against the build tree's libdmail.a), for bdb, pgsql
   and ldap, with the worker cache (userdb_cache_ttl 30s, the default)
   and without (0: every lookup reaches the server). USERS accounts
   looked up round-robin for SECONDS seconds each.
2. smtp: SMTP messages/s with the accounts in Berkeley DB and in
   PostgreSQL (cached and uncached), in the same run, with dmail-bench
   smtp (SESSIONS sessions, MESSAGES messages of 2 KB, one connection
   per message so every message costs a fresh worker lookup).
3. outage: a PostgreSQL (and then slapd) stopped for OUTAGE seconds
   under load (userdb_cache_ttl 0, the worst case): CLIENTS threads send
   one message per connection; counted: 250s, 4xx (by reply), other
   errors, then every message answered 250 is looked for in the
   Maildirs (lost = acknowledged but not there), and the recovery time
   (from the server's restart to the next 250, and to the last 4xx).

usage: contrib/bench/directory.py [-b BUILDDIR] [-s STEPS] [-u USERS]
           [-t SECONDS] [-c SESSIONS] [-n MESSAGES] [-o OUTAGE] [-C CLIENTS]
Root is fine (workers then run as nobody). Prints one result line per
figure. Not part of make check; see contrib/bench/README.md.
"""

import argparse
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def parse():
    ap = argparse.ArgumentParser(description="account directory benchmark")
    ap.add_argument("-b", dest="builddir", default=os.getcwd())
    ap.add_argument("-s", dest="steps", default="123")
    ap.add_argument("-u", dest="users", type=int, default=100)
    ap.add_argument("-t", dest="seconds", type=int, default=5)
    ap.add_argument("-c", dest="sessions", type=int, default=20)
    ap.add_argument("-n", dest="messages", type=int, default=4000)
    ap.add_argument("-o", dest="outage", type=int, default=30)
    ap.add_argument("-C", dest="clients", type=int, default=8)
    return ap.parse_args()


ARGS = parse()
os.environ["DMAIL_BUILDDIR"] = os.path.abspath(ARGS.builddir)
os.environ.setdefault("DMAIL_SRCDIR", TOP)
sys.path.insert(0, os.path.join(TOP, "t"))
import dmailtest as dt  # noqa: E402
import directory_common as dc  # noqa: E402

DOMAIN = "example.test"
PROGRAMS = ("smtp_program %s\npop3_program %s\nclient_connection_limit 0\n"
            "client_connection_rate_limit 0\nsmtp_workers_max 60\n"
            % (dt.SMTPD, dt.POP3D))
CACHED = "userdb_cache_ttl 30s\n"
UNCACHED = "userdb_cache_ttl 0\nuserdb_cache_negative_ttl 0\n"


def addresses():
    return ["u%d@%s" % (i, DOMAIN) for i in range(1, ARGS.users + 1)]


def fill_pgsql(pg):
    values = ",".join("('%s','%s',0,true)" % (a, dc.crypt_hash("pw"))
                      for a in addresses())
    pg.psql_admin("INSERT INTO users (address, password, quota_bytes, "
                  "enabled) VALUES " + values)


def make_slapd():
    ld = dc.Slapd()
    ld.load(*[dc.Slapd.user_ldif(a, "pw") for a in addresses()])
    ld.start()
    return ld


def server(extra):
    """A started throw-away dmaild logging warnings only."""
    srv = dt.Server(smtp=True, extra=PROGRAMS + extra, start=False)
    srv.base_lines = [ln.replace("log stderr debug", "log stderr warning")
                      for ln in srv.base_lines]
    srv.write_conf()
    return srv.start()


def done(srv):
    srv.__exit__(None, None, None)


def bdb_server(extra=""):
    srv = server(extra)
    lines = "".join("%s:%s\n" % (a, dc.crypt_hash("pw")) for a in addresses())
    path = os.path.join(srv.tmp, "import.txt")
    with open(path, "w") as f:
        f.write(lines)
    srv.dmail_user("import", path)
    return srv


def lookup_tool(tmp):
    exe = os.path.join(tmp, "userdb-lookups")
    b = ARGS.builddir
    libs = subprocess.run(["sed", "-n", "s/^LIBS = //p;s/^DB_LIBS = //p;"
                           "s/^OPENSSL_LIBS = //p;s/^CRYPT_LIBS = //p;"
                           "s/^LIBSYSTEMD_LIBS = //p",
                           os.path.join(b, "Makefile")],
                          capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-I", b, "-I", os.path.join(TOP, "common"),
                    "-o", exe, os.path.join(TOP, "contrib", "bench",
                                            "userdb-lookups.c"),
                    os.path.join(b, "common", "libdmail.a")] + libs,
                   check=True)
    return exe


def lookups(exe, srv, what):
    r = subprocess.run([exe, srv.conf_path, "u%d@" + DOMAIN,
                        str(ARGS.users), str(ARGS.seconds)],
                       capture_output=True, text=True, check=True)
    print("lookups %-22s %s" % (what, r.stdout.strip()), flush=True)


def step_lookups(pg, ld, tmp):
    exe = lookup_tool(tmp)
    srv = bdb_server()
    lookups(exe, srv, "bdb")
    done(srv)
    for name, d in (("pgsql", pg), ("ldap", ld)):
        if d is None:
            continue
        for label, cache in (("cached", CACHED), ("uncached", UNCACHED)):
            srv = server(d.conf() + cache)
            lookups(exe, srv, "%s %s" % (name, label))
            done(srv)


def bench_smtp(srv, what):
    rcpts = ",".join(addresses()[:10])
    r = subprocess.run([dt.prog("util/dmail-bench"), "smtp", "-H",
                        "127.0.0.1", "-p", str(srv.port("smtp")), "-c",
                        str(ARGS.sessions), "-n", str(ARGS.messages), "-s",
                        "2k", "-r", rcpts, "--per-connection", "1"],
                       capture_output=True, text=True)
    rate = [ln for ln in r.stdout.splitlines() if "messages/s" in ln]
    ok = [ln for ln in r.stdout.splitlines() if "ok=" in ln]
    print("smtp %-22s %s | %s" % (what, rate[0] if rate else r.stderr[-200:],
                                  ok[0].split(": ", 1)[-1] if ok else ""),
          flush=True)


def step_smtp(pg):
    servers = [("bdb", bdb_server())]
    if pg is not None:
        servers += [("pgsql cached", server(
            pg.conf() + CACHED)),
            ("pgsql uncached", server(
                pg.conf() + UNCACHED))]
    for _ in range(2):          # alternate: same conditions for each
        for what, srv in servers:
            bench_smtp(srv, what)
    for _, srv in servers:
        done(srv)


def step_outage(d, name):
    """d stopped for ARGS.outage s under load; see the header."""
    srv = server(d.conf() + UNCACHED)
    users = addresses()[:10]
    events, stop = [], threading.Event()

    def client(k):
        n = 0
        while not stop.is_set():
            subject = "%s-%d-%d" % (name, k, n)
            rcpt = users[n % len(users)]
            n += 1
            try:
                with smtplib.SMTP("127.0.0.1", srv.port("smtp"),
                                  timeout=30) as s:
                    s.sendmail("b@remote.test", [rcpt], "Subject: %s\r\n"
                               "\r\nx\r\n" % subject)
                events.append((time.monotonic(), "250", subject, rcpt))
            except smtplib.SMTPRecipientsRefused as e:
                code = list(e.recipients.values())[0][0]
                events.append((time.monotonic(), str(code), subject, rcpt))
            except smtplib.SMTPResponseException as e:
                events.append((time.monotonic(), "%d %s" % (
                    e.smtp_code, e.smtp_error.decode(errors="replace")[:60]),
                    subject, rcpt))
            except (OSError, smtplib.SMTPException) as e:
                events.append((time.monotonic(), type(e).__name__, subject,
                               rcpt))
    threads = [threading.Thread(target=client, args=(k,))
               for k in range(ARGS.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(10)
    down = time.monotonic()
    d.stop()
    time.sleep(ARGS.outage)
    restart = time.monotonic()
    d.start()
    up = time.monotonic()
    time.sleep(15)
    stop.set()
    for t in threads:
        t.join(60)
    acked = [e for e in events if e[1] == "250"]
    temp = [e for e in events if e[1].startswith("4")]
    other = [e for e in events if e[1] not in ("250",) and
             not e[1].startswith("4")]
    first_ok = min((e[0] for e in acked if e[0] > up), default=None)
    last_temp = max((e[0] for e in temp), default=None)
    found = set()
    for rcpt in users:
        for path in srv.maildir_messages(rcpt):
            with open(path, errors="replace") as f:
                for line in f:
                    if line.startswith("Subject: "):
                        found.add(line[9:].strip())
                        break
    lost = [e[2] for e in acked if e[2] not in found]
    before = [e for e in acked if e[0] < down]
    print("outage %s: %d s down under load (%d clients, one message per "
          "connection, cache off): %d messages 250 (%.0f/s before the "
          "stop), %d 4xx (%s), %d other failures (%s), %d acknowledged "
          "and lost; server ready %.2f s after its restart command, first "
          "250 %.2f s after it was ready, last 4xx %s; run %.0f s"
          % (name, ARGS.outage, ARGS.clients, len(acked),
             len(before) / (down - t0), len(temp),
             ",".join(sorted(set(e[1][:3] for e in temp))) or "-",
             len(other), "; ".join(sorted(set(e[1] for e in other))) or "-",
             len(lost), up - restart,
             (first_ok - up) if first_ok else -1,
             ("%.2f s after it was ready" % (last_temp - up))
             if last_temp else "none", time.monotonic() - t0), flush=True)
    done(srv)


def main():
    tmp = tempfile.mkdtemp(prefix="dmail-dirbench-")
    pg = ld = None
    try:
        try:
            pg = dc.Postgres()
            fill_pgsql(pg)
        except dt.SkipTest as e:
            print("no pgsql: %s" % e)
        try:
            ld = make_slapd()
        except dt.SkipTest as e:
            print("no ldap: %s" % e)
        if "1" in ARGS.steps:
            step_lookups(pg, ld, tmp)
        if "2" in ARGS.steps:
            step_smtp(pg)
        if "3" in ARGS.steps:
            for name, d in (("pgsql", pg), ("ldap", ld)):
                if d is not None:
                    step_outage(d, name)
    finally:
        for d in (pg, ld):
            if d is not None:
                d.cleanup()
        subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
