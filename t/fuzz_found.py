#!/usr/bin/env python3
"""fuzz_found.py - the inputs the libFuzzer targets (fuzz/) found, sent
to a real dmaild: each bug they showed must stay fixed end to end.

- fuzz/sasl: AUTH PLAIN with base64 whose padding leaves non-zero bits
  ("...bw==" spelled "...bx==") decoded to the same credentials as the
  canonical text and logged the client in; it is now refused as
  malformed (501 5.5.2) while the canonical text still works.
- fuzz/lists: a "list" line starting with CR parsed as a list (the
  parser trims CR) but was not seen by the block editing of dlist, so
  "dlist delete" of the list before it deleted both lists, and deleting
  the list itself failed ("cannot find the block").
"""

import base64
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
from smtp_proto import BOB, greet, server  # noqa: E402
from smtp_tls_auth import TLSClient  # noqa: E402

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def non_canonical(text):
    """The same bytes with non-zero bits in the last group's padding."""
    assert text.endswith("=") and not text.endswith("==="), text
    i = len(text) - (3 if text.endswith("==") else 2)
    spare = 15 if text.endswith("==") else 3
    v = B64.index(text[i])
    assert v & spare == 0, text
    return text[:i] + B64[v | 1] + text[i + 1:]


def test_auth_plain_non_canonical_base64():
    password = "pw"
    good = base64.b64encode(b"\0" + BOB.encode() + b"\0" +
                            password.encode()).decode()
    bad = non_canonical(good)
    assert base64.b64decode(bad) == base64.b64decode(good)
    with server(tls=True) as srv:
        srv.add_user(BOB, password)
        c = greet(srv)
        c.__class__ = TLSClient
        c.expect("EHLO client.example", 250)
        c.expect("STARTTLS", 220)
        c.starttls()
        c.expect("EHLO client.example", 250)
        c.expect("AUTH PLAIN " + bad, 501, "5.5.2")
        c.expect("AUTH PLAIN", 334)
        c.expect(bad, 501)
        c.expect("AUTH PLAIN " + good, 235, "2.7.0")
        c.expect("QUIT", 221)


def rcpt_codes(srv, addrs):
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.ehlo()
        s.mail("alice@example.test")
        codes = [s.rcpt(a)[0] for a in addrs]
        s.rset()
    return codes


def test_dlist_delete_list_line_with_cr():
    srv = lc.server(users=["owner@example.test", "alice@example.test"])
    with srv:
        with open(srv.lists_file, "w") as f:
            f.write("list club@example.test\n\towner owner@example.test\n"
                    "\n\rlist news@example.test\n"
                    "\towner owner@example.test\n")
        lists = ["club@example.test", "news@example.test"]
        dt.wait_for(lambda: rcpt_codes(srv, lists) == [250, 250], 30,
                    what="both lists served")
        lc.dlist(srv, "delete", "club@example.test")
        with open(srv.lists_file) as f:
            text = f.read()
        assert "club@" not in text and "news@example.test" in text, text
        dt.wait_for(lambda: rcpt_codes(srv, lists) == [550, 250], 30,
                    what="only news served")
        lc.dlist(srv, "delete", "news@example.test")
        with open(srv.lists_file) as f:
            assert "news@" not in f.read()


if __name__ == "__main__":
    dt.main([test_auth_plain_non_canonical_base64,
             test_dlist_delete_list_line_with_cr])
