#!/bin/sh
# install-deps.sh - install everything DMail needs to build, run and test on
# Debian 12 (bookworm). Run as root. Safe to run again.
set -e
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's unattended upgrades may hold the package lock for
# minutes: wait for it (up to 10 minutes) instead of failing.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update
apt_get install -y --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	libssl-dev libdb5.3-dev libcmocka-dev libcrypt-dev \
	openssl ca-certificates python3 curl swaks fetchmail python3-dkim \
	procps psmisc iproute2 netbase mandoc \
	clang libclang-rt-14-dev llvm
# Issue 12: SPF verification (libspf2-dev, optional at configure time)
# and the public suffix list for DMARC's organizational domains.
apt_get install -y --no-install-recommends libspf2-dev publicsuffix
# Issue 14: sd_notify (libsystemd-dev), the Debian package build and its
# checks (contrib/test-package.sh: debhelper, dpkg-dev, lintian,
# systemd-analyze from systemd, git for the version). bsd-mailx is not
# here: it needs an MTA, and the package test installs it together with
# the dmail package (then removes both).
apt_get install -y --no-install-recommends \
	libsystemd-dev debhelper dpkg-dev fakeroot lintian devscripts \
	systemd git adduser util-linux
# Issue 12: the milters the tests run against dmail-smtpd (t/milter_real.py,
# contrib/bench/milter.py): rspamd (milter proxy mode) and opendkim with
# opendkim-tools (opendkim-genkey). The tests start them themselves; the
# packages' own services are not needed.
apt_get install -y --no-install-recommends rspamd opendkim opendkim-tools
# Issue 11: promtool (from prometheus) checks the Prometheus text of
# "tellsmtp status --prometheus" in t/master_metrics.py. Only the tool is
# wanted; the package also enables a prometheus service DMail does not use.
apt-get install -y --no-install-recommends prometheus
# Issue 15: account directories. libpq-dev and libldap-dev build the
# pgsql and ldap backends (optional: configure leaves out a missing one);
# postgresql, slapd and ldap-utils are the throw-away servers the tests
# start (t/directory_common.py); dovecot-imapd is the IMAP companion of
# contrib/dovecot/. slapd's and dovecot's own services are not used.
apt_get install -y --no-install-recommends \
	libpq-dev libldap-dev postgresql postgresql-client slapd ldap-utils \
	dovecot-imapd
# Issue 13: the web manager (GNU libmicrohttpd with GnuTLS for HTTPS) and
# its headless browser test (contrib/test-browser.sh).
apt_get install -y --no-install-recommends libmicrohttpd-dev \
	chromium chromium-driver python3-selenium
