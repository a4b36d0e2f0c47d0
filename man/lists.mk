# man/lists.mk - pages of DList and of the web manager
dist_man_MANS += lists.dat.5 dlist.8
dist_man_MANS += dmail-webd.8
