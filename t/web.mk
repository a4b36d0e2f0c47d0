# t/web.mk - tests of the web manager (webd/) and its API. Included from
# t/Makefile.am. They skip when dmail-webd is not built.
WEB_TESTS = web_api.py web_security.py web_dashboard.py web_members.py \
	web_lists_admin.py web_archive.py
TESTS += $(WEB_TESTS)
EXTRA_DIST += $(WEB_TESTS) web_common.py web_browser.py
