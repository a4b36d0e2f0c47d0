# t/smtp.mk - tests of the SMTP server (dmail-smtpd) and the address
# parser, included from t/Makefile.am.
LIBSMTPD = ../smtpd/libsmtpd.a

check_PROGRAMS += unit/test_addr unit/test_smtp unit/test_smtp_session \
	unit/test_smtp_dsn
TESTS += unit/test_addr unit/test_smtp unit/test_smtp_session \
	unit/test_smtp_dsn
unit_test_addr_SOURCES = unit/test_addr.c
unit_test_addr_LDADD = $(TESTLIBS)
unit_test_smtp_SOURCES = unit/test_smtp.c
unit_test_smtp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/smtpd
unit_test_smtp_LDADD = $(LIBSMTPD) $(TESTLIBS) -lpthread
unit_test_smtp_dsn_SOURCES = unit/test_smtp_dsn.c
unit_test_smtp_dsn_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/smtpd
unit_test_smtp_dsn_LDADD = $(LIBSMTPD) $(TESTLIBS) -lpthread
unit_test_smtp_session_SOURCES = unit/test_smtp_session.c
unit_test_smtp_session_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/smtpd
unit_test_smtp_session_LDADD = $(LIBSMTPD) $(TESTLIBS) -lpthread

# Integration tests against a running dmaild (t/dmailtest.py).
SMTP_PY = smtp_proto.py smtp_data.py smtp_tls_auth.py outbound_dsn.py \
	submission_dkim.py mx_verify.py submission_login_rate.py
TESTS += $(SMTP_PY)
EXTRA_DIST += $(SMTP_PY)
