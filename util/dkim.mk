# util/dkim.mk - dmail-dkim, DKIM keys and test signatures.
sbin_PROGRAMS += dmail-dkim
dmail_dkim_SOURCES = dmail_dkim.c $(TOOL)
dmail_dkim_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS)
