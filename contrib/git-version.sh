#!/bin/sh
# git-version.sh - print DMail's version on one line, for configure.ac's
# AC_INIT (run by autoreconf from the top of the source tree).
#
#   release tarball  the contents of .tarball-version (make dist writes
#                    it, see the dist-hook in Makefile.am)
#   git checkout     `git describe --tags` of a vX.Y.Z tag without the v;
#                    before the first tag: BASE-COMMITS-gHASH, the shape
#                    git describe gives; "-dirty" when tracked files differ
#   neither          BASE
# Never fails: a version is always printed.
base=0.1.0
cd "$(dirname "$0")/.." || { echo "$base"; exit 0; }
if [ -f .tarball-version ]; then
	v=$(sed -n 1p .tarball-version)
	[ -n "$v" ] && { printf '%s\n' "$v"; exit 0; }
fi
if [ -e .git ] && command -v git >/dev/null 2>&1 &&
    git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null)
	if [ -n "$v" ]; then
		printf '%s\n' "${v#v}"
		exit 0
	fi
	git update-index -q --refresh >/dev/null 2>&1
	v="$base-$(git rev-list --count HEAD)-g$(git rev-parse --short HEAD)"
	git diff-index --quiet HEAD -- 2>/dev/null || v="$v-dirty"
	printf '%s\n' "$v"
	exit 0
fi
printf '%s\n' "$base"
