/*
 * fuzz_dsn.c - libFuzzer target: the parts of a delivery status
 * notification (common/dsn.c) that come from outside: dsn_status()
 * reads the enhanced status code of a remote server's reply, and
 * dsn_build() quotes the reply, the client's ENVID and ORCPT, and the
 * original message (its header block for RET=HDRS).
 *
 * Input: a flags byte (bit 0 RET=FULL, bit 1 a delay warning), two bytes
 * of reply code, then NUL-separated: the reply text, the ENVID, the
 * ORCPT, and the original message (the rest, may hold NULs). Checks: the
 * status is "C.X.Y" with C the reply's class (2, 4 or 5, else 4).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dsn.h"
#include "fuzz.h"

/* Next NUL-terminated piece of [*p, end); the rest when no NUL. */
static char *
piece(const char **p, const char *end)
{
	const char *nul = memchr(*p, '\0', (size_t)(end - *p));
	size_t n = nul != NULL ? (size_t)(nul - *p) : (size_t)(end - *p);
	char *s = fuzz_cstr((const uint8_t *)*p, n);

	*p += n + (nul != NULL);
	return s;
}

static void
check_status(int code, const char *st)
{
	int cls = code / 100;
	unsigned a, b, c;
	int n = 0;

	if (cls != 2 && cls != 5)
		cls = 4;
	if (strlen(st) > 15 || sscanf(st, "%u.%u.%u%n", &a, &b, &c, &n) != 3 ||
	    st[n] != '\0' || (int)a != cls)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 3, *end = (const char *)data + size;
	char *text, *envid, *orcpt, st[16];
	struct dsn_report r;
	struct dsn_rcpt rc;
	struct buf out = BUF_INIT;
	int code;

	if (size < 3)
		return 0;
	code = (data[1] << 8 | data[2]) % 1000;
	text = piece(&p, end);
	envid = piece(&p, end);
	orcpt = piece(&p, end);

	dsn_status(code, text, st);
	check_status(code, st);

	memset(&rc, 0, sizeof(rc));
	rc.address = "bob@remote.test";
	rc.orcpt = orcpt[0] != '\0' ? orcpt : NULL;
	rc.action = (data[0] & 2) ? DSN_DELAYED : DSN_FAILED;
	rc.status = st;
	rc.remote_mta = "mx.remote.test";
	rc.diagnostic = text;
	rc.last_attempt = 1732412345;
	memset(&r, 0, sizeof(r));
	r.reporting_mta = "mail.example.test";
	r.sender = "alice@example.test";
	r.envid = envid[0] != '\0' ? envid : NULL;
	r.queue_id = "19274FA3B0C1D2000A1B01";
	r.arrival = 1732400000;
	r.now = 1732412345;
	r.retry_until = 1732800000;
	r.rcpts = &rc;
	r.rcpt_count = 1;
	r.message = p;
	r.message_len = (size_t)(end - p);
	r.ret_full = (data[0] & 1) != 0;
	dsn_build(&r, &out);
	if (out.len == 0)
		abort();
	free(text);
	free(envid);
	free(orcpt);
	buf_free(&out);
	return 0;
}
