# util/bench.mk - build rules for one tool (owned by its author)
bin_PROGRAMS += dmail-bench
dmail_bench_SOURCES = dmail_bench.c $(TOOL)
dmail_bench_LDADD = $(LIBDMAIL) $(OPENSSL_LIBS)
