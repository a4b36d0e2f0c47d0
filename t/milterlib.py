"""milterlib - a small milter (protocol version 6) for the tests, written
from the protocol description (libmilter's mfdef.h): it answers every
stage as scripted, sends modifications at the end of the message, can
hang, crash or break the protocol at a chosen stage, and records what the
MTA sent (commands, macros, header fields, body).
"""

import socket
import struct
import threading
import time

import dmailtest as dt

# Actions (SMFIF_*) and protocol steps (SMFIP_*).
ALL_ACTIONS = 0x1FF
NOCONNECT, NOHELO, NOMAIL, NORCPT, NOBODY, NOHDRS, NOEOH = \
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
NR_HDR, NODATA, NR_CONN, NR_MAIL, NR_RCPT, NR_EOH, NR_BODY = \
    0x80, 0x200, 0x1000, 0x4000, 0x8000, 0x40000, 0x80000
NR_FOR = {b"C": NR_CONN, b"M": NR_MAIL, b"R": NR_RCPT, b"L": NR_HDR,
          b"N": NR_EOH, b"B": NR_BODY}


def pkt(cmd, data=b""):
    """One packet: length, command byte, data."""
    if isinstance(cmd, str):
        cmd = cmd.encode()
    return struct.pack(">I", len(data) + 1) + cmd + data


def s(*parts):
    """NUL-terminated strings."""
    return b"".join(p.encode() + b"\0" for p in parts)


def replycode(text):
    return pkt("y", s(text))


def addheader(name, value):
    return pkt("h", s(name, value))


def insheader(idx, name, value):
    return pkt("i", struct.pack(">I", idx) + s(name, value))


def chgheader(idx, name, value):
    return pkt("m", struct.pack(">I", idx) + s(name, value))


class Milter:
    """A milter on a free loopback port, one thread per connection.

    replies   {command letter: raw reply packet}, default continue
    eom       packets sent at the end of the message before the verdict
    actions   SMFIF_* answered at negotiation; proto: SMFIP_* steps
    hang_at   command letter after which it stops answering
    crash_at  command letter at which it closes the connection
    trickle   send replies one byte at a time (partial reads)
    """

    def __init__(self, replies=None, eom=(), actions=ALL_ACTIONS, proto=0,
                 hang_at=None, crash_at=None, optneg=None, trickle=False):
        self.replies = {k.encode(): v for k, v in (replies or {}).items()}
        self.eom = list(eom)
        self.actions = actions
        self.proto = proto
        self.hang_at = hang_at.encode() if hang_at else None
        self.crash_at = crash_at.encode() if crash_at else None
        self.optneg = optneg
        self.trickle = trickle    # every reply one byte at a time
        self.events = []
        self.macros = {}
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.spec = "inet:127.0.0.1:%d" % self.port
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopped = True
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def commands(self):
        with self.lock:
            return [c for c, _ in self.events]

    def data_of(self, cmd):
        with self.lock:
            return [d for c, d in self.events if c == cmd.encode()]

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    @staticmethod
    def _read(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self, conn):
        try:
            while True:
                n = struct.unpack(">I", self._read(conn, 4))[0]
                body = self._read(conn, n)
                if not self._handle(conn, body[:1], body[1:]):
                    break
        except (EOFError, OSError):
            pass
        conn.close()

    def _send(self, conn, data):
        if not self.trickle:
            conn.sendall(data)
            return
        for i in range(len(data)):
            conn.sendall(data[i:i + 1])
            time.sleep(0.001)

    def _handle(self, conn, cmd, data):
        with self.lock:
            self.events.append((cmd, data))
        if cmd == b"D":
            parts = data[1:].split(b"\0")
            with self.lock:
                m = self.macros.setdefault(data[:1].decode(), {})
                for k, v in zip(parts[0::2], parts[1::2]):
                    m[k.decode()] = v.decode()
            return True
        if cmd == self.crash_at:
            return False
        if cmd == b"O":
            self._send(conn, self.optneg if self.optneg is not None else
                         pkt("O", struct.pack(">III", 6, self.actions,
                                              self.proto)))
            return True
        if cmd in (b"A", b"K"):
            return True
        if cmd == b"Q":
            return False
        if cmd == self.hang_at:
            time.sleep(30)
            return False
        if self.proto & NR_FOR.get(cmd, 0):
            return True
        if cmd == b"E":
            for p in self.eom:
                self._send(conn, p)
        self._send(conn, self.replies.get(cmd, pkt("c")))
        return True


def wait_port(port):
    dt.wait_for(lambda: dt.port_listening(port), 10, what="milter port")
