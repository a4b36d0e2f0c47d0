# t/bench.mk - smoke test of the benchmark tool (util/dmail-bench) against
# a real dmaild. Included from t/Makefile.am.
TESTS += bench_smoke.py
EXTRA_DIST += bench_smoke.py
