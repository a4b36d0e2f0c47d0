# Unit tests of common/ (cmocka). Included from t/Makefile.am.
check_PROGRAMS += unit/test_buf
TESTS += unit/test_buf
unit_test_buf_SOURCES = unit/test_buf.c
unit_test_buf_LDADD = $(TESTLIBS)

check_PROGRAMS += unit/test_conf unit/test_stream
TESTS += unit/test_conf unit/test_stream
unit_test_conf_SOURCES = unit/test_conf.c
unit_test_conf_LDADD = $(TESTLIBS)
unit_test_stream_SOURCES = unit/test_stream.c
unit_test_stream_LDADD = $(TESTLIBS) -lpthread
check_PROGRAMS += unit/test_fuzz
TESTS += unit/test_fuzz
unit_test_fuzz_SOURCES = unit/test_fuzz.c
unit_test_fuzz_LDADD = $(TESTLIBS) -lpthread
check_PROGRAMS += unit/test_util
TESTS += unit/test_util
unit_test_util_SOURCES = unit/test_util.c
unit_test_util_LDADD = $(TESTLIBS)
check_PROGRAMS += unit/test_poison
TESTS += unit/test_poison
unit_test_poison_SOURCES = unit/test_poison.c
unit_test_poison_LDADD = $(TESTLIBS)
check_PROGRAMS += unit/test_clienttab
TESTS += unit/test_clienttab
unit_test_clienttab_SOURCES = unit/test_clienttab.c
unit_test_clienttab_LDADD = $(TESTLIBS)
check_PROGRAMS += unit/test_mime
TESTS += unit/test_mime
unit_test_mime_SOURCES = unit/test_mime.c
unit_test_mime_LDADD = $(TESTLIBS)

# The key table of common/conf.c and man/dmail.conf.5 stay in step; the
# module maps of the program headers name the files that define things.
TESTS += conf_doc.py module_maps.py
EXTRA_DIST += conf_doc.py module_maps.py

# Every key a program logs is in the field table of common/log.h, and
# every event line starts with action= or event=.
TESTS += log_keys.py
EXTRA_DIST += log_keys.py

# The temporary directory helper of the unit tests (a header only).
EXTRA_DIST += unit/unit_tmpdir.h
