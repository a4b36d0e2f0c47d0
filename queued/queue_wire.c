/*
 * queue_wire.c - format and parse the lines between the queue manager
 * and its delivery processes (the format and its limits are in
 * queue_wire.h). Parsing is strict and total: a line is read whole or
 * refused with its reason; nothing here logs. Formatting a structural
 * field the parser would refuse is our own bug: log_panic().
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "log.h"
#include "queue_wire.h"

#define NUM_MAX UINT32_MAX
#define EXCERPT_MAX 64

/* A read position in one line. */
struct cursor {
	const char *p, *end;
};

static bool
printable(unsigned char c, bool space_ok)
{
	return c >= 0x20 && c != 0x7f && (space_ok || c != ' ');
}

bool
qwire_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= SPOOL_ID_MAX)
		return false;
	for (; *id != '\0'; id++)
		if (!printable((unsigned char)*id, false))
			return false;
	return true;
}

/* RFC 3463 "C.SSS.DDD" in canonical decimal, C one of 2, 4, 5. */
static bool
status_ok(const char *s, size_t len)
{
	size_t i = 2;

	if (len < 5 || len > QWIRE_STATUS_MAX || (s[0] != '2' && s[0] != '4' &&
	    s[0] != '5') || s[1] != '.')
		return false;
	for (int part = 0; part < 2; part++) {
		size_t start = i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start || i - start > 3 || (s[start] == '0' &&
		    i - start > 1))
			return false;
		if (part == 0 && (i >= len || s[i++] != '.'))
			return false;
	}
	return i == len;
}

/* Free text as the format wants it: at most max bytes, control
 * characters and tabs as spaces. */
static void
put_text(struct buf *out, const char *s, size_t max)
{
	for (size_t i = 0; s != NULL && s[i] != '\0' && i < max; i++)
		buf_append_char(out, printable((unsigned char)s[i], true) ?
		    s[i] : ' ');
}

void
qwire_fmt_job(struct buf *out, unsigned entry, const char *id,
    const size_t *idx, size_t n)
{
	if (!qwire_id_ok(id) || n == 0 || n > QWIRE_JOB_RCPTS_MAX)
		log_panic("job line: id \"%.40s\" with %zu recipients", id, n);
	buf_printf(out, "J %u %s ", entry, id);
	for (size_t k = 0; k < n; k++) {
		if (idx[k] > NUM_MAX || (k > 0 && idx[k] <= idx[k - 1]))
			log_panic("job line: recipient %zu after %zu", idx[k],
			    k > 0 ? idx[k - 1] : 0);
		buf_printf(out, "%s%zu", k ? "," : "", idx[k]);
	}
	buf_append_char(out, '\n');
}

void
qwire_fmt_go(struct buf *out)
{
	buf_append_str(out, "G\n");
}

void
qwire_fmt_result(struct buf *out, unsigned entry, size_t rcpt, int code,
    const char *status, const char *remote, const char *text)
{
	if (rcpt > NUM_MAX || code < 0 || code > 999 ||
	    !status_ok(status, strlen(status)))
		log_panic("result line: rcpt %zu code %d status \"%.20s\"",
		    rcpt, code, status);
	buf_printf(out, "R %u %zu %d %s\t", entry, rcpt, code, status);
	put_text(out, remote, QWIRE_REMOTE_MAX);
	buf_append_char(out, '\t');
	put_text(out, text, QWIRE_TEXT_MAX);
	buf_append_char(out, '\n');
}

void
qwire_fmt_end(struct buf *out, unsigned entry)
{
	buf_printf(out, "E %u\n", entry);
}

void
qwire_fmt_idle(struct buf *out)
{
	buf_append_str(out, "I\n");
}

/* --- parsing ---------------------------------------------------------- */

/* The refusal: what was wrong and the start of the line, printable. */
static int
refuse(struct buf *err, const char *why, const char *line, size_t len)
{
	buf_reset(err);
	buf_printf(err, "malformed line (%s): \"", why);
	for (size_t i = 0; i < len && i < EXCERPT_MAX; i++) {
		unsigned char c = (unsigned char)line[i];
		buf_append_char(err, c == '"' || c == '\\' ||
		    !printable(c, true) || c >= 0x80 ? '?' : (char)c);
	}
	buf_append_str(err, len > EXCERPT_MAX ? "...\"" : "\"");
	return -1;
}

static bool
lit(struct cursor *c, char ch)
{
	if (c->p == c->end || *c->p != ch)
		return false;
	c->p++;
	return true;
}

/* Decimal, no sign, no leading zero, at most max. */
static bool
num(struct cursor *c, uint64_t max, uint64_t *v)
{
	const char *start = c->p;

	*v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		*v = *v * 10 + (uint64_t)(*c->p - '0');
		if (*v > max)
			return false;
		c->p++;
	}
	return c->p > start && (*start != '0' || c->p - start == 1);
}

/* Up to the next stop byte (or the end): 0..max printable bytes
 * (space_ok: spaces among them) copied to dst. */
static bool
field(struct cursor *c, char stop, size_t max, bool space_ok, char *dst)
{
	size_t n = 0;

	while (c->p < c->end && *c->p != stop) {
		if (n == max || !printable((unsigned char)*c->p, space_ok))
			return false;
		dst[n++] = *c->p++;
	}
	dst[n] = '\0';
	return true;
}

static bool
entry_field(struct cursor *c, unsigned *entry)
{
	uint64_t v;

	if (!num(c, NUM_MAX, &v))
		return false;
	*entry = (unsigned)v;
	return true;
}

/* "I,J,K": increasing, 1..QWIRE_JOB_RCPTS_MAX of them, to the end. */
static bool
rcpt_list(struct cursor *c, struct qwire_down *out)
{
	out->n = 0;
	do {
		uint64_t v;

		if (out->n == QWIRE_JOB_RCPTS_MAX || !num(c, NUM_MAX, &v) ||
		    (out->n > 0 && v <= out->idx[out->n - 1]))
			return false;
		out->idx[out->n++] = (size_t)v;
	} while (lit(c, ','));
	return c->p == c->end;
}

int
qwire_parse_down(const char *line, size_t len, struct qwire_down *out,
    struct buf *err)
{
	struct cursor c = { line, line + len };

	memset(out, 0, offsetof(struct qwire_down, idx));
	if (len == 1 && line[0] == QWIRE_GO) {
		out->type = QWIRE_GO;
		return 0;
	}
	if (!lit(&c, QWIRE_JOB) || !lit(&c, ' '))
		return refuse(err, "not J or G", line, len);
	out->type = QWIRE_JOB;
	if (!entry_field(&c, &out->entry) || !lit(&c, ' '))
		return refuse(err, "job entry", line, len);
	if (!field(&c, ' ', SPOOL_ID_MAX - 1, false, out->id) ||
	    out->id[0] == '\0' || !lit(&c, ' '))
		return refuse(err, "queue id", line, len);
	if (!rcpt_list(&c, out))
		return refuse(err, "recipient list", line, len);
	return 0;
}

/* The fields of an R line after "R ". */
static bool
result_fields(struct cursor *c, struct qwire_up *out, const char **what)
{
	uint64_t v;

	*what = "result entry";
	if (!entry_field(c, &out->entry) || !lit(c, ' '))
		return false;
	*what = "recipient";
	if (!num(c, NUM_MAX, &v) || !lit(c, ' '))
		return false;
	out->rcpt = (size_t)v;
	*what = "reply code";
	if (!num(c, 999, &v) || !lit(c, ' '))
		return false;
	out->code = (int)v;
	*what = "status";
	if (!field(c, '\t', QWIRE_STATUS_MAX, false, out->status) ||
	    !status_ok(out->status, strlen(out->status)) || !lit(c, '\t'))
		return false;
	*what = "remote";
	if (!field(c, '\t', QWIRE_REMOTE_MAX, true, out->remote) ||
	    !lit(c, '\t'))
		return false;
	*what = "text";
	return field(c, '\t', QWIRE_TEXT_MAX, true, out->text) &&
	    c->p == c->end;
}

int
qwire_parse_up(const char *line, size_t len, struct qwire_up *out,
    struct buf *err)
{
	struct cursor c = { line, line + len };
	const char *what;

	memset(out, 0, sizeof(*out));
	if (len == 1 && line[0] == QWIRE_IDLE) {
		out->type = QWIRE_IDLE;
		return 0;
	}
	if (lit(&c, QWIRE_END)) {
		out->type = QWIRE_END;
		if (!lit(&c, ' ') || !entry_field(&c, &out->entry) ||
		    c.p != c.end)
			return refuse(err, "end entry", line, len);
		return 0;
	}
	if (!lit(&c, QWIRE_RESULT) || !lit(&c, ' '))
		return refuse(err, "not R, E or I", line, len);
	out->type = QWIRE_RESULT;
	if (!result_fields(&c, out, &what))
		return refuse(err, what, line, len);
	return 0;
}

int
qwire_next_line(const struct buf *in, size_t *len)
{
	size_t look = in->len < QWIRE_LINE_MAX + 1 ? in->len :
	    QWIRE_LINE_MAX + 1;
	const char *nl = look > 0 ? memchr(in->data, '\n', look) : NULL;

	if (nl != NULL) {
		*len = (size_t)(nl - in->data);
		return 1;
	}
	return in->len > QWIRE_LINE_MAX ? -1 : 0;
}
