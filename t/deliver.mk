# t/deliver.mk - tests of local delivery, the queue file, aliases and
# dmail-sendmail (included from t/Makefile.am).
check_PROGRAMS += unit/test_maildir unit/test_aliases
TESTS += unit/test_maildir unit/test_aliases
unit_test_maildir_SOURCES = unit/test_maildir.c
unit_test_maildir_LDADD = $(TESTLIBS)
unit_test_aliases_SOURCES = unit/test_aliases.c
unit_test_aliases_LDADD = $(TESTLIBS)
check_PROGRAMS += unit/test_deliver
TESTS += unit/test_deliver
unit_test_deliver_SOURCES = unit/test_deliver.c
unit_test_deliver_LDADD = $(TESTLIBS)
check_PROGRAMS += unit/test_vacation
TESTS += unit/test_vacation
unit_test_vacation_SOURCES = unit/test_vacation.c
unit_test_vacation_LDADD = $(TESTLIBS)
check_PROGRAMS += unit/test_quota
TESTS += unit/test_quota
unit_test_quota_SOURCES = unit/test_quota.c
unit_test_quota_LDADD = $(TESTLIBS)
# Integration: delivery through a running dmaild.
TESTS += deliver_smtp.py
EXTRA_DIST += deliver_smtp.py
TESTS += sendmail_inject.py
EXTRA_DIST += sendmail_inject.py
TESTS += quota_smtp.py mailbox_features.py
EXTRA_DIST += quota_smtp.py mailbox_features.py
