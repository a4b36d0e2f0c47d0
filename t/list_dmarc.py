#!/usr/bin/env python3
"""DList DMARC-safe From: rewriting through real SMTP. A tiny DNS server
(test only) answers TXT queries for _dmarc names; with
list_dmarc_rewrite auto, a post from a domain with p=reject (or a
subdomain of one with sp=quarantine) goes out From: the list with the
original in X-Original-From, a post from a p=none domain keeps its From:;
with always every post is rewritten, with never none. The organizational
domain comes from the public suffix list (public_suffix_list, as at the
MX: common/dmarc.c, common/psl.c), not from the last two labels: under
co.uk the record of shop.co.uk applies, and a private suffix (pages.test)
is nobody's organizational domain."""

import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402

LIST = "club@example.test"
ZONE = {
    "_dmarc.strict.test": "v=DMARC1; p=reject; rua=mailto:x@strict.test",
    "_dmarc.org.test": "v=DMARC1; p=none; sp=quarantine",
    "_dmarc.relaxed.test": "v=DMARC1; p=none",
    # the last two labels would ask co.uk (nothing) and pages.test
    # (reject); the public suffix list says shop.co.uk and nobody
    "_dmarc.shop.co.uk": "v=DMARC1; p=reject",
    "_dmarc.co.uk": "v=DMARC1; p=none",
    "_dmarc.pages.test": "v=DMARC1; p=reject",
}
PSL = ("// ===BEGIN ICANN DOMAINS===\nuk\nco.uk\n"
       "// ===BEGIN PRIVATE DOMAINS===\npages.test\n")


class TxtServer:
    """Answers TXT queries from ZONE; NXDOMAIN for anything else."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.stop = False
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                q, addr = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            qid = q[:2]
            off, labels = 12, []
            while q[off]:
                labels.append(q[off + 1:off + 1 + q[off]].decode())
                off += 1 + q[off]
            question = q[12:off + 5]
            name = ".".join(labels).lower()
            self.queries.append(name)
            txt = ZONE.get(name)
            if txt is None:
                hdr = qid + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0)
                self.sock.sendto(hdr + question, addr)
                continue
            data = txt.encode()
            rdata = bytes([len(data)]) + data
            rr = b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 60, len(rdata)) \
                + rdata
            hdr = qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
            self.sock.sendto(hdr + question + rr, addr)

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


def run(mode, cases):
    dns = TxtServer()
    try:
        srv = lc.server(users=["bob@example.test", "owner@example.test"],
                        start=False, dmarc=mode,
                        extra="resolv_conf RESOLV\n"
                        "public_suffix_list PSL\n")
        resolv = os.path.join(srv.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1 %d\noptions timeout:1 "
                    "attempts:1\n" % dns.port)
        psl = os.path.join(srv.tmp, "psl.dat")
        with open(psl, "w") as f:
            f.write(PSL)
        os.chmod(psl, 0o644)
        srv.write_conf(srv.extra.replace("RESOLV", resolv).replace(
            "PSL", psl))
        srv.start()
        with srv:
            lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
            lc.set_list_option(srv, LIST, "post anyone")
            lc.set_list_option(srv, LIST, "reply_to sender")
            lc.dlist(srv, "subscribe", LIST, "bob@example.test")
            for i, (poster, rewritten) in enumerate(cases):
                subj = "case %d" % i
                lc.send(srv, poster, LIST, subject=subj,
                        from_hdr="Poster Name <%s>" % poster)
                m = lc.wait_message(srv, "bob@example.test",
                                    lc.subject_has(subj))
                if rewritten:
                    assert m["From"] == \
                        '"Poster Name via club" <club@example.test>', \
                        (poster, m["From"])
                    assert m["X-Original-From"] == \
                        "Poster Name <%s>" % poster
                    assert m["Reply-To"] == "Poster Name <%s>" % poster
                else:
                    assert m["From"] == "Poster Name <%s>" % poster, \
                        (poster, m["From"])
                    assert m["X-Original-From"] is None
            lc.assert_workers_healthy(srv)
        return dns.queries
    finally:
        dns.close()


def test_auto():
    q = run("auto", [("alice@strict.test", True),
                     ("carol@relaxed.test", False),
                     ("dave@mail.org.test", True),
                     ("erin@unknown.test", False),
                     ("fay@mail.shop.co.uk", True),
                     ("gus@evil.pages.test", False)])
    assert "_dmarc.strict.test" in q and "_dmarc.mail.org.test" in q \
        and "_dmarc.org.test" in q, q
    assert "_dmarc.shop.co.uk" in q and "_dmarc.co.uk" not in q, q
    assert "_dmarc.evil.pages.test" in q and "_dmarc.pages.test" not in q, q


def test_always_and_never():
    run("always", [("carol@relaxed.test", True)])
    q = run("never", [("alice@strict.test", False)])
    assert q == [], q


if __name__ == "__main__":
    dt.main([test_auto, test_always_and_never])
