# t/directory.mk - accounts in directory servers (issue 15): PostgreSQL
# and OpenLDAP started by the tests (t/directory_common.py), the LDAP
# filter escaping; included from t/Makefile.am.
DIRECTORY_PY = userdb_pgsql.py userdb_ldap.py dovecot_imap.py
TESTS += $(DIRECTORY_PY)
EXTRA_DIST += $(DIRECTORY_PY) directory_common.py
# Two nodes in network namespaces (root only): run once by
# contrib/run-tests.sh, not by make check.
EXTRA_DIST += two_nodes.py
