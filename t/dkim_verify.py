"""dkim_verify - an independent DKIM verifier for the tests: Debian's
python3-dkim (dkimpy), with the DNS answers given by the test. Run as a
module (dkim_verify.verify()) when this interpreter has dkimpy, else
through /usr/bin/python3, which has it once contrib/install-deps.sh ran.
"""

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, sys
import dkim
req = json.load(sys.stdin)
records = {k.encode(): v.encode() for k, v in req["records"].items()}
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return records.get(name.rstrip(".").encode())
msg = req["message"].encode("latin-1")
print(json.dumps(bool(dkim.verify(msg, dnsfunc=dnsfunc))))
"""


def have_dkimpy(python):
    r = subprocess.run([python, "-c", "import dkim"], capture_output=True)
    return r.returncode == 0


def verifier():
    """The interpreter to run dkimpy with, or None."""
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and have_dkimpy(python):
            return python
    return None


def verify(message, records):
    """True when dkimpy finds a valid signature in message (bytes, LF or
    CRLF line ends); records maps 'sel._domainkey.domain' to TXT text."""
    python = verifier()
    if python is None:
        raise RuntimeError("python3-dkim (dkimpy) is not installed")
    wire = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    r = subprocess.run([python, "-c", SCRIPT], input=json.dumps(
        {"records": records, "message": wire.decode("latin-1")}),
        capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("dkimpy failed: %s" % r.stderr)
    return json.loads(r.stdout)


def record_text(zone_line):
    """The TXT text of a zone-file line as dmail-dkim prints it."""
    import re
    return "".join(re.findall(r'"([^"]*)"', zone_line))
