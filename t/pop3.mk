# t/pop3.mk - tests of one area, included from t/Makefile.am
