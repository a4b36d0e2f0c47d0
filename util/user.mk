# util/user.mk - dmail-user, the account administration tool (DPOP).
sbin_PROGRAMS += dmail-user
dmail_user_SOURCES = dmail_user.c mbox.c mbox.h $(TOOL)
dmail_user_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS) $(DB_LIBS) $(CRYPT_LIBS)
