# man/deliver.mk - pages of local delivery and mail injection
dist_man_MANS += dmail-sendmail.8 dmail-newaliases.8 aliases.5
