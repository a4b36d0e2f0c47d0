#!/bin/sh
# contrib/bench/pop3.sh - POP3 and POP3S benchmark against a throw-away DMail.
#
# Sets up a DMail instance from a build tree in a temporary directory,
# creates CLIENTS users, fills each mailbox with MESSAGES messages through
# SMTP (dmail-bench smtp), then runs `dmail-bench pop3` over plain POP3 and
# over implicit TLS (POP3S): every client logs in as its own user and
# RETRieves every message. Stops the server and removes the directory.
#
# usage: contrib/bench/pop3.sh [-b BUILDDIR] [-c CLIENTS] [-n MESSAGES]
#            [-s SIZE] [-l LOOPS] [-P WINDOW[,WINDOW...]] [-x SCHEME]
#            [-p BASEPORT] [-k]
#   -b  build tree (default: the current directory)
#   -c  concurrent clients = users (10)   -n  messages per mailbox (2000)
#   -s  message size (4k)                 -l  logins per client (3)
#   -P  RETR commands in flight per client, a comma-separated list: each
#       value is one POP3 and one POP3S run (default 1,8: without and with
#       pipelining)
#   -x  password_scheme of the users: yescrypt (the default, about 19 ms
#       of CPU per login here) or sha512 (about 1 ms: what the Dovecot set-up
#       in contrib/bench/README.md uses, for a like-for-like comparison)
#   -p  ports BASEPORT (SMTP), +1 (POP3), +2 (POP3S); default 2525
#   -k  keep the temporary directory
set -eu

builddir=$(pwd)
clients=10
messages=2000
size=4k
loops=3
windows=1,8
scheme=yescrypt
port=2525
keep=
while getopts b:c:n:s:l:P:x:p:k opt; do
	case $opt in
	b) builddir=$OPTARG ;;
	c) clients=$OPTARG ;;
	n) messages=$OPTARG ;;
	s) size=$OPTARG ;;
	l) loops=$OPTARG ;;
	P) windows=$OPTARG ;;
	x) scheme=$OPTARG ;;
	p) port=$OPTARG ;;
	k) keep=1 ;;
	*) sed -n '10,24p' "$0" >&2; exit 2 ;;
	esac
done
. "$(dirname "$0")/lib.sh"
bench_setup pop3.sh

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 2 -subj "/CN=localhost" >/dev/null 2>&1
chmod 644 "$tmp/key.pem"

cat >"$tmp/dmail.conf" <<CONF
# throw-away benchmark configuration written by contrib/bench/pop3.sh
hostname mx.$domain
local_domains $domain
state_dir state
log stderr warning
tls_cert cert.pem
tls_key key.pem
smtp_listen 127.0.0.1:$port
pop3_listen 127.0.0.1:$((port + 1))
pop3s_listen 127.0.0.1:$((port + 2))
smtp_workers_min 10
smtp_workers_max 20
smtp_max_use 1000000
pop3_workers_min $clients
pop3_workers_max $((clients + 10))
pop3_max_use 1000000
pop3_plaintext_auth yes
password_scheme $scheme
smtp_program $builddir/smtpd/dmail-smtpd
pop3_program $builddir/pop3d/dmail-pop3d
# every benchmark session comes from 127.0.0.1
client_connection_limit 0
client_connection_rate_limit 0
CONF
if [ "$(id -u)" = 0 ]; then
	echo "run_as nobody" >>"$tmp/dmail.conf"
fi
"$dmaild" -n -c "$tmp/dmail.conf"

i=1
while [ "$i" -le "$clients" ]; do
	echo "bench-password" | "$dmail_user" -c "$tmp/dmail.conf" add \
	    "user$i@$domain" >/dev/null
	i=$((i + 1))
done

"$dmaild" -f -c "$tmp/dmail.conf" 2>"$tmp/dmaild.log" &
pid=$!
i=0
until "$bench" idle -H 127.0.0.1 -p "$((port + 1))" -c 1 -t 0 \
    >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -ge 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "pop3.sh: dmaild did not start:" >&2
		cat "$tmp/dmaild.log" >&2
		exit 1
	fi
	sleep 0.1
done

# Fill the mailboxes: MESSAGES for each user.
rcpts=
dirs=
i=1
while [ "$i" -le "$clients" ]; do
	rcpts="$rcpts${rcpts:+,}user$i@$domain"
	dirs="$dirs${dirs:+,}$tmp/state/mail/$domain/user$i"
	i=$((i + 1))
done
echo "pop3.sh: filling $clients mailboxes with $messages messages of $size"
"$bench" smtp -H 127.0.0.1 -p "$port" -c 10 -n $((messages * clients)) \
    -s "$size" -r "$rcpts" --wait-maildir "$dirs" >/dev/null

# The first session of each mailbox also moves what it retrieved from new/
# to cur/ (seen): one rename per message, once in the message's life.
rc=0
for window in $(echo "$windows" | tr ',' ' '); do
	echo "pop3.sh: POP3, $clients clients, $loops login(s) each," \
	    "$window RETR in flight"
	"$bench" pop3 -H 127.0.0.1 -p "$((port + 1))" -c "$clients" \
	    -l "$loops" -P "$window" -u "user%d@$domain" -w bench-password ||
	    rc=$?
	echo "pop3.sh: POP3S, $clients clients, $loops login(s) each," \
	    "$window RETR in flight"
	"$bench" pop3 -H 127.0.0.1 -p "$((port + 2))" -c "$clients" \
	    -l "$loops" -P "$window" -u "user%d@$domain" -w bench-password \
	    --tls || rc=$?
done
if [ -s "$tmp/dmaild.log" ]; then
	echo "pop3.sh: dmaild log (warnings and errors):"
	tail -n 20 "$tmp/dmaild.log"
fi
exit $rc
