#!/bin/sh
# dkim-cost.sh - cost of DKIM signing and verification per message (us)
# with RSA-2048 and Ed25519 keys, messages of 2, 20 and 200 KB: builds
# contrib/bench/dkim-cost.c against a configured build tree and serves
# the key records with t/dnsserver.py on loopback.
#
# Usage: contrib/bench/dkim-cost.sh [BUILD_DIR] [COUNT]
#        (default _build/plain, 200 messages per size)
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
build=${1:-_build/plain}
count=${2:-200}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -I"$top/common" -I"$build" contrib/bench/dkim-cost.c \
	"$build/common/libdmail.a" -lssl -lcrypto -lresolv -o "$tmp/dkim-cost"
for t in rsa ed25519; do
	"$build/util/dmail-dkim" keygen bench.test "$t" --type "$t" \
		--out "$tmp/$t.key" >"$tmp/$t.rec"
done
python3 - "$tmp" "$count" "$top" <<'PY'
import re, subprocess, sys
tmp, count, top = sys.argv[1:4]
sys.path.insert(0, top + "/t")
from dnsserver import DNSServer
zone = {}
for t in ("rsa", "ed25519"):
    text = "".join(re.findall(r'"([^"]*)"', open(tmp + "/" + t + ".rec").read()))
    zone["%s._domainkey.bench.test" % t] = [("TXT", text)]
with DNSServer(zone) as dns:
    resolv = dns.resolv_conf(tmp + "/resolv.conf")
    for t in ("rsa", "ed25519"):
        subprocess.run([tmp + "/dkim-cost", resolv, tmp + "/" + t + ".key",
                        "bench.test", t, count], check=True)
PY
