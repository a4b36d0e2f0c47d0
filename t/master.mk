# t/master.mk - tests of the master (dmaild), the worker runtime and the
# scoreboard. Included from t/Makefile.am.

# A tiny line-protocol worker driven by the integration tests.
check_PROGRAMS += testworker
testworker_SOURCES = testworker.c
testworker_LDADD = $(TESTLIBS)

check_PROGRAMS += unit/test_scoreboard
TESTS += unit/test_scoreboard
unit_test_scoreboard_SOURCES = unit/test_scoreboard.c
unit_test_scoreboard_LDADD = $(TESTLIBS)

MASTER_TESTS = master_check.py master_pools.py master_reload.py \
	master_crash.py master_control.py master_template.py \
	master_restart.py master_limits.py master_notify.py version.py \
	master_metrics.py master_pool_control.py
TESTS += $(MASTER_TESTS)
EXTRA_DIST += $(MASTER_TESTS) master_common.py
