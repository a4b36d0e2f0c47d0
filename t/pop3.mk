# t/pop3.mk - tests of DPOP (POP3 worker, user database, dmail-user).
# Included from t/Makefile.am.
POP3LIBS = ../pop3d/libpop3.a $(TESTLIBS)

check_PROGRAMS += unit/test_pop3 unit/test_userdb
TESTS += unit/test_pop3 unit/test_userdb
unit_test_pop3_SOURCES = unit/test_pop3.c
unit_test_pop3_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pop3d
unit_test_pop3_LDADD = $(POP3LIBS)
unit_test_userdb_SOURCES = unit/test_userdb.c
unit_test_userdb_LDADD = $(TESTLIBS)

TESTS += pop3_session.py pop3_clients.py userdb_tool.py auth_penalty.py
EXTRA_DIST += pop3_session.py pop3_clients.py userdb_tool.py \
	auth_penalty.py
TESTS += userdb_faults.py
EXTRA_DIST += userdb_faults.py
# two nodes on one mail directory: the maildrop lock between them
TESTS += pop3_shared_maildir.py
EXTRA_DIST += pop3_shared_maildir.py
# dmail-user import-mbox (qpopper spools, UIDLs kept)
TESTS += mbox_import.py
EXTRA_DIST += mbox_import.py
