#!/usr/bin/env python3
"""dmaild -V and every program's --version print "NAME (DMail) VERSION"
with the version configure computed (contrib/git-version.sh: git
describe, or a tarball's .tarball-version), and exit 0 without touching
a configuration."""

import os
import re
import subprocess

import dmailtest as dt

PROGRAMS = ["master/dmaild", "util/tellsmtp", "util/dmail-user",
            "util/dlist", "util/dmail-sendmail", "util/dmail-newaliases",
            "util/dmail-bench", "util/dmail-dkim", "smtpd/dmail-smtpd",
            "pop3d/dmail-pop3d",
            "queued/dmail-queued", "listd/dmail-listd"]


def configured_version():
    with open(os.path.join(dt.BUILDDIR, "config.h")) as f:
        m = re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read())
    assert m, "PACKAGE_VERSION not in config.h"
    return m.group(1)


def run(args):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, text=True, timeout=30,
                       env=dict(os.environ, HOME="/nonexistent"))
    return r


def test_version_everywhere():
    version = configured_version()
    assert re.match(r"\d+\.\d+\.\d+", version), version
    found = 0
    for rel in PROGRAMS:
        path = dt.prog(rel)
        assert os.path.exists(path), "%s not built" % rel
        name = os.path.basename(path)
        r = run([path, "--version"])
        assert r.returncode == 0, (name, r.returncode, r.stderr)
        assert r.stdout == "%s (DMail) %s\n" % (name, version), \
            (name, r.stdout)
        found += 1
    r = run([dt.DMAILD, "-V", "-c", "/nonexistent/dmail.conf"])
    assert r.returncode == 0 and \
        r.stdout == "dmaild (DMail) %s\n" % version, r
    assert found == len(PROGRAMS)


if __name__ == "__main__":
    dt.main([test_version_everywhere])
