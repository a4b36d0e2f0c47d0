#!/bin/sh
# contrib/bench/smtp.sh - SMTP benchmark against a throw-away DMail.
#
# Sets up a DMail instance from a build tree in a temporary directory
# (its own dmail.conf, state_dir, users), starts `dmaild -f`, runs
# `dmail-bench smtp` against it and waits until every message is in the
# Maildirs, then stops the server and removes the directory.
#
# usage: contrib/bench/smtp.sh [-b BUILDDIR] [-c SESSIONS] [-n MESSAGES]
#            [-s SIZE] [-u USERS] [-p PORT] [-k]
#   -b  build tree (default: the current directory)
#   -c  concurrent sessions (50)       -n  messages in all (20000)
#   -s  message size (4k)              -u  local users, round-robin (10)
#   -p  SMTP port on 127.0.0.1 (2525)  -k  keep the temporary directory
# Environment: BENCH_STATE_PARENT (where the temporary directory goes,
# default /var/tmp: keep it on the disk you want to measure, not tmpfs).
set -eu

builddir=$(pwd)
sessions=50
messages=20000
size=4k
users=10
port=2525
keep=
while getopts b:c:n:s:u:p:k opt; do
	case $opt in
	b) builddir=$OPTARG ;;
	c) sessions=$OPTARG ;;
	n) messages=$OPTARG ;;
	s) size=$OPTARG ;;
	u) users=$OPTARG ;;
	p) port=$OPTARG ;;
	k) keep=1 ;;
	*) sed -n '8,16p' "$0" >&2; exit 2 ;;
	esac
done
. "$(dirname "$0")/lib.sh"
bench_setup smtp.sh

# Enough workers for every session at once, none retiring mid-run.
cat >"$tmp/dmail.conf" <<CONF
# throw-away benchmark configuration written by contrib/bench/smtp.sh
hostname mx.$domain
local_domains $domain
state_dir state
log stderr warning
smtp_listen 127.0.0.1:$port
smtp_workers_min $sessions
smtp_workers_max $((sessions + 10))
smtp_max_use 1000000
smtp_program $smtpd
max_recipients 1000
# every benchmark session comes from 127.0.0.1
client_connection_limit 0
client_connection_rate_limit 0
CONF
if [ "$(id -u)" = 0 ]; then
	echo "run_as nobody" >>"$tmp/dmail.conf"
fi

"$dmaild" -n -c "$tmp/dmail.conf"

rcpts=
dirs=
i=1
while [ "$i" -le "$users" ]; do
	echo "bench-password" | "$dmail_user" -c "$tmp/dmail.conf" add \
	    "user$i@$domain" >/dev/null
	rcpts="$rcpts${rcpts:+,}user$i@$domain"
	dirs="$dirs${dirs:+,}$tmp/state/mail/$domain/user$i"
	i=$((i + 1))
done

"$dmaild" -f -c "$tmp/dmail.conf" 2>"$tmp/dmaild.log" &
pid=$!
# Wait for the listener (up to 10 s).
i=0
until "$bench" idle -H 127.0.0.1 -p "$port" -c 1 -t 0 >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -ge 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "smtp.sh: dmaild did not start:" >&2
		cat "$tmp/dmaild.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "smtp.sh: $messages messages of $size, $sessions sessions, $users users"
rc=0
"$bench" smtp -H 127.0.0.1 -p "$port" -c "$sessions" -n "$messages" \
    -s "$size" -r "$rcpts" --wait-maildir "$dirs" || rc=$?
if [ -s "$tmp/dmaild.log" ]; then
	echo "smtp.sh: dmaild log (warnings and errors):"
	tail -n 20 "$tmp/dmaild.log"
fi
exit $rc
