/*
 * test_quota.c - unit tests for common/quota.c: the verdict table (room,
 * full by bytes or messages, larger than the quota, unlimited) and the
 * warning state (once per crossing).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "maildir.h"
#include "quota.h"
#include "util.h"
#include "unit_tmpdir.h"


static int
setup(void **state)
{
	struct buf p = BUF_INIT;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_quota.XXXXXX");
	if (mkdtemp(tmpdir) == NULL || maildir_create(tmpdir) < 0)
		return -1;
	/* 600 bytes in two messages (by their S= sizes). */
	buf_printf(&p, "%s/new/1.M1P1Q1.h,S=400,W=410", tmpdir);
	if (write_file_durable(p.data, "x\n", 2, 0600) < 0)
		return -1;
	buf_reset(&p);
	buf_printf(&p, "%s/cur/2.M1P1Q2.h,S=200,W=205:2,S", tmpdir);
	if (write_file_durable(p.data, "x\n", 2, 0600) < 0)
		return -1;
	buf_free(&p);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return unit_tmpdir_remove();
}

static void
test_verdicts(void **state)
{
	static const struct {
		uint64_t bytes, messages, size;
		enum quota_verdict v;
	} rows[] = {
		{ 0, 0, 1000000, QUOTA_OK },        /* unlimited */
		{ 1000, 0, 400, QUOTA_OK },         /* 600 + 400: exactly */
		{ 1000, 0, 401, QUOTA_FULL },
		{ 1000, 0, 1001, QUOTA_TOO_BIG },
		{ 600, 0, 0, QUOTA_FULL },          /* at the quota already */
		{ 0, 2, 1, QUOTA_FULL },            /* two messages of two */
		{ 0, 3, 1, QUOTA_OK },
	};
	struct smtp_reply r;
	uint64_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct quota q = { rows[i].bytes, rows[i].messages };

		if (quota_check(tmpdir, &q, rows[i].size, &used) != rows[i].v)
			fail_msg("row %zu", i);
	}
	quota_reply(QUOTA_FULL, "a@b.test", &r);
	assert_int_equal(r.code, 452);
	assert_true(quota_is_refusal(&r));
	quota_reply(QUOTA_TOO_BIG, "a@b.test", &r);
	assert_int_equal(r.code, 552);
	assert_string_equal(r.enhanced, "5.2.2");
	assert_true(quota_is_refusal(&r));
	smtp_reply_set(&r, 452, "4.3.1", "disk full");
	assert_false(quota_is_refusal(&r));
}

static void
test_warning_once_per_crossing(void **state)
{
	const struct quota q = { 1000, 0 };
	struct buf msg = BUF_INIT;

	(void)state;
	assert_int_equal(quota_warning_due(tmpdir, 900, &q, 0), 0);   /* off */
	assert_int_equal(quota_warning_due(tmpdir, 799, &q, 80), 0);
	assert_int_equal(quota_warning_due(tmpdir, 800, &q, 80), 1);
	assert_int_equal(quota_warning_due(tmpdir, 950, &q, 80), 0);
	assert_int_equal(quota_warning_due(tmpdir, 500, &q, 80), 0);  /* below */
	assert_int_equal(quota_warning_due(tmpdir, 850, &q, 80), 1);  /* again */
	quota_warning_compose("mx.b.test", "a@b.test", 850, &q, &msg);
	assert_non_null(strstr(msg.data, "From: Mail Delivery System "
	    "<postmaster@b.test>\n"));
	assert_non_null(strstr(msg.data, "Subject: Your mailbox is 85% "
	    "full\n"));
	assert_non_null(strstr(msg.data, "Auto-Submitted: auto-generated\n"));
	buf_free(&msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warning_once_per_crossing,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
