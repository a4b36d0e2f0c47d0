# t/master.mk - tests of the master (dmaild), the worker runtime and the
# scoreboard. Included from t/Makefile.am.

# A tiny line-protocol worker driven by the integration tests.
check_PROGRAMS += testworker
testworker_SOURCES = testworker.c
testworker_LDADD = $(TESTLIBS)
