#!/bin/sh
# contrib/bench/userdb.sh - the account database under load and on a full
# disk (issue 9, section 2), against a throw-away DMail.
#
# 1. One connection per message: `dmail-bench smtp --per-connection 1`,
#    SESSIONS parallel clients, MESSAGES messages to USERS local users.
#    Reports temporary failures (4xx: every one is a lookup or a worker
#    failing) and messages/s. Expected: 0 temporary failures.
# 2. Full disk (root only: state_dir on a 32 MB tmpfs, filled to the
#    last byte): POP3 logins of every user, and 1,000 messages with one
#    connection each. Expected: every login +OK, every RCPT 250, every
#    message 452 4.3.1 at the end of DATA.
# 3. Cost of one change with ACCOUNTS accounts (-a, default 100000): the
#    time of `dmail-user import` of all of them (one new version of
#    users.db) and of one `dmail-user quota` change, and the file size.
#
# usage: contrib/bench/userdb.sh [-b BUILDDIR] [-c SESSIONS] [-n MESSAGES]
#            [-u USERS] [-a ACCOUNTS] [-p PORT] [-k] [-s STEPS]
#   -b  build tree of the server (default: the current directory)
#   -c  parallel clients (50)          -n  messages (20000)
#   -u  local users (10)               -a  accounts for step 3 (100000)
#   -p  first port on 127.0.0.1 (2535; POP3 on the next)
#   -s  steps to run, e.g. 13 (default 123)   -k  keep the directory
# Environment: DMAIL_BENCH, a dmail-bench binary to use instead of the
# build tree's (to measure an older server, whose dmail-bench has no
# --per-connection); BENCH_STATE_PARENT as for smtp.sh.
set -eu

builddir=$(pwd)
sessions=50
messages=20000
users=10
accounts=100000
port=2535
steps=123
keep=
while getopts b:c:n:u:a:p:s:k opt; do
	case $opt in
	b) builddir=$OPTARG ;;
	c) sessions=$OPTARG ;;
	n) messages=$OPTARG ;;
	u) users=$OPTARG ;;
	a) accounts=$OPTARG ;;
	p) port=$OPTARG ;;
	s) steps=$OPTARG ;;
	k) keep=1 ;;
	*) sed -n '17,26p' "$0" >&2; exit 2 ;;
	esac
done
. "$(dirname "$0")/lib.sh"
bench_setup userdb.sh
bench=${DMAIL_BENCH:-$bench}
pop3port=$((port + 1))
mnt=

cleanup_mount() {
	if [ -n "$mnt" ]; then
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid"
			wait "$pid" || true
		fi
		umount -l "$mnt" 2>/dev/null || true
	fi
	bench_cleanup
}
trap cleanup_mount EXIT INT TERM

# Writes dmail.conf for a state directory; default worker settings apart
# from the pool sizes (workers start and retire as in production).
write_conf() {
	cat >"$tmp/dmail.conf" <<CONF
# throw-away benchmark configuration written by contrib/bench/userdb.sh
hostname mx.$domain
local_domains $domain
state_dir $1
log stderr warning
smtp_listen 127.0.0.1:$port
pop3_listen 127.0.0.1:$pop3port
smtp_workers_max $((sessions + 10))
pop3_workers_max $((sessions + 10))
smtp_program $smtpd
pop3_program $pop3d
client_connection_limit 0
client_connection_rate_limit 0
CONF
	if [ "$(id -u)" = 0 ]; then
		echo "run_as nobody" >>"$tmp/dmail.conf"
	fi
}

add_users() {
	rcpts=
	dirs=
	i=1
	while [ "$i" -le "$users" ]; do
		echo "bench-password" | "$dmail_user" -c "$tmp/dmail.conf" \
		    add "user$i@$domain" >/dev/null
		rcpts="$rcpts${rcpts:+,}user$i@$domain"
		dirs="$dirs${dirs:+,}$1/mail/$domain/user$i"
		i=$((i + 1))
	done
}

start_server() {
	"$dmaild" -f -c "$tmp/dmail.conf" 2>>"$tmp/dmaild.log" &
	pid=$!
	i=0
	until "$bench" idle -H 127.0.0.1 -p "$port" -c 1 -t 0 \
	    >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -ge 100 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "userdb.sh: dmaild did not start:" >&2
			cat "$tmp/dmaild.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

stop_server() {
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
}

rc=0
case $steps in *1*)
	echo "== 1. one connection per message: $messages messages," \
	    "$sessions clients, $users users"
	write_conf "$tmp/state"
	add_users "$tmp/state"
	start_server
	"$bench" smtp -H 127.0.0.1 -p "$port" -c "$sessions" \
	    -n "$messages" -s 2k -r "$rcpts" --per-connection 1 \
	    --wait-maildir "$dirs" || rc=1
	stop_server
	echo "dmaild log: $(grep -ci 'run recovery\|panic' "$tmp/dmaild.log"
	    ) lines with 'run recovery' or 'panic', $(grep -c \
	    'temporary lookup failure' "$tmp/dmaild.log") lookup failures"
	;;
esac

case $steps in *2*)
	echo "== 2. full disk"
	if [ "$(id -u)" != 0 ]; then
		echo "userdb.sh: step 2 needs root (tmpfs mount); skipped"
	else
		mnt=$tmp/small
		mkdir -p "$mnt"
		mount -t tmpfs -o size=32m,mode=0755 tmpfs "$mnt"
		write_conf "$mnt"
		add_users "$mnt"
		start_server
		"$bench" smtp -H 127.0.0.1 -p "$port" -c 10 -n 200 -s 2k \
		    -r "$rcpts" --per-connection 1 >/dev/null || rc=1
		dd if=/dev/zero of="$mnt/fill" bs=64k 2>/dev/null || true
		dd if=/dev/zero of="$mnt/fill2" bs=512 2>/dev/null || true
		df -k "$mnt" | tail -n 1
		echo "-- POP3 logins of all $users users, 20 rounds, disk full"
		"$bench" pop3 -H 127.0.0.1 -p "$pop3port" -c "$users" -l 20 \
		    -u "user%d@$domain" -w bench-password || rc=1
		echo "-- 1000 messages, one connection each, disk full" \
		    "(expected: RCPT 250, end of DATA 452)"
		"$bench" smtp -H 127.0.0.1 -p "$port" -c "$sessions" -n 1000 \
		    -s 2k -r "$rcpts" --per-connection 1 2>&1 |
		    grep -v '^dmail-bench: session' || true
		rm -f "$mnt/fill" "$mnt/fill2"
		echo "-- space freed: 200 messages"
		"$bench" smtp -H 127.0.0.1 -p "$port" -c 10 -n 200 -s 2k \
		    -r "$rcpts" --per-connection 1 | grep '^smtp:' || rc=1
		stop_server
		echo "dmaild log: $(grep -c 'signal 7' "$tmp/dmaild.log") " \
		    "workers killed by SIGBUS, $(grep -ci 'panic' \
		    "$tmp/dmaild.log") panics"
		umount -l "$mnt"
		mnt=
	fi
	;;
esac

case $steps in *3*)
	echo "== 3. cost of one change with $accounts accounts"
	write_conf "$tmp/big"
	hash=$(openssl passwd -6 -salt benchsalt bench-password)
	awk -v n="$accounts" -v h="$hash" -v d="$domain" 'BEGIN {
	    for (i = 1; i <= n; i++) printf "acct%d@%s:%s\n", i, d, h }' \
	    >"$tmp/import.txt"
	t0=$(date +%s.%N)
	"$dmail_user" -c "$tmp/dmail.conf" import "$tmp/import.txt"
	t1=$(date +%s.%N)
	"$dmail_user" -c "$tmp/dmail.conf" quota "acct1@$domain" \
	    --quota-bytes 1M
	t2=$(date +%s.%N)
	"$dmail_user" -c "$tmp/dmail.conf" show "acct$accounts@$domain" \
	    >/dev/null
	t3=$(date +%s.%N)
	echo "import of $accounts accounts: $(echo "$t1 - $t0" | bc) s;" \
	    "one change: $(echo "$t2 - $t1" | bc) s;" \
	    "one lookup (show): $(echo "$t3 - $t2" | bc) s;" \
	    "users.db: $(du -k "$tmp/big/db/users.db" | cut -f1) kB"
	;;
esac
exit $rc
