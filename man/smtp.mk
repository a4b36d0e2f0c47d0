# man/smtp.mk - pages of one area
dist_man_MANS += dmail-smtpd.8
