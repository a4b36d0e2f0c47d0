#!/usr/bin/env python3
"""milter_real.py - dmail-smtpd with the real milters from Debian,
started by the test: rspamd in its milter proxy mode (self-scan, offline:
no redis, DNS pointed at a closed port) rejects a GTUBE message with its
own reply and adds its X-Spam/Authentication-Results headers to a clean
one; opendkim in milter mode signs, and the signature verifies with
dkimpy (t/dkim_verify.py). Each test skips when its program is missing.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dkim_verify  # noqa: E402
import dmailtest as dt  # noqa: E402
from smtp_milter import milter_server, send, stored  # noqa: E402
from smtp_proto import BOB  # noqa: E402

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
CLEAN = ("From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
         "Subject: lunch\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
         "Message-ID: <lunch.1@example.test>\r\n\r\n"
         "Shall we meet at noon?\r\n")

RSPAMD_PROXY = """bind_socket = "127.0.0.1:%d";
milter = yes;
timeout = 60s;
upstream "local" { default = yes; self_scan = yes; }
count = 1;
"""


def find(prog):
    for d in ("/usr/bin", "/usr/sbin"):
        if os.path.exists(os.path.join(d, prog)):
            return os.path.join(d, prog)
    return shutil.which(prog)


class Daemon:
    """A milter program started by a test, in its own temporary
    directory and process group; close() stops it and removes both."""

    proc = log = dir = None

    def start(self, args, port, what):
        self.log = open(os.path.join(self.dir, "out"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        dt.wait_for(lambda: self.proc.poll() is not None or
                    dt.port_listening(port), 120, what=what)
        if self.proc.poll() is not None:
            raise AssertionError("%s exited: %s" % (what, open(
                os.path.join(self.dir, "out")).read()[-2000:]))

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Rspamd(Daemon):
    """rspamd with Debian's configuration, our overrides in a temporary
    LOCAL_CONFDIR: only the milter proxy worker, scanning itself."""

    def __init__(self):
        self.prog = find("rspamd")
        if self.prog is None:
            raise dt.SkipTest("rspamd is not installed")
        self.dir = tempfile.mkdtemp(prefix="dmail-rspamd-")
        self.port = dt.free_port()
        self.spec = "inet:127.0.0.1:%d" % self.port
        files = {
            "override.d/worker-proxy.inc": RSPAMD_PROXY % self.port,
            "override.d/worker-normal.inc": "enabled = false;\n",
            "override.d/worker-controller.inc": "enabled = false;\n",
            "override.d/logging.inc": 'type = "file"; filename = '
            '"%s/rspamd.log"; level = "info";\n' % self.dir,
            # offline: every DNS query fails at once
            "local.d/options.inc": 'dns { nameserver = ["127.0.0.1:9"]; '
            "timeout = 0.2s; retransmits = 1; }\n",
            "local.d/milter_headers.conf":
            'use = ["x-spamd-result", "x-spam-status", '
            '"authentication-results"];\nskip_local = false;\n'
            "skip_authenticated = false;\n",
        }
        for name, text in files.items():
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        args = [self.prog, "-f", "-i", "-u", "root", "-g", "root",
                "-c", "/etc/rspamd/rspamd.conf"]
        for var in ("LOCAL_CONFDIR", "DBDIR", "RUNDIR", "LOGDIR"):
            args.append("--var=%s=%s" % (var, self.dir))
        self.start(args, self.port, "rspamd proxy")


class OpenDKIM(Daemon):
    """opendkim signing for example.test with a fresh key."""

    def __init__(self, domain="example.test", selector="sel"):
        self.prog = find("opendkim")
        genkey = find("opendkim-genkey")
        if self.prog is None or genkey is None:
            raise dt.SkipTest("opendkim or opendkim-genkey not installed")
        self.dir = tempfile.mkdtemp(prefix="dmail-opendkim-")
        os.chmod(self.dir, 0o700)
        subprocess.run([genkey, "-D", self.dir, "-d", domain, "-s",
                        selector, "-b", "2048"], check=True)
        with open(os.path.join(self.dir, selector + ".txt")) as f:
            txt = dkim_verify.record_text(f.read())
        self.records = {"%s._domainkey.%s" % (selector, domain): txt}
        self.port = dt.free_port()
        self.spec = "inet:127.0.0.1:%d" % self.port
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Mode s\nDomain %s\nSelector %s\nKeyFile %s\n"
                    "Socket inet:%d@127.0.0.1\nBackground no\n"
                    "Canonicalization relaxed/relaxed\n"
                    "InternalHosts 127.0.0.1\nSyslog no\n"
                    "PidFile %s/pid\nRequireSafeKeys no\n"
                    % (domain, selector,
                       os.path.join(self.dir, selector + ".private"),
                       self.port, self.dir))
        self.start([self.prog, "-f", "-x", conf], self.port, "opendkim")


def test_rspamd():
    with Rspamd() as rs, milter_server([rs.spec], timeout="60s") as srv:
        code, lines = send(srv, msg=CLEAN.replace(
            "Shall we", GTUBE + "\r\nShall we"))
        assert 500 <= code < 600, lines
        assert "Command rejected" not in lines[-1], lines   # rspamd's text
        assert srv.maildir_messages(BOB) == []
        code, lines = send(srv, msg=CLEAN)
        assert code == 250, lines
        text = stored(srv, BOB)
        head = text.split("\n\n", 1)[0]
        assert "\nX-Spamd-Result:" in head or "\nX-Spam-Status:" in head, \
            head
        assert "\nAuthentication-Results:" in head, head
        assert "Shall we meet at noon?" in text


def test_opendkim_signs():
    if dkim_verify.verifier() is None:
        raise dt.SkipTest("python3-dkim (dkimpy) is not installed")
    with OpenDKIM() as od, milter_server([od.spec]) as srv:
        code, lines = send(srv, msg=CLEAN)
        assert code == 250, lines
        text = stored(srv, BOB)
        assert "DKIM-Signature:" in text, text
        assert dkim_verify.verify(text.encode(), od.records), text
        # a changed body no longer verifies: the check is real
        assert not dkim_verify.verify(text.replace(
            "noon", "one").encode(), od.records)


def main():
    dt.main([test_rspamd, test_opendkim_signs])


if __name__ == "__main__":
    main()
