#!/usr/bin/env python3
"""dkim_sign - DKIM signatures made by DMail (common/dkim.c through
dmail-dkim) verify with an independent verifier (Debian's dkimpy):
RSA-SHA256 and Ed25519-SHA256, relaxed/relaxed, on messages with folded
and repeated fields, trailing blanks, 8-bit text and no final line end;
a changed body or an added From breaks them; keygen never overwrites a
key and prints the record that record prints again."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import dkim_verify  # noqa: E402

DKIM = dt.prog("util/dmail-dkim")

MESSAGES = [
    b"From: Alice <alice@example.test>\nTo: bob@example.org\n"
    b"Subject: hello  \n   folded\tsubject\nDate: Mon, 1 Jan 2024 "
    b"00:00:00 +0000\nMessage-ID: <x@example.test>\n\n"
    b"Hello,  this   is\na test.  \n\n\n",
    b"From: alice@example.test\nTo: a@x.org\nTo: b@x.org\n"
    b"Cc: c@x.org\nX-Unsigned: yes\nSubject: =?UTF-8?B?w6k=?=\n\n"
    b"\xc3\xa9t\xc3\xa9 \t\nno final line end",
    b"From: alice@example.test\nSubject: empty body\n\n",
]


def run(*args, stdin=None):
    return subprocess.run([DKIM] + list(args), input=stdin,
                          capture_output=True, timeout=60)


def keygen(tmp, selector, *extra):
    key = os.path.join(tmp, selector + ".key")
    r = run("keygen", "example.test", selector, "--out", key, *extra)
    assert r.returncode == 0, r.stderr
    line = r.stdout.decode()
    assert line.startswith("%s._domainkey.example.test. IN TXT (" %
                           selector), line
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    return key, dkim_verify.record_text(line)


def need_verifier():
    if dkim_verify.verifier() is None:
        raise dt.SkipTest("python3-dkim not installed")


def test_signatures_verify_independently():
    need_verifier()
    with tempfile.TemporaryDirectory() as tmp:
        for sel, extra in (("rsa", ()), ("ed", ("--type", "ed25519"))):
            key, rec = keygen(tmp, sel, *extra)
            assert ("k=ed25519" in rec) == (sel == "ed"), rec
            records = {"%s._domainkey.example.test" % sel: rec}
            other = {"%s._domainkey.example.test" % sel:
                     keygen(tmp, sel + "2", *extra)[1]}
            for msg in MESSAGES:
                r = run("sign", key, "example.test", sel, stdin=msg)
                assert r.returncode == 0, r.stderr
                signed = r.stdout
                assert signed.startswith(b"DKIM-Signature: v=1; a=%s" %
                                         (b"ed25519-sha256" if sel == "ed"
                                          else b"rsa-sha256"))
                assert signed.endswith(msg)
                assert dkim_verify.verify(signed, records), (sel, msg)
                # The verifier can say no: a changed body, a From added
                # on top (over-signed), the wrong key.
                assert not dkim_verify.verify(
                    signed.replace(b"\n\n", b"\n\nX", 1), records)
                assert not dkim_verify.verify(
                    b"From: mallory@evil.test\n" + signed, records)
                assert not dkim_verify.verify(signed, other)


def test_keygen_refuses_to_overwrite_and_record_repeats():
    with tempfile.TemporaryDirectory() as tmp:
        key, rec = keygen(tmp, "s1")
        before = open(key, "rb").read()
        r = run("keygen", "example.test", "s1", "--out", key)
        assert r.returncode == 1 and b"not overwritten" in r.stderr, r
        assert open(key, "rb").read() == before
        r = run("record", key, "example.test", "s1")
        assert r.returncode == 0
        assert dkim_verify.record_text(r.stdout.decode()) == rec
        r = run("keygen", "example.test", "s2", "--out",
                os.path.join(tmp, "s2.key"), "--bits", "512")
        assert r.returncode == 1 and b"RSA bits" in r.stderr, r
        with open(os.path.join(tmp, "junk.key"), "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot base64\n")
        r = run("record", os.path.join(tmp, "junk.key"), "x", "y")
        assert r.returncode == 1, r


if __name__ == "__main__":
    dt.main([test_signatures_verify_independently,
             test_keygen_refuses_to_overwrite_and_record_repeats])
