#!/bin/sh
# demo.sh - install dependencies, build and install DMail under ./demo, and
# start dmaild in the foreground on 127.0.0.1 (SMTP 2525, submission 5870,
# POP3 1110, the web manager on http://127.0.0.1:8080/) with the demo
# domain example.test and the demo user demo@example.test (password
# "demo", also the web manager's administrator). Ctrl-C stops it. Run as
# root.
#
# Environment (all optional): DMAIL_DEMO_SMTP_PORT (2525),
# DMAIL_DEMO_SUBMISSION_PORT (5870), DMAIL_DEMO_POP3_PORT (1110),
# DMAIL_DEMO_WEB_PORT (8080),
# DMAIL_DEMO_STATE (the mail store and queue, /var/lib/dmail-demo as root,
# ./demo/state otherwise).
#
# Removing the demo: stop dmaild (Ctrl-C), then
#   rm -rf ./demo /var/lib/dmail-demo; userdel dmail
# (the last only if nothing else runs as "dmail", e.g. the Debian package).
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
state=${DMAIL_DEMO_STATE:-/var/lib/dmail-demo}
smtp_port=${DMAIL_DEMO_SMTP_PORT:-2525}
submission_port=${DMAIL_DEMO_SUBMISSION_PORT:-5870}
pop3_port=${DMAIL_DEMO_POP3_PORT:-1110}
web_port=${DMAIL_DEMO_WEB_PORT:-8080}

if [ "$(id -u)" -eq 0 ]; then
	sh contrib/install-deps.sh
	if ! getent passwd dmail >/dev/null; then
		useradd --system --user-group --no-create-home \
		    --home-dir /nonexistent --shell /usr/sbin/nologin dmail
	fi
	run_as="run_as dmail"
else
	echo "demo.sh: not root; assuming dependencies are installed" >&2
	state=${DMAIL_DEMO_STATE:-$demo/state}
	run_as="# run_as: not root, workers keep this user"
fi

step() { echo "demo.sh: $*" >&2; }
mkdir -p "$demo"
step "configuring (autoreconf, configure: about 30 s)"
autoreconf -fi >"$demo/autoreconf.log" 2>&1 ||
	{ tail -40 "$demo/autoreconf.log"; exit 1; }
mkdir -p "$demo/build"
(cd "$demo/build" && "$top/configure" -q --prefix="$prefix" \
    --sysconfdir="$demo") >"$demo/build.log" 2>&1 ||
	{ tail -40 "$demo/build.log"; exit 1; }
step "building (make -j2: about a minute; log in $demo/build.log)"
(cd "$demo/build" && make -j2) >>"$demo/build.log" 2>&1 ||
	{ tail -40 "$demo/build.log"; exit 1; }
step "installing under $prefix"
(cd "$demo/build" && make install) >>"$demo/build.log" 2>&1 ||
	{ tail -40 "$demo/build.log"; exit 1; }

cat >"$conf" <<CONF
# DMail demo configuration (written by contrib/demo.sh); see dmail.conf(5).
hostname        localhost
local_domains   example.test
state_dir       $state
$run_as
smtp_listen       127.0.0.1:$smtp_port
submission_listen 127.0.0.1:$submission_port
pop3_listen       127.0.0.1:$pop3_port
relay_networks  127.0.0.0/8
alias           info demo
admin_address   demo@example.test
log             stderr info
smtp_workers_min 2
pop3_workers_min 2
CONF
# The web manager (built when libmicrohttpd-dev is installed): plain HTTP
# is allowed on loopback only.
web=
if [ -x "$prefix/libexec/dmail/dmail-webd" ]; then
	web=yes
	cat >>"$conf" <<CONF
web_listen      127.0.0.1:$web_port
web_admins      demo@example.test
CONF
fi

"$prefix/sbin/dmaild" -n -c "$conf"
step "creating the demo user demo@example.test"
mkdir -p "$state"
if ! "$prefix/sbin/dmail-user" -c "$conf" show demo@example.test >/dev/null 2>&1; then
	echo demo | "$prefix/sbin/dmail-user" -c "$conf" add demo@example.test
fi

cat <<HELP

DMail is starting on 127.0.0.1 (Ctrl-C stops it). In another terminal:

  # send a message
  printf 'From: demo@example.test\r\nTo: demo@example.test\r\nSubject: hello\r\n\r\nHello, DMail.\r\n' > /tmp/msg.txt
  curl -s smtp://127.0.0.1:$smtp_port --mail-from demo@example.test \\
       --mail-rcpt demo@example.test --upload-file /tmp/msg.txt

  # list and fetch it over POP3 (user demo@example.test, password demo)
  curl -s pop3://127.0.0.1:$pop3_port/ -u demo@example.test:demo
  curl -s pop3://127.0.0.1:$pop3_port/1 -u demo@example.test:demo

  # watch the worker pools
  $prefix/sbin/tellsmtp -c $conf status
${web:+
  # the web manager: open http://127.0.0.1:$web_port/ in a browser and log
  # in as demo@example.test with the password demo (the administrator)
}
This is a demo under $demo; for a real installation build the Debian
package (README.md, "Installing the package"). To remove the demo: Ctrl-C,
then rm -rf $demo $state

HELP
exec "$prefix/sbin/dmaild" -f -c "$conf"
