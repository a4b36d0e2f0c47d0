#!/bin/sh
# test-package.sh - build the Debian package from a clean clone of the
# committed tree, install it with apt-get, run DMail from the init script,
# send mail from local programs (bsd-mailx's mail, and sendmail -t) as an
# unprivileged user, fetch it over POP3 (python3 poplib), reload, restart
# under the systemd unit's capability bounding set, stop, purge, and check
# that nothing is left running. Also: lintian (no errors), no compiler
# warnings in the package build, systemd-analyze verify on the installed
# unit.
#
# Prints one "PASS: what" or "FAIL: what" line per check (counted by
# contrib/count-tests.py) and "SKIP: why" when it cannot run here: not
# root, not Debian, another MTA package installed (it is never removed),
# dmail already installed, or ports 25/110 on loopback taken. Exits 1 if
# any check failed.
#
# Leaves the machine as it found it: every process it started is stopped,
# the package and every package the test installed are purged, and the
# dmail user/group and /var/lib/dmail are removed only when they did not
# exist before. The build directory is removed unless DMAIL_KEEP is set.
# Run by contrib/run-tests.sh once, as root; takes a few minutes (the
# package build). DMAIL_DEB=FILE tests FILE instead of building.
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
failed=0
pass() { echo "PASS: package: $1"; }
fail() { echo "FAIL: package: $1"; failed=1; }
skip() { echo "SKIP: package test: $1"; exit 0; }
check() {  # check NAME COMMAND...: PASS or FAIL by exit status
	what=$1; shift
	if "$@" >"$work/out" 2>&1; then pass "$what"; return 0; fi
	fail "$what"; sed 's/^/    /' "$work/out" | tail -30; return 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (apt-get, ports 25 and 110)"
command -v dpkg-buildpackage >/dev/null && command -v apt-get >/dev/null ||
	skip "needs Debian (dpkg-buildpackage, apt-get)"
other=$(dpkg-query -W -f='${Package}\t${Provides}\t${db:Status-Abbrev}\n' \
    2>/dev/null | awk -F'\t' '$2 ~ /mail-transport-agent/ &&
    $3 ~ /^ii/ && $1 != "dmail" { print $1 }')
[ -z "$other" ] || skip "MTA package $other is installed; not removing it"
dpkg-query -W -f='${db:Status-Abbrev}' dmail 2>/dev/null | grep -q '^i' &&
	skip "the dmail package is already installed"
if ss -ltnH 2>/dev/null | awk '{print $4}' | grep -Eq ':(25|110)$'; then
	skip "ports 25 or 110 already in use"
fi

git -C "$top" rev-parse --verify -q HEAD >/dev/null 2>&1 ||
	skip "not a git checkout (the package is built from a clean clone)"

work=$(mktemp -d /tmp/dmail-package.XXXXXX)
had_user=no; getent passwd dmail >/dev/null && had_user=yes
had_group=no; getent group dmail >/dev/null && had_group=yes
had_state=no; [ -e /var/lib/dmail ] && had_state=yes
: >"$work/installs"

cleanup() {
	# Stop whatever still runs from the package, purge what we added.
	if [ -x /etc/init.d/dmail ]; then
		/etc/init.d/dmail stop >/dev/null 2>&1
	fi
	leftovers | while read -r pid; do kill -KILL "$pid" 2>/dev/null; done
	# Only what our own apt-get install added (other jobs on this
	# machine may install packages meanwhile: those stay).
	added=$(for p in $(cat "$work/installs"); do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null |
		    grep -q '^[ic]' && echo "$p"; done)
	if [ -n "$added" ]; then
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $added \
		    >>"$work/cleanup.log" 2>&1
	fi
	[ "$had_state" = no ] && rm -rf /var/lib/dmail
	[ "$had_user" = no ] && getent passwd dmail >/dev/null &&
		userdel dmail >>"$work/cleanup.log" 2>&1
	[ "$had_group" = no ] && getent group dmail >/dev/null &&
		groupdel dmail >>"$work/cleanup.log" 2>&1
	if [ -n "${DMAIL_KEEP:-}" ]; then
		echo "test-package: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Processes running a program of the package (by executable path).
leftovers() {
	for exe in /proc/[0-9]*/exe; do
		t=$(readlink "$exe" 2>/dev/null) || continue
		case $t in
		/usr/sbin/dmaild|/usr/lib/dmail/*) p=${exe#/proc/}; echo "${p%/exe}" ;;
		esac
	done
}

# ---- build ------------------------------------------------------------------
build_package() {
	start=$(date +%s)
	git clone -q "$top" "$work/dmail" || { fail "git clone"; return 1; }
	if (cd "$work/dmail" && dpkg-buildpackage -us -uc -b) \
	    >"$work/build.log" 2>&1; then
		pass "dpkg-buildpackage -us -uc -b ($(($(date +%s) - start)) s)"
	else
		fail "dpkg-buildpackage -us -uc -b"
		tail -40 "$work/build.log"
		return 1
	fi
	if grep -E '^[^ ]*\.[ch]:[0-9]+:[0-9]+: warning:' "$work/build.log"; then
		fail "compiler warnings in the package build"
	else
		pass "no compiler warnings in the package build"
	fi
	lintian --allow-root "$work"/dmail_*.changes >"$work/lintian.out" 2>&1
	sed 's/^/    lintian: /' "$work/lintian.out"
	if grep -q '^E:' "$work/lintian.out"; then
		fail "lintian reports errors"
	else
		pass "lintian: no errors ($(grep -c '^W:' "$work/lintian.out") warnings)"
	fi
	deb=$(ls "$work"/dmail_*_*.deb | grep -v dbgsym | head -1)
}

# DMAIL_DEB=/path/dmail_V_amd64.deb: test that package, skip the build
# and its checks (to work on this script; CI always builds).
if [ -n "${DMAIL_DEB:-}" ]; then
	cp "$DMAIL_DEB" "$work/" || exit 1
	deb="$work/$(basename "$DMAIL_DEB")"
	echo "SKIP: package build: testing $DMAIL_DEB"
else
	build_package || exit 1
fi

# ---- install ----------------------------------------------------------------
# bsd-mailx needs an MTA: with dmail in the same transaction apt takes
# dmail's Provides: mail-transport-agent and installs no other.
DEBIAN_FRONTEND=noninteractive apt-get install -s --no-install-recommends \
    "$deb" bsd-mailx 2>/dev/null | awk '/^Inst /{print $2}' >"$work/installs"
echo "    installing: $(tr '\n' ' ' <"$work/installs")"
check "apt-get install ./dmail_*.deb bsd-mailx" \
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "$deb" bsd-mailx || exit 1
check "no other MTA pulled in" sh -c '! dpkg-query -W -f="\${Package}\t\${Provides}\t\${db:Status-Abbrev}\n" |
    awk -F"\t" "\$2 ~ /mail-transport-agent/ && \$3 ~ /^ii/ && \$1 != \"dmail\"" | grep .'
check "/usr/sbin/sendmail, /usr/bin/mailq, /usr/bin/newaliases are DMail's" \
    sh -c '[ "$(readlink -f /usr/sbin/sendmail)" = /usr/sbin/dmail-sendmail ] &&
    [ "$(readlink -f /usr/bin/mailq)" = /usr/sbin/dmail-sendmail ] &&
    [ "$(readlink -f /usr/bin/newaliases)" = /usr/sbin/dmail-newaliases ]'
check "dmail user and group exist" sh -c 'getent passwd dmail && getent group dmail'
check "dmaild -V prints the version" sh -c \
    '/usr/sbin/dmaild -V | grep -E "^dmaild \(DMail\) [0-9]"'
check "dmaild -n accepts /etc/dmail/dmail.conf" \
    /usr/sbin/dmaild -n -c /etc/dmail/dmail.conf
check "systemd-analyze verify dmail.service" \
    sh -c 'out=$(systemd-analyze verify /lib/systemd/system/dmail.service 2>&1);
    rc=$?; printf "%s\n" "$out"; [ $rc -eq 0 ] &&
    ! printf "%s\n" "$out" | grep "dmail.service"'

# ---- run from the init script -------------------------------------------------
# The postinst started it when policy-rc.d allows; start from a known state.
/etc/init.d/dmail stop >/dev/null 2>&1
check "init script: start" /etc/init.d/dmail start
check "init script: status" /etc/init.d/dmail status

cat >"$work/client.py" <<'PY'
"""Client side of the package test: wait for the servers, read mail."""
import poplib, socket, sys, time

def wait_banner(port, deadline):
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 2) as s:
                s.settimeout(5)
                return s.recv(512).decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)

cmd = sys.argv[1]
deadline = time.monotonic() + 30
if cmd == "banners":
    smtp, pop = wait_banner(25, deadline), wait_banner(110, deadline)
    assert smtp.startswith("220 "), smtp
    assert pop.startswith("+OK"), pop
    print(smtp.strip(), "|", pop.strip())
elif cmd == "fetch":   # fetch USER PASS SUBJECT... : wait, RETR, DELE all
    user, password, subjects = sys.argv[2], sys.argv[3], sys.argv[4:]
    while True:
        p = poplib.POP3("127.0.0.1", 110, timeout=10)
        p.user(user)
        p.pass_(password)
        count = p.stat()[0]
        if count >= len(subjects) or time.monotonic() > deadline:
            break
        p.quit()
        time.sleep(0.2)
    got = []
    for i in range(1, count + 1):
        lines = p.retr(i)[1]
        got += [l.decode() for l in lines if l.startswith(b"Subject:")]
        p.dele(i)
    p.quit()
    for s in subjects:
        assert "Subject: " + s in got, (s, got)
    print("fetched", got)
PY
check "SMTP (25) and POP3 (110) answer" python3 "$work/client.py" banners

check "dmail-user add alice@localhost" sh -c \
    'echo "s3cret-pw" | /usr/sbin/dmail-user -c /etc/dmail/dmail.conf add alice@localhost'
# Local programs run as an ordinary user, not root.
check "mail (bsd-mailx) as user nobody" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c \
    'echo "sent by mail(1)" | mail -s "pkg-mailx" alice@localhost'
check "sendmail -t as user nobody" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c \
    'printf "To: alice@localhost\nSubject: pkg-sendmail-t\n\nsent by sendmail -t\n" |
    /usr/sbin/sendmail -t'
check "POP3 fetch of both messages (poplib)" \
    python3 "$work/client.py" fetch alice@localhost s3cret-pw \
    pkg-mailx pkg-sendmail-t

pid=$(cat /var/lib/dmail/run/dmaild.pid 2>/dev/null)
check "init script: reload" /etc/init.d/dmail reload
check "reload kept the master and moved to generation 2" sh -c \
    "[ \"\$(cat /var/lib/dmail/run/dmaild.pid)\" = '$pid' ] &&
    /usr/sbin/tellsmtp -c /etc/dmail/dmail.conf status | grep 'generation 2'"
check "init script: restart" /etc/init.d/dmail restart
check "init script: stop" /etc/init.d/dmail stop

# ---- the unit's capability bounding set ----------------------------------------
# No systemd as PID 1 here: run dmaild with the bounding set and
# no_new_privs the unit gives it, and check it still serves end to end.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/dmail.service |
    tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
check "dmaild under CapabilityBoundingSet ($caps) starts" \
    setpriv --bounding-set="-all,$caps" --inh-caps=-all --no-new-privs \
    /usr/sbin/dmaild -c /etc/dmail/dmail.conf
check "under the bounding set: SMTP and POP3 answer" \
    python3 "$work/client.py" banners
check "under the bounding set: sendmail -t delivers, POP3 fetches" sh -c \
    "printf 'To: alice@localhost\nSubject: pkg-caps\n\ncaps\n' |
    setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/sendmail -t &&
    python3 '$work/client.py' fetch alice@localhost s3cret-pw pkg-caps"
check "under the bounding set: reload" \
    /usr/sbin/tellsmtp -c /etc/dmail/dmail.conf reload
check "init script: stop" /etc/init.d/dmail stop

# ---- stop, purge --------------------------------------------------------------
n=0
while [ -n "$(leftovers)" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
check "nothing of DMail left running after stop" sh -c "[ -z \"$(leftovers)\" ]"
check "apt-get purge dmail bsd-mailx" \
    env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q dmail bsd-mailx
check "purge removed programs, unit, init script, configuration" sh -c \
    '! [ -e /usr/sbin/dmaild ] && ! [ -e /usr/sbin/sendmail ] &&
    ! [ -e /lib/systemd/system/dmail.service ] &&
    ! [ -e /etc/init.d/dmail ] && ! [ -e /etc/dmail ] &&
    ! [ -e /var/lib/dmail/run ]'
check "purge kept the mail store (/var/lib/dmail/mail)" \
    test -d /var/lib/dmail/mail/localhost/alice
check "nothing of DMail left running after purge" sh -c "[ -z \"$(leftovers)\" ]"
exit $failed
