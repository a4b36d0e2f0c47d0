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

# SMTP client against a scripted server; queue side files.
check_PROGRAMS += unit/test_smtpc
TESTS += unit/test_smtpc
unit_test_smtpc_SOURCES = unit/test_smtpc.c ../smtpd/smtp_client.c \
	../smtpd/smtp_client.h
unit_test_smtpc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/smtpd
unit_test_smtpc_LDADD = $(TESTLIBS) -lpthread
