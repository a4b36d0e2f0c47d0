#!/bin/sh
# install-deps.sh - install everything DMail needs to build, run and test on
# Debian 12 (bookworm). Run as root. Safe to run again.
set -e
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	libssl-dev libdb5.3-dev libcmocka-dev libcrypt-dev \
	openssl ca-certificates python3 curl swaks fetchmail \
	procps psmisc iproute2 netbase mandoc \
	clang libclang-rt-14-dev llvm
