#!/usr/bin/env python3
"""fuzz_found.py - the inputs the libFuzzer targets (fuzz/) found, sent
to a real dmaild: each bug they showed must stay fixed end to end.

- fuzz/sasl: AUTH PLAIN with base64 whose padding leaves non-zero bits
  ("...bw==" spelled "...bx==") decoded to the same credentials as the
  canonical text and logged the client in; it is now refused as
  malformed (501 5.5.2) while the canonical text still works.
"""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
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


if __name__ == "__main__":
    dt.main([test_auth_plain_non_canonical_base64])
