# Unit tests of common/ (cmocka). Included from t/Makefile.am.
check_PROGRAMS += unit/test_buf
TESTS += unit/test_buf
unit_test_buf_SOURCES = unit/test_buf.c
unit_test_buf_LDADD = $(TESTLIBS)
