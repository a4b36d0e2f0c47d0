# man/lists.mk - pages of DList
dist_man_MANS += lists.dat.5 dlist.8
