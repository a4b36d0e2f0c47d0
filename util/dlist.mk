# util/dlist.mk - dlist, the mailing-list administration tool (DList).
sbin_PROGRAMS += dlist
dlist_SOURCES = dlist.c $(TOOL)
dlist_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS) $(DB_LIBS) $(CRYPT_LIBS)
