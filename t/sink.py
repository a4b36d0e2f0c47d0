#!/usr/bin/env python3
"""sink - a small SMTP sink server for DMail's outbound tests (test only).

    import sink
    s = sink.Sink(replies={"bob@remote.test": ["451 4.3.0 later", "250"]})
    s.start()                       # listens on 127.0.0.1, s.port
    ... s.messages                  # list of sink.Message (byte-exact data)
    s.stop()

Options:
  host, port       where to listen (port 0: any free port)
  replies          {recipient (lower case): reply or [reply, reply, ...]}
                   A list is consumed one reply per RCPT of that recipient;
                   its last entry stays. A reply is "451 4.3.0 text" or just
                   "250". Default for everyone: 250.
  hang             None, "greeting" (accept, never greet), "data" (take the
                   whole message, never answer the final dot) or "rcpt";
                   hang_count limits how many connections hang (then normal)
  tls              (cert, key) to offer STARTTLS
  auth             (user, password): offer AUTH PLAIN and require it
  size             SIZE limit to advertise (0: none)
  pipelining       advertise PIPELINING (default True)
  dsn              advertise DSN (RFC 3461); MAIL and RCPT command lines
                   are kept in .commands either way

Each accepted message is recorded as Message(mail_from, rcpts, data, tls,
auth) where data is exactly the bytes received between DATA and the final
dot, dot-unstuffed, CRLF line ends kept. Counters: connections, sessions
with TLS (tls_sessions), transactions per connection.

Run as a program for benchmarks: python3 sink.py [--host H] [--port P]
prints the port and counts messages (one line per second on stderr).
"""

import base64
import socket
import ssl
import sys
import threading
import time


class Message:
    def __init__(self, mail_from, rcpts, data, tls, auth):
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.data = data
        self.tls = tls
        self.auth = auth

    def __repr__(self):
        return "Message(from=%r, rcpts=%r, %d bytes)" % (
            self.mail_from, self.rcpts, len(self.data))


class Sink:
    def __init__(self, host="127.0.0.1", port=0, replies=None, hang=None,
                 hang_count=None, tls=None, auth=None, size=0,
                 pipelining=True, name="sink.test", record=True,
                 dsn=False, gate=None):
        self.host = host
        self.replies = {k.lower(): (list(v) if isinstance(v, (list, tuple))
                                    else [v])
                        for k, v in (replies or {}).items()}
        self.hang = hang
        self.hang_count = hang_count
        self.tls = tls
        self.auth = auth
        self.size = size
        self.pipelining = pipelining
        self.dsn = dsn
        # A threading.Event: every RCPT reply waits until it is set (a
        # test queues several messages while the first delivery holds).
        self.gate = gate
        self.commands = []
        self.name = name
        self.record = record
        self.messages = []
        self.count = 0
        self.connections = 0
        self.tls_sessions = 0
        self.per_connection = []
        self.rcpt_log = []
        self.hung = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.thread = None
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(tls[0], tls[1])

    # -- life cycle ---------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def wait(self, count, timeout=20):
        """Wait until count messages were received; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.count >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("sink got %d message(s), wanted %d"
                             % (self.count, count))

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._session, args=(conn, number),
                             daemon=True).start()

    # -- one session ----------------------------------------------------------
    def _reply_for(self, rcpt):
        with self.lock:
            self.rcpt_log.append(rcpt)
            lst = self.replies.get(rcpt.lower())
            if not lst:
                return "250 2.1.5 ok"
            r = lst[0]
            if len(lst) > 1:
                lst.pop(0)
        if len(r) == 3:
            r += " %s.0.0 sink says so" % r[0]
        return r

    def _hangs(self, where):
        if self.hang != where:
            return False
        with self.lock:
            if self.hang_count is not None:
                if self.hang_count <= 0:
                    return False
                self.hang_count -= 1
        return True

    def _session(self, conn, number):
        conn.settimeout(120)
        # Replies go out one by one; without this Nagle holds each
        # second small reply until the peer's delayed ACK (40 ms).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = conn.makefile("rb")
        state = {"tls": False, "auth": None, "txns": 0}

        def send(line):
            conn.sendall(line.encode() + b"\r\n")

        def hang_forever():
            with self.lock:
                self.hung += 1
            while not self.stopping:
                try:
                    if not conn.recv(65536):
                        return
                except OSError:
                    return

        try:
            if self._hangs("greeting"):
                hang_forever()
                return
            send("220 %s ESMTP sink" % self.name)
            mail_from, rcpts = None, []
            while True:
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd.split(" ", 1)[0].upper()
                if verb in ("MAIL", "RCPT"):
                    with self.lock:
                        self.commands.append(cmd)
                if verb in ("EHLO", "HELO"):
                    if verb == "HELO":
                        send("250 %s" % self.name)
                        continue
                    ext = ["250-%s" % self.name]
                    if self.pipelining:
                        ext.append("250-PIPELINING")
                    if self.size:
                        ext.append("250-SIZE %d" % self.size)
                    else:
                        ext.append("250-SIZE")
                    ext.append("250-8BITMIME")
                    if self.dsn:
                        ext.append("250-DSN")
                    if self.ctx and not state["tls"]:
                        ext.append("250-STARTTLS")
                    if self.auth:
                        ext.append("250-AUTH PLAIN")
                    ext.append("250 ENHANCEDSTATUSCODES")
                    conn.sendall(("\r\n".join(ext) + "\r\n").encode())
                elif verb == "STARTTLS" and self.ctx and not state["tls"]:
                    send("220 2.0.0 go ahead")
                    f.close()
                    conn = self.ctx.wrap_socket(conn, server_side=True)
                    f = conn.makefile("rb")
                    state["tls"] = True
                    with self.lock:
                        self.tls_sessions += 1
                elif verb == "AUTH" and self.auth:
                    parts = cmd.split()
                    ok = False
                    if len(parts) == 3 and parts[1].upper() == "PLAIN":
                        try:
                            raw = base64.b64decode(parts[2])
                            _, user, pw = raw.split(b"\0")
                            ok = (user.decode(), pw.decode()) == \
                                tuple(self.auth)
                        except Exception:
                            ok = False
                    if ok:
                        state["auth"] = self.auth[0]
                        send("235 2.7.0 authenticated")
                    else:
                        send("535 5.7.8 bad credentials")
                elif verb == "MAIL":
                    if self.auth and not state["auth"]:
                        send("530 5.7.0 authentication required")
                        continue
                    mail_from = cmd[10:].split(">")[0].lstrip("<")
                    rcpts = []
                    send("250 2.1.0 ok")
                elif verb == "RCPT":
                    if mail_from is None:
                        send("503 5.5.1 need MAIL")
                        continue
                    rcpt = cmd[8:].split(">")[0].lstrip("<")
                    if self._hangs("rcpt"):
                        hang_forever()
                        return
                    if self.gate is not None:
                        self.gate.wait(60)
                    r = self._reply_for(rcpt)
                    if r.startswith("2"):
                        rcpts.append(rcpt)
                    send(r)
                elif verb == "DATA":
                    if not rcpts:
                        send("554 5.5.1 no valid recipients")
                        continue
                    send("354 go ahead")
                    data = []
                    while True:
                        l = f.readline()
                        if not l:
                            return
                        if l == b".\r\n":
                            break
                        if l.startswith(b"."):
                            l = l[1:]
                        data.append(l)
                    if self._hangs("data"):
                        hang_forever()
                        return
                    msg = Message(mail_from, rcpts, b"".join(data),
                                  state["tls"], state["auth"])
                    with self.lock:
                        if self.record:
                            self.messages.append(msg)
                        self.count += 1
                        state["txns"] += 1
                    send("250 2.0.0 queued as sink%d" % self.count)
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    send("250 2.0.0 ok")
                elif verb == "NOOP":
                    send("250 2.0.0 ok")
                elif verb == "QUIT":
                    send("221 2.0.0 bye")
                    return
                else:
                    send("502 5.5.2 command not implemented")
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            with self.lock:
                self.per_connection.append(state["txns"])
            try:
                conn.close()
            except OSError:
                pass


def main():
    host, port = "127.0.0.1", 0
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--host":
            host = args.pop(0)
        elif a == "--port":
            port = int(args.pop(0))
    s = Sink(host=host, port=port, record=False).start()
    print(s.port, flush=True)
    last = 0
    try:
        while True:
            time.sleep(1)
            if s.count != last:
                sys.stderr.write("%d\n" % s.count)
                sys.stderr.flush()
                last = s.count
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
