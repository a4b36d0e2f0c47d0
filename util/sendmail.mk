# util/sendmail.mk - dmail-sendmail (sendmail-compatible injector) and
# dmail-newaliases (aliases file compiler).
sbin_PROGRAMS += dmail-sendmail dmail-newaliases
dmail_sendmail_SOURCES = dmail_sendmail.c $(TOOL)
dmail_sendmail_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS) $(DB_LIBS) $(CRYPT_LIBS)
dmail_newaliases_SOURCES = dmail_newaliases.c $(TOOL)
dmail_newaliases_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS) $(DB_LIBS) $(CRYPT_LIBS)
