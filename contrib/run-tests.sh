#!/bin/sh
# run-tests.sh - install dependencies, build DMail twice (plain, and with
# AddressSanitizer+UBSan) and run the whole test suite in both builds, then
# build the libFuzzer targets once (clang) and run each for a short bounded
# time on its seed corpus (contrib/fuzz.sh; FUZZ_SECONDS, default 20).
# Prints "N passed, N failed" last (fuzz targets included); exits non-zero
# if anything failed or a sanitizer reported anything. This is what .ci/run
# runs.
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)

if [ "$(id -u)" -eq 0 ]; then
	sh contrib/install-deps.sh || exit 1
fi

autoreconf -fi || exit 1

status=0
sandir=$(mktemp -d /tmp/dmail-sanitizer.XXXXXX)
chmod 1777 "$sandir"

build() {
	name=$1; shift
	dir="$top/_build/$name"
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q --disable-maintainer-mode "$@" &&
	    make -j2 >make.out 2>&1) || {
		echo "run-tests: $name build failed" >&2
		tail -50 "$dir/make.out" >&2
		return 1
	}
	if grep -E 'warning:' "$dir/make.out" >/dev/null; then
		echo "run-tests: $name build has compiler warnings:" >&2
		grep -E 'warning:' "$dir/make.out" >&2
		return 1
	fi
}

check() {
	name=$1
	dir="$top/_build/$name"
	(cd "$dir" && make -j2 check >check.out 2>&1)
	rc=$?
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$dir/check.out"
	if [ $rc -ne 0 ]; then
		# Show what failed: the log of every failing test.
		for trs in $(find "$dir/t" -name '*.trs'); do
			if grep -qE ':test-result: (FAIL|ERROR|XPASS)' "$trs"; then
				echo "==== ${trs%.trs}.log ====" >&2
				tail -80 "${trs%.trs}.log" >&2
			fi
		done
	fi
	return $rc
}

build plain || status=1
[ $status -eq 0 ] && { check plain || status=1; }

if build sanitizers --enable-sanitizers; then
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$sandir/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$sandir/ubsan" \
	    check sanitizers || status=1
	if [ -n "$(ls -A "$sandir")" ]; then
		echo "run-tests: sanitizer reports:" >&2
		for f in "$sandir"/*; do echo "==== $f" >&2; head -60 "$f" >&2; done
		status=1
	fi
else
	status=1
fi
rm -rf "$sandir"

# Coverage-guided fuzzing, once: its PASS/FAIL lines count below.
sh "$top/contrib/fuzz.sh" || status=1

# Issue 14: the release tarball builds, installs and passes its tests
# (make distcheck). DMAIL_SKIP_INTEGRATION limits that to the unit tests:
# the integration suite has just run twice, and a third run would add
# about as long again to CI for no new coverage.
if [ $status -eq 0 ]; then
	(cd "$top/_build/plain" && DMAIL_SKIP_INTEGRATION=1 \
	    make -j2 distcheck >distcheck.out 2>&1) && echo "PASS: make distcheck" ||
	    { echo "FAIL: make distcheck"; tail -40 "$top/_build/plain/distcheck.out" >&2; }
fi >"$top/_build/distcheck.log"
cat "$top/_build/distcheck.log"
# Issue 14: the Debian package, built from a clean clone, installed and run
# with its init script (contrib/test-package.sh; root only, once).
rm -f "$top/_build/package.log"
if [ "$(id -u)" -eq 0 ]; then
	sh "$top/contrib/test-package.sh" >"$top/_build/package.log" 2>&1
	cat "$top/_build/package.log"
fi

# Issue 13: the web manager's pages in a headless browser, once, against
# the plain build (contrib/test-browser.sh).
sh "$top/contrib/test-browser.sh" "$top/_build/plain" >"$top/_build/browser.log" 2>&1
cat "$top/_build/browser.log"

# Issue 15: two nodes in their own network namespaces on one PostgreSQL
# and one mail directory (t/two_nodes.py; root only, once, plain build).
rm -f "$top/_build/nodes.log"
if [ "$(id -u)" -eq 0 ] && [ -x "$top/_build/plain/master/dmaild" ]; then
	DMAIL_BUILDDIR="$top/_build/plain" DMAIL_SRCDIR="$top" \
	    python3 "$top/t/two_nodes.py" >"$top/_build/nodes.log" 2>&1
	cat "$top/_build/nodes.log"
fi

python3 "$top/contrib/count-tests.py" "$top/_build/plain" "$top/_build/sanitizers" \
    "$top/_build/fuzz-run" "$top/_build/distcheck.log" "$top/_build/package.log" \
    "$top/_build/browser.log" "$top/_build/nodes.log"
[ $? -ne 0 ] && status=1
exit $status
