# t/outbound.mk - tests of the outbound queue (dmail-queued), the SMTP
# client, DNS look-ups and DSNs. Included from t/Makefile.am.
TESTS += outbound_delivery.py outbound_crash.py outbound_tls.py
EXTRA_DIST += outbound_delivery.py outbound_crash.py outbound_tls.py outbound_common.py sink.py
