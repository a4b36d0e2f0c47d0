#!/bin/sh
# demo.sh - install dependencies, build and install DMail under ./demo, and
# start dmaild in the foreground on 127.0.0.1 (SMTP 2525, submission 5870,
# POP3 1110) with the demo domain example.test and the demo user
# demo@example.test (password "demo"). Ctrl-C stops it. Run as root.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
demo="$top/demo"
prefix="$demo/prefix"
conf="$demo/dmail.conf"
# Workers run as the dedicated system user "dmail" (created here if it does
# not exist; never "nobody", which other daemons share), who must be able to
# reach the mail store, so it lives outside the (possibly private) source
# directory.
state=/var/lib/dmail-demo

if [ "$(id -u)" -eq 0 ]; then
	sh contrib/install-deps.sh
	if ! getent passwd dmail >/dev/null; then
		useradd --system --user-group --no-create-home \
		    --home-dir /nonexistent --shell /usr/sbin/nologin dmail
	fi
	run_as="run_as dmail"
else
	echo "demo.sh: not root; assuming dependencies are installed" >&2
	state="$demo/state"
	run_as="# run_as: not root, workers keep this user"
fi

autoreconf -fi
mkdir -p "$demo/build"
(cd "$demo/build" && "$top/configure" -q --prefix="$prefix" \
    --sysconfdir="$demo" && make -j2 && make install) >"$demo/build.log" 2>&1 ||
	{ tail -40 "$demo/build.log"; exit 1; }

cat >"$conf" <<CONF
# DMail demo configuration (written by contrib/demo.sh); see dmail.conf(5).
hostname        localhost
local_domains   example.test
state_dir       $state
$run_as
smtp_listen       127.0.0.1:2525
submission_listen 127.0.0.1:5870
pop3_listen       127.0.0.1:1110
relay_networks  127.0.0.0/8
alias           info demo
admin_address   demo@example.test
log             stderr info
smtp_workers_min 2
pop3_workers_min 2
CONF

"$prefix/sbin/dmaild" -n -c "$conf"
mkdir -p "$state"
if ! "$prefix/sbin/dmail-user" -c "$conf" show demo@example.test >/dev/null 2>&1; then
	echo demo | "$prefix/sbin/dmail-user" -c "$conf" add demo@example.test
fi

cat <<HELP

DMail is starting on 127.0.0.1 (Ctrl-C stops it). In another terminal:

  # send a message
  printf 'From: demo@example.test\r\nTo: demo@example.test\r\nSubject: hello\r\n\r\nHello, DMail.\r\n' > /tmp/msg.txt
  curl -s smtp://127.0.0.1:2525 --mail-from demo@example.test \\
       --mail-rcpt demo@example.test --upload-file /tmp/msg.txt

  # list and fetch it over POP3 (user demo@example.test, password demo)
  curl -s pop3://127.0.0.1:1110/ -u demo@example.test:demo
  curl -s pop3://127.0.0.1:1110/1 -u demo@example.test:demo

  # watch the worker pools
  $prefix/sbin/tellsmtp -c $conf status

HELP
exec "$prefix/sbin/dmaild" -f -c "$conf"
