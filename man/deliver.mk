# man/deliver.mk - pages of one area
