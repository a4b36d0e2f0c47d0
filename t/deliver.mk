# t/deliver.mk - tests of one area, included from t/Makefile.am
