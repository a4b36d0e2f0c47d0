# man/conf.mk - pages of one area
