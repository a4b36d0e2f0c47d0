#!/usr/bin/env python3
"""conf_doc - every key of dmail.conf is documented in man/dmail.conf.5,
and every manual page is mandoc -Tlint clean.

common/conf.h asks to keep the key table (conf_keys[] in common/conf.c)
and the manual page in step; this test makes a key added without its
documentation fail the build, and checks that `dmaild -n` accepts the
example configuration of the manual page (with its paths and user
adapted to this machine).
"""

import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

CONF_C = os.path.join(dt.SRCDIR, "common", "conf.c")
MAN = os.path.join(dt.SRCDIR, "man", "dmail.conf.5")


def table_keys():
    with open(CONF_C) as f:
        text = f.read()
    table = text[text.index("conf_keys[] = {"):]
    table = table[:table.index("\n};")]
    keys = re.findall(r'^\s*\{ "([a-z0-9_]+)",', table, re.M)
    pools = re.findall(r'^\s*POOL_KEYS\("([a-z0-9]+)"', table, re.M)
    return keys, pools


def test_every_key_documented():
    keys, pools = table_keys()
    assert len(keys) > 40 and pools, (keys, pools)
    with open(MAN) as f:
        man = f.read()
    missing = []
    for k in keys:
        if not re.search(r'^\.(BI|BR|B) %s( |$)' % re.escape(k), man, re.M):
            missing.append(k)
    for suffix in ("_workers_min", "_workers_max", "_max_use", "_program"):
        if not re.search(r'^\.IB prefix %s( |$)' % suffix, man, re.M):
            missing.append("PREFIX" + suffix)
    for p in pools:
        if not re.search(r'^\.B %s$' % p, man, re.M):
            missing.append("pool prefix " + p)
    assert not missing, "not in man/dmail.conf.5: %s" % ", ".join(missing)


def test_man_pages_lint_clean():
    """Every manual page passes mandoc -Tlint without a message."""
    import glob
    import shutil
    if shutil.which("mandoc") is None:
        raise AssertionError("mandoc not installed (contrib/install-deps.sh)")
    pages = sorted(glob.glob(os.path.join(dt.SRCDIR, "man", "*.[0-9]")))
    assert len(pages) > 10, pages
    r = subprocess.run(["mandoc", "-Tlint"] + pages, capture_output=True,
                       text=True, timeout=60)
    assert r.stdout + r.stderr == "", r.stdout + r.stderr


def test_man_example_is_valid():
    if not os.path.exists(dt.DMAILD):
        raise dt.SkipTest("dmaild not built")
    with open(MAN) as f:
        man = f.read()
    ex = man[man.index(".SH EXAMPLE"):]
    ex = ex[ex.index(".nf\n") + 4:ex.index("\n.fi")]
    ex = ex.replace("\\-", "-")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = dt.make_cert(tmp)
        lines = []
        for line in ex.splitlines():
            word = line.split()[0] if line.split() else ""
            if word == "run_as":
                line = "run_as nobody"
            elif word == "state_dir":
                line = "state_dir " + os.path.join(tmp, "state")
            elif word == "tls_cert":
                line = "tls_cert " + cert
            elif word == "tls_key":
                line = "tls_key " + key
            lines.append(line)
        # Workers the example relies on by default, from the build tree.
        lines.append("smtp_program " + dt.SMTPD)
        lines.append("pop3_program " + dt.POP3D)
        path = os.path.join(tmp, "dmail.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([dt.DMAILD, "-n", "-c", path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "%s: ok\n" % path, r.stdout


if __name__ == "__main__":
    dt.main([test_every_key_documented, test_man_pages_lint_clean,
             test_man_example_is_valid])
