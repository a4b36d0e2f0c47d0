# util/tell.mk - tellsmtp, and its other names tellpop and telllist.
sbin_PROGRAMS += tellsmtp
tellsmtp_SOURCES = tellsmtp.c web_client.c web_client.h $(TOOL)
tellsmtp_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS)

TELL_LINKS = tellpop telllist
tell-install-links:
	for n in $(TELL_LINKS); do \
	  rm -f $(DESTDIR)$(sbindir)/$$n && \
	  ln -s tellsmtp $(DESTDIR)$(sbindir)/$$n || exit 1; \
	done
tell-uninstall-links:
	for n in $(TELL_LINKS); do rm -f $(DESTDIR)$(sbindir)/$$n; done
