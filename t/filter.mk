# t/filter.mk - tests of mail authentication and filtering: DKIM signing
# (common/dkim.c, dmail-dkim), the parsers of verification (tag lists,
# DMARC, public suffixes, DNSBL sites). Included from t/Makefile.am.
check_PROGRAMS += unit/test_dkim
TESTS += unit/test_dkim
unit_test_dkim_SOURCES = unit/test_dkim.c
unit_test_dkim_LDADD = $(TESTLIBS)
TESTS += dkim_sign.py
EXTRA_DIST += dkim_sign.py dkim_verify.py
check_PROGRAMS += unit/test_verify
TESTS += unit/test_verify
unit_test_verify_SOURCES = unit/test_verify.c
unit_test_verify_LDADD = $(TESTLIBS)
