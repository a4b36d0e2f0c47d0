# man/conf.mk - pages of one area
dist_man_MANS += dmail.conf.5
