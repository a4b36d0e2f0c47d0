# man/conf.mk - pages of one area
dist_man_MANS += dmail.conf.5
dist_man_MANS += dmail-bench.1
