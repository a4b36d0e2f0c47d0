# t/filter.mk - tests of mail authentication and filtering: DKIM signing
# (common/dkim.c, dmail-dkim). Included from t/Makefile.am.
check_PROGRAMS += unit/test_dkim
TESTS += unit/test_dkim
unit_test_dkim_SOURCES = unit/test_dkim.c
unit_test_dkim_LDADD = $(TESTLIBS)
TESTS += dkim_sign.py
EXTRA_DIST += dkim_sign.py dkim_verify.py
