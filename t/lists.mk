# t/lists.mk - tests of DList (lists.dat, list worker, dlist). Included
# from t/Makefile.am.
check_PROGRAMS += unit/test_lists
TESTS += unit/test_lists
unit_test_lists_SOURCES = unit/test_lists.c
unit_test_lists_LDADD = ../listd/liblistd.a $(TESTLIBS)
check_PROGRAMS += unit/test_listspool
TESTS += unit/test_listspool
unit_test_listspool_SOURCES = unit/test_listspool.c
unit_test_listspool_LDADD = $(TESTLIBS)

TESTS += list_basic.py list_moderation.py list_archive.py list_fanout.py \
	list_dmarc.py list_durable.py list_poison.py list_majordomo.py \
	list_bounce_dsn.py list_node.py
EXTRA_DIST += list_common.py list_basic.py list_moderation.py \
	list_archive.py list_fanout.py list_dmarc.py list_durable.py \
	list_poison.py list_majordomo.py list_bounce_dsn.py list_node.py

# A test build of the list worker with the crash hook (t/crashhook.c,
# common/poison.h) for the poison-message tests; never installed.
check_PROGRAMS += crashhook/dmail-listd
crashhook_dmail_listd_SOURCES = ../listd/listd.c crashhook.c
crashhook_dmail_listd_CPPFLAGS = $(AM_CPPFLAGS) -DDMAIL_TEST_HOOKS \
	-I$(top_srcdir)/listd
crashhook_dmail_listd_LDADD = ../listd/liblistd.a $(LIBDMAIL) \
	$(OPENSSL_LIBS) $(DB_LIBS) $(CRYPT_LIBS)
