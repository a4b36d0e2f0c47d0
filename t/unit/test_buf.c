/*
 * test_buf.c - unit tests for the growable buffer (common/buf.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void
test_empty_buffer_is_valid_cstring(void **state)
{
	struct buf b = BUF_INIT;
	(void)state;
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_append_and_printf_grow(void **state)
{
	struct buf b = BUF_INIT;
	(void)state;
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%04d,", i);
	assert_int_equal(b.len, 5000);
	assert_memory_equal(b.data, "0000,0001,", 10);
	assert_memory_equal(b.data + 4995, "0999,", 5);
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

static void
test_binary_data_and_consume(void **state)
{
	struct buf b = BUF_INIT;
	(void)state;
	buf_append(&b, "a\0b\0c", 5);
	assert_int_equal(b.len, 5);
	buf_consume(&b, 2);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "b\0c", 3);
	buf_consume(&b, 10);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_truncate_reset_steal(void **state)
{
	struct buf b = BUF_INIT;
	char *s;
	(void)state;
	buf_set(&b, "hello world");
	buf_truncate(&b, 5);
	assert_string_equal(buf_cstr(&b), "hello");
	buf_truncate(&b, 50);   /* longer: no change */
	assert_string_equal(buf_cstr(&b), "hello");
	s = buf_steal(&b);
	assert_string_equal(s, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(s);
	buf_append_char(&b, 'x');
	buf_reset(&b);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_buffer_is_valid_cstring),
		cmocka_unit_test(test_append_and_printf_grow),
		cmocka_unit_test(test_binary_data_and_consume),
		cmocka_unit_test(test_truncate_reset_steal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
