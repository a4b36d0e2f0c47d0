# man/master.mk - pages of the master and its control tool
dist_man_MANS += dmaild.8 tellsmtp.8
