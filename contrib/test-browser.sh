#!/bin/sh
# test-browser.sh - the web manager in a real headless browser
# (t/web_browser.py: chromium + chromium-driver + python3-selenium, from
# contrib/install-deps.sh) against the plain build in _build/plain (or
# the build tree given as $1). Screenshots go to BUILD/t/web-screenshots/.
#
# Prints "PASS: web browser: NAME" or "FAIL: web browser: NAME" per test
# case (counted by contrib/count-tests.py), or "SKIP: web browser: why"
# when selenium, chromium or dmail-webd is missing. Exits 1 if a case
# failed. Run once by contrib/run-tests.sh (not in both builds: the
# browser exercises the pages, not the sanitizers).
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
build=${1:-$top/_build/plain}
py=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import selenium' 2>/dev/null; then
		py=$p
		break
	fi
done
if [ -z "$py" ]; then
	echo "SKIP: web browser: python3-selenium is not installed"
	exit 0
fi
out=$(cd "$build/t" && DMAIL_BUILDDIR="$build" DMAIL_SRCDIR="$top" \
    "$py" "$top/t/web_browser.py" 2>"$build/t/web_browser.log")
rc=$?
echo "$out" | sed -n 's/^ok   \([^ ]*\).*/PASS: web browser: \1/p;
    s/^FAIL \([^ ]*\).*/FAIL: web browser: \1/p;
    s/^SKIP \([^:]*\): \(.*\)/SKIP: web browser: \1: \2/p'
if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
	tail -40 "$build/t/web_browser.log" >&2
	exit 1
fi
exit 0
