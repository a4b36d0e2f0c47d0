#!/usr/bin/env python3
"""One client address cannot hold every worker (issue 9, section 4).

- A slow-trickle flood: 60 connections from 127.0.0.1 each sending a byte
  a second against an SMTP pool of 20 workers. With
  client_connection_limit 5 only 5 of them get a session, the rest get
  421 4.7.0 and are closed at once, and clients from another address
  (127.0.0.2) are greeted. Before the limit the flood held all 20
  workers and the other clients got no greeting at all.
- The same for idle POP3 connections (-ERR [SYS/TEMP]).
- client_limit_exempt lifts the limit for a network.
- A full pool names the addresses holding most sessions, in the log and
  in tellsmtp status.
- Total time limits: a command line trickled byte by byte ends with
  421 4.4.2 (SMTP) or -ERR (POP3) after smtp/pop3_command_time_limit,
  and a DATA phase trickled line by line after smtp_data_time_limit,
  with nothing of the message kept.
"""

import re
import socket
import threading
import time

import dmailtest as dt
from master_common import without_node

USER = "alice@example.test"


def recv_text(sock):
    return dt.recv_line(sock).decode()


def server(extra="", smtp=(2, 20, 1000), pop3=(2, 20, 1000)):
    return dt.Server(smtp=True, pop3=True,
                     workers={"smtp": smtp, "pop3": pop3},
                     extra="smtp_program %s\npop3_program %s\n%s"
                     % (dt.SMTPD, dt.POP3D, extra))


class Trickler:
    """Connections from one source that send a byte a second forever
    (never a whole line), and remember the first line each one got."""

    def __init__(self, port, n, source="127.0.0.1"):
        self.socks = []
        for _ in range(n):
            s = dt.connect(port, source=source, timeout=30)
            s.setblocking(False)
            self.socks.append(s)
        self.first = [b""] * n
        self.closed = [False] * n
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            for i, s in enumerate(self.socks):
                if self.closed[i]:
                    continue
                try:
                    data = s.recv(4096)
                    with self.lock:
                        if data == b"":
                            self.closed[i] = True
                        elif b"\n" not in self.first[i]:
                            self.first[i] += data
                except BlockingIOError:
                    pass
                except OSError:
                    with self.lock:
                        self.closed[i] = True
                    continue
                try:
                    s.send(b"X")
                except OSError:
                    pass
            self.stop.wait(1.0)

    def lines(self):
        with self.lock:
            return [f.split(b"\r\n")[0].decode() if b"\n" in f else None
                    for f in self.first]

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def greeted(port, source, prefix, timeout=20):
    """Seconds until a client from source gets a line starting with
    prefix."""
    t0 = time.monotonic()
    s = dt.connect(port, source=source, timeout=timeout)
    try:
        line = recv_text(s)
    finally:
        s.close()
    assert line.startswith(prefix), line
    return time.monotonic() - t0


def flood(role, greeting, refusal, n):
    limit = 5
    with server("client_connection_limit %d\n" % limit) as srv:
        port = srv.port(role)
        t = Trickler(port, n)
        try:
            dt.wait_for(lambda: any(t.lines()), 30, what="flood served")
            # Other clients are greeted at once (before the limit: never,
            # the flood held every worker).
            times = [greeted(port, "127.0.0.2", greeting) for _ in range(7)]
            # Every flood connection got its first line: a greeting for
            # at most `limit` of them, the refusal for the rest.
            lines = dt.wait_for(lambda: all(t.lines()) and t.lines(), 30,
                                what="a first line on every connection")
            ok = [x for x in lines if x.startswith(greeting)]
            bad = [x for x in lines if x.startswith(refusal)]
            assert 1 <= len(ok) <= limit, lines
            assert len(ok) + len(bad) == n, lines
            # The refused ones are closed, the others stay.
            dt.wait_for(lambda: sum(t.closed) >= len(bad), 10,
                        what="refused connections closed")
            print("%s: %d of %d flood connections served, %d refused; other "
                  "clients greeted in %.3f s at most (mean %.3f s)"
                  % (role, len(ok), n, len(bad), max(times),
                     sum(times) / len(times)), flush=True)
            log = srv.log_text()
            assert re.search(r"action=refuse sid=\S+ client=127\.0\.0\.1 ",
                             log), log
            assert "reason=client_connection_limit" in log
        finally:
            t.close()


def test_smtp_trickle_flood():
    flood("smtp", "220 ", "421 4.7.0 ", 60)


def test_pop3_idle_flood():
    flood("pop3", "+OK", "-ERR [SYS/TEMP] ", 30)


def test_exempt_network():
    with server("client_connection_limit 2\n"
                "client_limit_exempt 10.0.0.0/8 127.0.0.2\n") as srv:
        port = srv.port("smtp")
        socks = [dt.connect(port, source="127.0.0.2") for _ in range(5)]
        for s in socks:
            assert recv_text(s).startswith("220 ")
        s = dt.connect(port, source="127.0.0.3")
        t = dt.connect(port, source="127.0.0.3")
        u = dt.connect(port, source="127.0.0.3")
        lines = sorted(recv_text(x)[:9] for x in (s, t, u))
        assert lines == ["220 mx.ex", "220 mx.ex", "421 4.7.0"], lines
        for x in socks + [s, t, u]:
            x.close()


def test_full_pool_names_top_clients():
    with server("client_connection_limit 0\n", smtp=(1, 4, 1000)) as srv:
        port = srv.port("smtp")
        socks = [dt.connect(port, source="127.0.0.1") for _ in range(3)]
        socks.append(dt.connect(port, source="127.0.0.2"))
        for s in socks:
            assert recv_text(s).startswith("220 ")
        # Pool full: one more waits in the backlog.
        waiting = dt.connect(port, source="127.0.0.3")

        def warned():
            return [l for l in srv.log_text().splitlines()
                    if "workers busy" in l and "top_clients=" in l]
        lines = dt.wait_for(warned, 10, what="pool full warning")
        assert 'top_clients="127.0.0.1=3 127.0.0.2=1"' in lines[0], lines
        r = srv.tell("status")
        assert "smtp top clients: 127.0.0.1=3 127.0.0.2=1" in r.stdout, \
            r.stdout
        text = without_node(srv.tell("status", "--prometheus").stdout)
        assert ('dmail_pool_top_client_sessions{pool="smtp",'
                'client="127.0.0.1"} 3') in text, text
        for s in socks + [waiting]:
            s.close()


def trickle_until_closed(sock, data, every=0.25, limit=30):
    """Send data a byte at a time; return what the server sent back once
    it closes the connection, and the seconds that took."""
    t0 = time.monotonic()
    sock.settimeout(every)
    got = b""
    i = 0
    while time.monotonic() - t0 < limit:
        if i < len(data):
            try:
                sock.send(data[i:i + 1])
            except OSError:
                pass
            i += 1
        try:
            chunk = sock.recv(4096)
            if chunk == b"":
                return got.decode(), time.monotonic() - t0
            got += chunk
        except socket.timeout:
            pass
        except OSError:
            return got.decode(), time.monotonic() - t0
    raise AssertionError("not closed after %ds: %r" % (limit, got))


def test_command_time_limit():
    with server("smtp_command_time_limit 2\npop3_command_time_limit 2\n"
                ) as srv:
        s = dt.connect(srv.port("smtp"))
        assert recv_text(s).startswith("220 ")
        got, took = trickle_until_closed(s, b"NOOP" + b" " * 200 + b"\r\n")
        assert "421 4.4.2 " in got, got
        assert took > 1.5, took
        s.close()
        p = dt.connect(srv.port("pop3"))
        assert recv_text(p).startswith("+OK")
        got, took = trickle_until_closed(p, b"USER " + b"a" * 200 + b"\r\n")
        assert got.startswith("-ERR"), got
        assert took > 1.5, took
        p.close()
        assert "action=timeout" in srv.log_text()


def test_data_time_limit():
    with server("smtp_data_time_limit 3\n") as srv:
        srv.add_user(USER, "secret")
        s = dt.connect(srv.port("smtp"))
        f = s.makefile("rwb")
        assert f.readline().startswith(b"220 ")
        for cmd, code in ((b"HELO x", b"250"), (b"MAIL FROM:<b@x.org>", b"250"),
                          (b"RCPT TO:<%s>" % USER.encode(), b"250"),
                          (b"DATA", b"354")):
            f.write(cmd + b"\r\n")
            f.flush()
            assert f.readline().startswith(code)
        # Whole lines, each well within smtp_data_timeout: only the total
        # for the DATA phase ends it.
        t0 = time.monotonic()
        s.settimeout(0.3)
        got = b""
        while time.monotonic() - t0 < 30:
            try:
                s.send(b"line of a message that never ends\r\n")
                chunk = s.recv(4096)
                if chunk == b"":
                    break
                got += chunk
            except socket.timeout:
                pass
            except OSError:
                break
        took = time.monotonic() - t0
        assert got.startswith(b"421 4.4.2 "), got
        assert took > 2.5, took
        s.close()
        # The 421 came after the transaction was dropped.
        assert srv.maildir_messages(USER) == []
        assert "stage=DATA" in srv.log_text()


if __name__ == "__main__":
    dt.main([test_smtp_trickle_flood, test_pop3_idle_flood,
             test_exempt_network, test_full_pool_names_top_clients,
             test_command_time_limit, test_data_time_limit])
