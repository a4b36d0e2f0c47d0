# t/fuzz.mk - regression tests for the bugs the libFuzzer targets (fuzz/)
# found: a unit test with one row per input, and the same inputs through
# the real server. Included from t/Makefile.am.
check_PROGRAMS += unit/test_fuzz_found
TESTS += unit/test_fuzz_found
unit_test_fuzz_found_SOURCES = unit/test_fuzz_found.c
unit_test_fuzz_found_LDADD = $(TESTLIBS)

TESTS += fuzz_found.py
EXTRA_DIST += fuzz_found.py
