# smtpd/outbound.mk - dmail-queued, the outbound queue manager and SMTP
# client (see outbound.h for the map). Included from smtpd/Makefile.am.
pkglibexec_PROGRAMS += dmail-queued

dmail_queued_SOURCES = \
	outbound.h \
	queue_main.c \
	queue_sched.c \
	queue_deliver.c \
	queue_bounce.c \
	queue_pickup.c \
	queue_dsnparams.c \
	smtp_client.c smtp_client.h
dmail_queued_LDADD = ../common/libdmail.a $(OPENSSL_LIBS) $(DB_LIBS) \
	$(CRYPT_LIBS)
