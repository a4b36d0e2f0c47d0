# man/pop3.mk - pages of one area
