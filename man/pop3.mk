# man/pop3.mk - pages of DPOP: the POP3 worker and the account tool
dist_man_MANS += dmail-pop3d.8 dmail-user.8 dmail-dkim.8
