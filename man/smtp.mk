# man/smtp.mk - pages of one area
