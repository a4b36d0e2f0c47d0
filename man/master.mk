# man/master.mk - pages of one area
