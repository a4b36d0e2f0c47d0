/*
 * test_fuzz.c - bounded random testing (fixed seed, no libFuzzer) of the
 * two parsers that see hostile or careless input first: the dmail.conf
 * parser (common/conf.c) and the line reader (common/stream.c).
 *
 * conf_load_text() gets random bytes and random near-valid lines built
 * from real keys and tricky values. It must never crash (ASan/UBSan builds
 * run this too), must return 0 with no error text or -1 with errors that
 * each read "NAME:..." on their own line, and a loaded configuration must
 * hold the invariants the rest of the code relies on.
 *
 * stream_read_line() gets random byte strings rich in CR, LF and NUL, cut
 * into random chunks by a writer thread, with a random max; every result
 * is compared with a tiny reference model of the documented contract.
 *
 * The seed is fixed so a failure is reproducible; DMAIL_FUZZ_SEED and
 * DMAIL_FUZZ_ROUNDS in the environment change it for longer local runs.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "conf.h"
#include "stream.h"
#include "util.h"

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned
rnd(unsigned n)
{
	return n == 0 ? 0 : (unsigned)(rng() % n);
}

static unsigned
env_uint(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

/* ---- conf ------------------------------------------------------------- */

static const char *const keys[] = {
	"hostname", "local_domains", "state_dir", "run_as", "log",
	"shutdown_grace", "listen_backlog", "smtp_listen", "submission_listen",
	"smtps_listen", "pop3_listen", "pop3s_listen", "smtp_workers_min",
	"smtp_workers_max", "pop3_max_use", "list_program", "tls_cert",
	"tls_key", "max_message_size", "max_recipients", "smtp_bare_lf",
	"smtp_vrfy", "relay_networks", "alias", "forward", "transport",
	"password_scheme", "queue_retry_min", "queue_retry_max",
	"tls_required", "list_dmarc_rewrite", "client_connection_limit",
	"client_limit_exempt", "smtp_command_time_limit",
	"smtp_data_time_limit", "bogus_key", "",
};

static const char *const values[] = {
	"", "0", "1", "4294967295", "4294967296", "99999999999999999999",
	"-1", "+3", "10k", "10M", "3G", "16777216G", "17179869184G", "5m",
	"49710d", "49711d", "1w", "yes", "no", "on", "maybe", "reject",
	"normalize", "syslog", "stderr debug", "stderr debug extra",
	"127.0.0.1:25", "*:25", "[::1]:25", "[::1]:", "[::1", "[]:1", "::1:25",
	"1.2.3.4:65536", "1.2.3.4:0", "10.0.0.0/8", "::/0", "::ffff:1.2.3.4/128",
	"1.2.3.4/33", "/8", "a.test", "-a.test", "A.TEST,b.test", "x y z",
	"h:25", "[h]:99999", ":25", "relative/path", "/abs/path", "..",
	"yescrypt", "sha512", "#", ",", ",,,", "\t", "\r", "a\0b", "\xff\xfe",
};

/* A random configuration: lines from keys and values, with random noise. */
static void
random_conf(struct buf *t)
{
	unsigned lines = rnd(12);

	buf_reset(t);
	if (rnd(8) == 0) {
		/* pure noise */
		unsigned n = rnd(300);
		for (unsigned i = 0; i < n; i++) {
			unsigned r = rnd(10);
			buf_append_char(t, r == 0 ? '\n' : r == 1 ? '\0' :
			    r == 2 ? ' ' : (char)rnd(256));
		}
		return;
	}
	for (unsigned l = 0; l < lines; l++) {
		const char *v;
		unsigned nv = rnd(4);
		if (rnd(10) == 0)
			buf_append_str(t, rnd(2) ? "#" : "  ");
		buf_append_str(t, keys[rnd(sizeof(keys) / sizeof(keys[0]))]);
		for (unsigned i = 0; i < nv; i++) {
			buf_append_char(t, rnd(4) == 0 ? '\t' : ' ');
			v = values[rnd(sizeof(values) / sizeof(values[0]))];
			/* "a\0b" keeps its NUL */
			buf_append(t, v, strcmp(v, "a") == 0 ? 3 : strlen(v));
		}
		if (rnd(6) == 0)
			buf_append_char(t, (char)rnd(256));
		if (rnd(10) != 0 || l + 1 < lines)
			buf_append_str(t, rnd(5) == 0 ? "\r\n" : "\n");
	}
}

static void
check_errors(const char *name, const struct buf *err)
{
	const char *p = buf_cstr(err), *end = p + err->len;
	size_t nlen = strlen(name);

	assert_true(err->len > 0);
	assert_int_equal(p[err->len - 1], '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		if (strncmp(p, name, nlen) != 0 || p[nlen] != ':')
			fail_msg("error line does not start with '%s:': %.*s",
			    name, (int)(nl - p), p);
		p = nl + 1;
	}
}

static void
check_conf(const struct dmail_conf *c, const struct buf *text)
{
	assert_int_equal(c->text_len, text->len);
	assert_memory_equal(c->text, text->data ? text->data : "", text->len);
	assert_non_null(c->hostname);
	assert_non_null(c->state_dir);
	assert_true(c->state_dir[0] == '/');
	assert_non_null(c->control_socket);
	assert_non_null(c->password_scheme);
	assert_true((c->tls_cert == NULL) == (c->tls_key == NULL));
	for (int i = 0; i < POOL_COUNT; i++) {
		assert_true(c->pool[i].workers_min <= c->pool[i].workers_max);
		assert_true(c->pool[i].max_use >= 1);
		assert_non_null(c->pool[i].program);
		assert_true(c->pool[i].program[0] == '/');
	}
	for (size_t i = 0; i < c->listen_count; i++) {
		const struct listen_addr *la = &c->listen[i];
		assert_true(la->role < ROLE_COUNT);
		assert_true(la->ss.ss_family == AF_INET ||
		    la->ss.ss_family == AF_INET6);
		if ((la->role == ROLE_SMTPS || la->role == ROLE_POP3S))
			assert_non_null(c->tls_cert);
		for (size_t j = 0; j < i; j++)
			assert_false(c->listen[j].sslen == la->sslen &&
			    memcmp(&c->listen[j].ss, &la->ss, la->sslen) == 0);
	}
	for (size_t i = 0; i < c->relay_network_count; i++)
		assert_true(c->relay_networks[i].prefix <=
		    (c->relay_networks[i].family == AF_INET ? 32u : 128u));
	for (size_t i = 0; i < c->client_limit_exempt_count; i++)
		assert_true(c->client_limit_exempt[i].prefix <=
		    (c->client_limit_exempt[i].family == AF_INET ? 32u : 128u));
	for (size_t i = 0; i < c->local_domains.count; i++)
		for (const char *q = c->local_domains.items[i]; *q; q++)
			assert_false(*q >= 'A' && *q <= 'Z');
	assert_true(c->queue_retry_min <= c->queue_retry_max);
}

static void
test_conf_random(void **state)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	unsigned rounds = env_uint("DMAIL_FUZZ_ROUNDS", 4000);
	unsigned ok = 0, bad = 0;
	(void)state;

	rng_state = env_uint("DMAIL_FUZZ_SEED", 20261124) | 1;
	for (unsigned r = 0; r < rounds; r++) {
		struct dmail_conf c;
		int rc;
		random_conf(&text);
		buf_reset(&err);
		memset(&c, 0, sizeof(c));
		rc = conf_load_text("fuzz.conf", text.data ? text.data : "",
		    text.len, &c, &err);
		if (rc == 0) {
			assert_int_equal(err.len, 0);
			check_conf(&c, &text);
			conf_free(&c);
			ok++;
		} else {
			assert_int_equal(rc, -1);
			check_errors("fuzz.conf", &err);
			bad++;
		}
	}
	/* The generator must exercise both outcomes. */
	assert_true(ok > rounds / 50);
	assert_true(bad > rounds / 50);
	buf_free(&text);
	buf_free(&err);
}

/* ---- stream ------------------------------------------------------------- */

struct feed {
	int fd;
	const char *data;
	size_t len;
	uint64_t seed;
};

static void *
feed_run(void *arg)
{
	struct feed *f = arg;
	uint64_t s = f->seed;
	size_t off = 0;

	while (off < f->len) {
		size_t n;
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		n = 1 + (size_t)(s % 97);
		if (n > f->len - off)
			n = f->len - off;
		if (write_all(f->fd, f->data + off, n) < 0)
			break;
		off += n;
		if (s % 5 == 0)
			usleep(50);
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

static const char *
name_of(int rc)
{
	switch (rc) {
	case STREAM_OK: return "OK";
	case STREAM_EOF: return "EOF";
	case STREAM_TOOLONG: return "TOOLONG";
	case STREAM_TIMEOUT: return "TIMEOUT";
	default: return "ERROR";
	}
}

/* The documented contract, applied to the whole input at once. */
static void
model(const char *in, size_t len, size_t max, struct buf *out)
{
	size_t pos = 0;

	buf_reset(out);
	for (;;) {
		const char *nl = memchr(in + pos, '\n', len - pos);
		size_t seg = nl ? (size_t)(nl - (in + pos)) : len - pos;
		const char *s = in + pos;
		if (nl == NULL) {
			size_t n = seg > max ? max : seg;
			buf_printf(out, "EOF NONE %zu:", n);
			buf_append(out, s, n);
			buf_append_char(out, '\n');
			return;
		}
		bool crlf = seg > 0 && s[seg - 1] == '\r';
		size_t content = crlf ? seg - 1 : seg;
		if (content <= max) {
			buf_printf(out, "OK %s %zu:", crlf ? "CRLF" : "LF",
			    content);
			buf_append(out, s, content);
		} else {
			buf_printf(out, "TOOLONG %s %zu:", crlf ? "CRLF" : "LF",
			    max);
			buf_append(out, s, max);
		}
		buf_append_char(out, '\n');
		pos += seg + 1;
	}
}

static void
test_stream_random(void **state)
{
	struct buf in = BUF_INIT, want = BUF_INIT, got = BUF_INIT,
	    line = BUF_INIT;
	unsigned rounds = env_uint("DMAIL_FUZZ_ROUNDS", 4000) / 10;
	(void)state;

	rng_state = env_uint("DMAIL_FUZZ_SEED", 20261124) * 7 + 1;
	for (unsigned r = 0; r < rounds; r++) {
		int sv[2];
		pthread_t th;
		struct feed f;
		struct stream *s;
		size_t max = rnd(4) == 0 ? rnd(3) : rnd(60);
		size_t n = rnd(4) == 0 ? 20000 + rnd(20000) : rnd(400);

		buf_reset(&in);
		for (size_t i = 0; i < n; i++) {
			unsigned k = rnd(20);
			buf_append_char(&in, k == 0 ? '\r' : k == 1 ? '\n' :
			    k == 2 ? '\0' : k < 6 ? (char)rnd(256) :
			    (char)('a' + k));
		}
		/* long lines now and then */
		if (rnd(3) == 0)
			for (size_t i = 0; i < 3000; i++)
				buf_append_char(&in, 'L');
		if (rnd(2) == 0)
			buf_append_str(&in, rnd(2) ? "\r\n" : "\r");

		model(in.data ? in.data : "", in.len, max, &want);

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		f.fd = sv[1];
		f.data = in.data;
		f.len = in.len;
		f.seed = rng() | 1;
		assert_int_equal(pthread_create(&th, NULL, feed_run, &f), 0);
		s = stream_new(sv[0], sv[0]);
		stream_set_timeout(s, 10000);
		buf_reset(&got);
		for (;;) {
			enum line_ending e;
			int rc = stream_read_line(s, &line, max, &e);
			assert_true(line.len <= max);
			buf_printf(&got, "%s %s %zu:", name_of(rc),
			    e == LINE_CRLF ? "CRLF" : e == LINE_LF ? "LF" :
			    "NONE", line.len);
			buf_append(&got, line.data ? line.data : "", line.len);
			buf_append_char(&got, '\n');
			if (rc != STREAM_OK && rc != STREAM_TOOLONG)
				break;
		}
		pthread_join(th, NULL);
		assert_int_equal(stream_bytes_in(s), in.len);
		stream_free(s);
		close(sv[0]);
		close(sv[1]);
		if (got.len != want.len ||
		    memcmp(got.data, want.data, got.len) != 0)
			fail_msg("round %u (max %zu, %zu bytes): reader and model "
			    "differ", r, max, in.len);
	}
	buf_free(&in);
	buf_free(&want);
	buf_free(&got);
	buf_free(&line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_random),
		cmocka_unit_test(test_stream_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
