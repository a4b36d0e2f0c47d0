#!/bin/sh
# fuzz.sh - build the libFuzzer targets of fuzz/ (configure --enable-fuzzing,
# clang, in _build/fuzz) and run each one for a bounded time on a scratch
# copy of its seed corpus fuzz/corpus/TARGET (the tree is never modified),
# with its dictionary fuzz/TARGET.dict when there is one.
#
# Usage: contrib/fuzz.sh [TARGET...]     (default: every fuzz/fuzz_*.c)
# Environment:
#   FUZZ_SECONDS   run time per target (default 20)
#   FUZZ_JOBS      targets run at the same time (default 2)
#   FUZZ_RSS_MB    memory limit per target (-rss_limit_mb, default 2048)
#   FUZZ_TIMEOUT   seconds one input may take (-timeout, default 10)
#   FUZZ_BUILD=no  reuse the existing _build/fuzz instead of rebuilding
#   FUZZ_CC        the compiler (default clang; CC is not used, a CI may
#                  set it to gcc)
#
# Prints one line per target,
#   PASS: fuzz/TARGET execs=N cov=N ft=N
#   FAIL: fuzz/TARGET <sanitizer summary> input=PATH log=PATH
# (a FAIL keeps the crashing input and the log under _build/fuzz-run/TARGET/;
# reproduce with _build/fuzz/fuzz/fuzz_TARGET PATH), and also writes them
# to _build/fuzz-run/fuzz-results.txt for contrib/count-tests.py. Exits 1
# if the build failed (clang missing: "FAIL: fuzz/build ...") or any target
# failed. New inputs found during the run stay in _build/fuzz-run/TARGET/
# corpus/; copy interesting ones to fuzz/corpus/TARGET/ by hand.
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-2}
rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
build="$top/_build/fuzz"
run="$top/_build/fuzz-run"
results="$run/fuzz-results.txt"

mkdir -p "$run"
: >"$results"

say() {
	echo "$1"
	echo "$1" >>"$results"
}

if [ $# -gt 0 ]; then
	targets="$*"
else
	targets=$(cd fuzz && ls fuzz_*.c | sed -e 's/^fuzz_//' -e 's/\.c$//' |
	    grep -v '^util$')
fi

if [ "${FUZZ_BUILD:-yes}" != no ]; then
	cc=${FUZZ_CC:-clang}
	if ! command -v "$cc" >/dev/null 2>&1; then
		say "FAIL: fuzz/build $cc is not installed (Debian: clang libclang-rt-14-dev llvm; contrib/install-deps.sh)"
		exit 1
	fi
	[ -x configure ] || autoreconf -fi || exit 1
	rm -rf "$build"
	mkdir -p "$build"
	# Only what the targets link: the libraries and fuzz/.
	if ! (cd "$build" &&
	    "$top/configure" -q --disable-maintainer-mode --enable-fuzzing \
	    CC="$cc" &&
	    make -C common -j2 && make -C smtpd -j2 libsmtpd.a &&
	    make -C pop3d -j2 libpop3.a && make -C listd -j2 liblistd.a &&
	    make -C fuzz -j2) >"$run/make.out" 2>&1; then
		tail -40 "$run/make.out" >&2
		say "FAIL: fuzz/build see $run/make.out"
		exit 1
	fi
	if grep -E 'warning:' "$run/make.out" >/dev/null; then
		grep -E 'warning:' "$run/make.out" >&2
		say "FAIL: fuzz/build compiler warnings (see $run/make.out)"
		exit 1
	fi
fi

# Run one target; its verdict goes to $run/TARGET/verdict.
run_one() {
	t=$1
	dir="$run/$t"
	bin="$build/fuzz/fuzz_$t"
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	if [ ! -x "$bin" ]; then
		echo "FAIL: fuzz/$t no such target ($bin)" >"$dir/verdict"
		return
	fi
	[ -d "fuzz/corpus/$t" ] && cp "fuzz/corpus/$t"/* "$dir/corpus/" 2>/dev/null
	set -- -max_total_time="$seconds" -rss_limit_mb="$rss" \
	    -timeout="$timeout" -print_final_stats=1 \
	    -artifact_prefix="$dir/artifacts/"
	[ -f "fuzz/$t.dict" ] && set -- "$@" -dict="fuzz/$t.dict"
	UBSAN_OPTIONS=print_stacktrace=1 "$bin" "$@" "$dir/corpus" \
	    >"$dir/log" 2>&1
	rc=$?
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/log" | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" |
	    tail -1)
	cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	if [ $rc -eq 0 ] && [ -n "$done_line" ]; then
		echo "PASS: fuzz/$t execs=${execs:-?} cov=${cov:-?} ft=${ft:-?}" \
		    >"$dir/verdict"
	else
		input=$(ls "$dir/artifacts" 2>/dev/null | head -1)
		summary=$(grep -E '^SUMMARY:' "$dir/log" | head -1)
		echo "FAIL: fuzz/$t ${summary:-exit status $rc}" \
		    "input=${input:+$dir/artifacts/$input} log=$dir/log" \
		    >"$dir/verdict"
	fi
}

status=0
set -- $targets
while [ $# -gt 0 ]; do
	batch=
	n=0
	while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
		run_one "$1" &
		batch="$batch $1"
		n=$((n + 1))
		shift
	done
	wait
	for t in $batch; do
		v=$(cat "$run/$t/verdict" 2>/dev/null ||
		    echo "FAIL: fuzz/$t no verdict")
		say "$v"
		case $v in
		FAIL:*)
			status=1
			echo "==== $run/$t/log" >&2
			grep -A30 -E 'ERROR|runtime error|deadly signal' \
			    "$run/$t/log" | head -40 >&2
			;;
		esac
	done
done
exit $status
