# t/outbound.mk - tests of the outbound queue (dmail-queued), the SMTP
# client, DNS look-ups and DSNs. Included from t/Makefile.am.
TESTS += outbound_delivery.py outbound_crash.py outbound_tls.py outbound_mx.py
EXTRA_DIST += outbound_delivery.py outbound_crash.py outbound_tls.py outbound_mx.py dnsserver.py outbound_common.py sink.py

# Unit tests (cmocka) of the DNS and DSN modules.
check_PROGRAMS += unit/test_dns unit/test_dsn
TESTS += unit/test_dns unit/test_dsn
unit_test_dns_SOURCES = unit/test_dns.c
unit_test_dns_LDADD = $(TESTLIBS)
unit_test_dsn_SOURCES = unit/test_dsn.c
unit_test_dsn_LDADD = $(TESTLIBS)

# The queue commands through tellsmtp (queue, flush, delete, hold, release).
TESTS += outbound_queue.py
EXTRA_DIST += outbound_queue.py

# Poison messages in the queue and the maildrop (quarantine).
TESTS += outbound_poison.py
EXTRA_DIST += outbound_poison.py

# The lines between the queue manager and its delivery processes.
check_PROGRAMS += unit/test_queue_wire
TESTS += unit/test_queue_wire
unit_test_queue_wire_SOURCES = unit/test_queue_wire.c ../queued/queue_wire.c
unit_test_queue_wire_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/queued
unit_test_queue_wire_LDADD = $(TESTLIBS)
TESTS += outbound_wire.py
EXTRA_DIST += outbound_wire.py

# SMTP client against a scripted server; queue side files.
check_PROGRAMS += unit/test_smtpc
TESTS += unit/test_smtpc
unit_test_smtpc_SOURCES = unit/test_smtpc.c
unit_test_smtpc_LDADD = $(TESTLIBS) -lpthread

# A test build of the queue manager with the crash hook (t/crashhook.c,
# common/poison.h) for the poison-message tests; never installed.
check_PROGRAMS += crashhook/dmail-queued
crashhook_dmail_queued_SOURCES = ../queued/queue_main.c \
	../queued/queue_sched.c ../queued/queue_deliver.c \
	../queued/queue_bounce.c ../queued/queue_pickup.c \
	../queued/queue_wire.c crashhook.c
crashhook_dmail_queued_CPPFLAGS = $(AM_CPPFLAGS) -DDMAIL_TEST_HOOKS \
	-I$(top_srcdir)/queued
crashhook_dmail_queued_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS) $(DB_LIBS) \
	$(CRYPT_LIBS)

# The maildrop through the real path (dmail-sendmail, then dmail-queued)
# and the one Received: form of mail DMail generates itself.
TESTS += maildrop_pickup.py
EXTRA_DIST += maildrop_pickup.py
# One grep of a queue id follows a message from receipt to delivery;
# every line logged starts with action= or event= (common/log.h).
TESTS += log_follow.py
EXTRA_DIST += log_follow.py
