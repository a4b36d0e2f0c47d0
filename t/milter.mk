# t/milter.mk - tests of the milter client of dmail-smtpd (smtpd/milter.c,
# smtpd/smtp_milter.c) with a milter written in Python and with the real
# rspamd and opendkim. Included from t/Makefile.am.
MILTER_PY = smtp_milter.py milter_real.py
TESTS += $(MILTER_PY)
EXTRA_DIST += $(MILTER_PY) milterlib.py
