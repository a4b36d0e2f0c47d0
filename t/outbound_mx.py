#!/usr/bin/env python3
"""outbound_mx - routing through DNS with a test name server (resolv_conf
key): MX preference order with fallback to the next MX, implicit MX (no MX
record: the domain's A record), null MX (RFC 7505) and a non-existent
domain bounce at once, a failing DNS server defers."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from sink import Sink  # noqa: E402


def msg(to, subject):
    return ("From: alice@example.test\r\nTo: %s\r\nSubject: %s\r\n\r\n"
            "routed by MX\r\n" % (to, subject)).encode()


def common_port():
    """A port free on both 127.0.0.1 and 127.0.0.2."""
    for _ in range(50):
        p = dt.free_port("127.0.0.2")
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
    raise dt.SkipTest("no common free port")


def test_mx_routing():
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
    except OSError as e:
        raise dt.SkipTest("127.0.0.2 not usable: %s" % e)
    port = common_port()
    zone = {
        # Lower preference first: "down" (nothing listens) then "good".
        "remote.test": [("MX", 20, "good.remote.test"),
                        ("MX", 5, "down.remote.test")],
        "good.remote.test": [("A", "127.0.0.2")],
        "down.remote.test": [("A", "127.0.0.3")],
        "implicit.test": [("A", "127.0.0.1")],
        "nullmx.test": [("MX", 0, ".")],
        "broken.test": "SERVFAIL",
    }
    domains = ["remote.test", "implicit.test", "nullmx.test", "nx.test",
               "broken.test"]
    with DNSServer(zone) as dns, \
            Sink(host="127.0.0.2", port=port, name="good") as good, \
            Sink(host="127.0.0.1", port=port, name="implicit") as implicit:
        tmp = __import__("tempfile").mkdtemp(prefix="dmail-dns-")
        resolv = dns.resolv_conf(os.path.join(tmp, "resolv.conf"))
        os.chmod(tmp, 0o755)
        os.chmod(resolv, 0o644)
        # HOST:PORT without brackets: MX look-up of HOST, then PORT.
        extra = "resolv_conf %s\n" % resolv + "".join(
            "transport %s %s:%d\n" % (d, d, port) for d in domains)
        with oc.server(extra, users=["alice@example.test"]) as srv:
            for d in domains:
                oc.send(srv, "alice@example.test", ["bob@%s" % d],
                        msg("bob@%s" % d, d))
            good.wait(1)
            implicit.wait(1)
            assert [m.rcpts for m in good.messages] == \
                [["bob@remote.test"]]
            assert [m.rcpts for m in implicit.messages] == \
                [["bob@implicit.test"]]
            # The preferred MX was tried first and failed over.
            log = srv.log_text()
            assert "action=connect-failed relay=down.remote.test " in log, \
                log[-3000:]
            # Two bounces: null MX and NXDOMAIN, each with its status.
            dsns = srv.wait_messages("alice@example.test", 2, timeout=15)
            statuses = {}
            for p in dsns:
                with open(p, "rb") as f:
                    _, rcpts = oc.dsn_fields(f.read())
                for r in rcpts:
                    statuses[r["final-recipient"]] = r["status"]
            assert statuses == {"rfc822; bob@nullmx.test": "5.1.10",
                                "rfc822; bob@nx.test": "5.1.2"}, statuses
            # SERVFAIL: deferred, still queued.
            dt.wait_for(lambda: "4.4.3" in srv.log_text(), 10,
                        what="DNS deferral")
            ids = oc.queue_ids(srv)
            assert len(ids) == 1, ids
            assert ("remote.test", "MX") in dns.queries
            assert ("implicit.test", "MX") in dns.queries
            assert ("implicit.test", "A") in dns.queries
        __import__("shutil").rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    dt.main([test_mx_routing])
