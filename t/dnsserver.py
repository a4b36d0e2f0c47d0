#!/usr/bin/env python3
"""dnsserver - a tiny authoritative DNS server over UDP for outbound tests
(test only). Answers MX, A, AAAA and TXT queries from a Python dict:

    zone = {
        "remote.test": [("MX", 10, "mx1.remote.test")],
        "mx1.remote.test": [("A", "127.0.0.2")],
        "nullmx.test": [("MX", 0, ".")],
        "broken.test": "SERVFAIL",
        "spf.test": [("TXT", "v=spf1 -all")],   # split in 255s
    }
    with DNSServer(zone) as dns:
        dns.port ...   # write "nameserver 127.0.0.1 PORT" to a resolv file

Names not in the zone get NXDOMAIN; a known name without records of the
asked type gets an empty NOERROR answer (NODATA). Queries are counted in
dns.queries as (name, type) tuples.
"""

import socket
import struct
import threading

TYPES = {1: "A", 15: "MX", 16: "TXT", 28: "AAAA"}
CODES = {v: k for k, v in TYPES.items()}


def encode_name(name):
    if name in (".", ""):
        return b"\0"
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def decode_name(data, off):
    labels = []
    while True:
        n = data[off]
        if n == 0:
            return ".".join(labels), off + 1
        labels.append(data[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


class DNSServer:
    def __init__(self, zone, host="127.0.0.1"):
        self.zone = {k.lower().rstrip("."): v for k, v in zone.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def resolv_conf(self, path):
        with open(path, "w") as f:
            f.write("# test resolver\nnameserver 127.0.0.1 %d\n"
                    "options timeout:1 attempts:1\n" % self.port)
        return path

    def _serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self._answer(data)
            except (IndexError, struct.error, UnicodeError):
                continue
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                return

    def _answer(self, q):
        qid, flags, qd = struct.unpack(">HHH", q[:6])
        name, off = decode_name(q, 12)
        qtype, qclass = struct.unpack(">HH", q[off:off + 4])
        question = q[12:off + 4]
        lname = name.lower().rstrip(".")
        self.queries.append((lname, TYPES.get(qtype, qtype)))
        rd = flags & 0x0100
        entry = self.zone.get(lname)
        rcode, answers = 0, []
        if entry is None:
            rcode = 3
        elif entry == "SERVFAIL":
            rcode = 2
        else:
            for rec in entry:
                if CODES.get(rec[0]) != qtype:
                    continue
                if rec[0] == "MX":
                    rdata = struct.pack(">H", rec[1]) + encode_name(rec[2])
                elif rec[0] == "TXT":
                    text = rec[1].encode()
                    rdata = b"".join(bytes([len(text[i:i + 255])]) +
                                     text[i:i + 255]
                                     for i in range(0, len(text), 255)) \
                        or b"\0"
                elif rec[0] == "A":
                    rdata = socket.inet_pton(socket.AF_INET, rec[1])
                else:
                    rdata = socket.inet_pton(socket.AF_INET6, rec[1])
                answers.append(b"\xc0\x0c" + struct.pack(
                    ">HHIH", qtype, 1, 60, len(rdata)) + rdata)
        hdr = struct.pack(">HHHHHH", qid, 0x8400 | rd | 0x0080 | rcode, 1,
                          len(answers), 0, 0)
        return hdr + question + b"".join(answers)
