# contrib/bench/lib.sh - shared set-up of the benchmark scripts (sourced).
#
# bench_setup NAME: with $builddir and $keep set by the caller, defines
# $dmaild, $dmail_user, $bench, $smtpd, $pop3d and $domain, checks that the
# programs are built, makes the throw-away directory $tmp (world-traversable:
# workers run as nobody) and removes it (and stops the server whose pid is
# in $pid) when the script ends, unless $keep is set.

bench_setup() {
	bench_name=$1
	builddir=$(cd "$builddir" && pwd)
	dmaild=$builddir/master/dmaild
	dmail_user=$builddir/util/dmail-user
	bench=$builddir/util/dmail-bench
	smtpd=$builddir/smtpd/dmail-smtpd
	pop3d=$builddir/pop3d/dmail-pop3d
	for p in "$dmaild" "$smtpd" "$pop3d" "$dmail_user" "$bench"; do
		if [ ! -x "$p" ]; then
			echo "$bench_name: $p not built (run make in $builddir)" >&2
			exit 1
		fi
	done
	domain=bench.example.test
	tmp=$(mktemp -d "${BENCH_STATE_PARENT:-/var/tmp}/dmail-bench.XXXXXX")
	chmod 755 "$tmp"
	pid=
	trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	if [ -n "$keep" ]; then
		echo "$bench_name: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
