/*
 * test_smtp_session.c - the dmail-smtpd state machine, driven through a
 * socketpair with whole pipelined client scripts. Delivery and the user
 * database are replaced by small fakes defined here (the linker then
 * does not pull deliver.o / userdb.o from libdmail.a), so each scenario
 * checks the exact sequence of reply codes and what would have been
 * delivered.
 */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtpd.h"
#include "util.h"

/* ---- fake delivery --------------------------------------------------- */

struct delivery {
	struct buf content;
	struct buf rcpts;
	char sender[ADDR_PATH_MAX + 1];
	char protocol[16];
	unsigned hops;
	bool in_body;
};

static struct {
	unsigned begun, committed, aborted;
	struct buf content;     /* last committed message */
	struct buf rcpts;       /* its recipients, "a,b," */
	char sender[ADDR_PATH_MAX + 1];
	char protocol[16];
} fake;

enum rcpt_check
deliver_check_rcpt(struct deliver_ctx *ctx, const char *address,
    uint64_t size_hint, struct smtp_reply *reply)
{
	const char *at = strrchr(address, '@');

	(void)ctx;
	(void)size_hint;
	if (at == NULL || strcasecmp(at + 1, "example.test") != 0)
		return RCPT_REMOTE;
	if (strncmp(address, "tempfail@", 9) == 0) {
		smtp_reply_set(reply, 451, "4.3.0", "try later");
		return RCPT_TEMPFAIL;
	}
	if (strncmp(address, "bob@", 4) == 0 ||
	    strncmp(address, "alice@", 6) == 0 ||
	    strncmp(address, "postmaster@", 11) == 0)
		return RCPT_LOCAL;
	smtp_reply_set(reply, 550, "5.1.1", "<%s>: user unknown", address);
	return RCPT_REJECT;
}

struct delivery *
delivery_begin(struct deliver_ctx *ctx, const char *sender,
    const struct delivery_info *info)
{
	struct delivery *d = xcalloc(1, sizeof(*d));

	(void)ctx;
	snprintf(d->sender, sizeof(d->sender), "%s", sender);
	snprintf(d->protocol, sizeof(d->protocol), "%s", info->protocol);
	fake.begun++;
	return d;
}

const char *
delivery_id(const struct delivery *d)
{
	(void)d;
	return "QTEST1";
}

void
delivery_add_rcpt(struct delivery *d, const char *address)
{
	buf_printf(&d->rcpts, "%s,", address);
}

void
delivery_set_dsn(struct delivery *d, int ret, const char *envid)
{
	(void)d;
	(void)ret;
	(void)envid;
}

void
delivery_add_rcpt_dsn(struct delivery *d, const char *address,
    unsigned notify, const char *orcpt)
{
	(void)notify;
	(void)orcpt;
	delivery_add_rcpt(d, address);
}

int
delivery_write_line(struct delivery *d, const char *line, size_t len)
{
	if (len == 0)
		d->in_body = true;
	if (!d->in_body && len >= 9 && strncasecmp(line, "Received:", 9) == 0)
		d->hops++;
	buf_append(&d->content, line, len);
	buf_append_char(&d->content, '\n');
	return 0;
}

/* What smtpd/smtp_checks.c calls for held (authenticated) content:
 * whole LF-ended lines, kept as they come. */
void
delivery_write(struct delivery *d, const char *msg, size_t len)
{
	buf_append(&d->content, msg, len);
}

const struct outgoing *
deliver_ctx_outgoing(const struct deliver_ctx *ctx)
{
	(void)ctx;
	return NULL;     /* no dkim_sign keys */
}

uint64_t
delivery_size(const struct delivery *d)
{
	return d->content.len;
}

unsigned
delivery_hops(const struct delivery *d)
{
	return d->hops;
}

static void
delivery_free(struct delivery *d)
{
	buf_free(&d->content);
	buf_free(&d->rcpts);
	free(d);
}

int
delivery_commit(struct delivery *d, struct smtp_reply *reply)
{
	if (strcmp(d->sender, "diskfull@example.org") == 0) {
		smtp_reply_set(reply, 452, "4.3.1", "Insufficient storage");
		delivery_free(d);
		return -1;
	}
	fake.committed++;
	buf_set(&fake.content, buf_cstr(&d->content));
	buf_set(&fake.rcpts, buf_cstr(&d->rcpts));
	snprintf(fake.sender, sizeof(fake.sender), "%s", d->sender);
	snprintf(fake.protocol, sizeof(fake.protocol), "%s", d->protocol);
	smtp_reply_set(reply, 250, "2.0.0", "Ok");
	delivery_free(d);
	return 0;
}

void
delivery_abort(struct delivery *d)
{
	fake.aborted++;
	delivery_free(d);
}

/* ---- fake user database ---------------------------------------------- */

int
userdb_login_address(const struct dmail_conf *conf, const char *login,
    char *out, size_t outlen)
{
	(void)conf;
	snprintf(out, outlen, strchr(login, '@') ? "%s" : "%s@example.test",
	    login);
	return 0;
}

int
userdb_lookup(struct userdb *db, const char *address, struct user_record *out)
{
	(void)db;
	memset(out, 0, sizeof(*out));
	if (strcmp(address, "bob@example.test") != 0 &&
	    strcmp(address, "off@example.test") != 0)
		return 0;
	snprintf(out->address, sizeof(out->address), "%s", address);
	snprintf(out->hash, sizeof(out->hash), "secret");
	out->enabled = address[0] == 'b';
	return 1;
}

bool
userdb_check_password(const struct user_record *rec, const char *password)
{
	return strcmp(rec->hash, password) == 0;
}

/* No directory: local_domains only, no directory aliases. */
int
userdb_local_domain(struct userdb *db, const struct dmail_conf *c,
    const char *domain)
{
	(void)db;
	return conf_is_local_domain(c, domain);
}

int
userdb_alias_lookup(struct userdb *db, const char *address, struct buf *out)
{
	(void)db;
	(void)address;
	buf_reset(out);
	return 0;
}

/* ---- driver ---------------------------------------------------------- */

static struct dmail_conf conf;

static int
setup(void **state)
{
	static const char text[] =
	    "hostname mx.example.test\n"
	    "local_domains example.test\n"
	    "state_dir /nonexistent\n"
	    "max_recipients 3\n"
	    "smtp_max_errors 8\n"
	    "max_message_size 2k\n"
	    "max_hops 2\n"
	    "relay_networks 10.0.0.0/8 2001:db8::/32\n";
	struct buf err = BUF_INIT;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (conf_load_text("test.conf", text, sizeof(text) - 1, &conf,
	    &err) != 0)
		fail_msg("conf: %s", buf_cstr(&err));
	buf_free(&err);
	log_open("test_smtp_session", LOG_TO_STDERR, LOG_LEVEL_WARN);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	conf_free(&conf);
	buf_free(&fake.content);
	buf_free(&fake.rcpts);
	return 0;
}

struct feeder {
	int fd;
	const char *data;
};

/* When set, scripts are written one byte per write(2), so the session
 * sees commands and data split at every possible point. */
static bool trickle;

static void *
feed(void *arg)
{
	struct feeder *f = arg;
	size_t i, len = strlen(f->data);

	if (trickle) {
		for (i = 0; i < len; i++)
			if (write(f->fd, f->data + i, 1) != 1)
				break;
	} else {
		(void)write_all(f->fd, f->data, len);
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

struct client {
	const char *ip;           /* peer address */
	enum listen_role role;
	bool loopback;
	bool bare_lf_normalize;
};

/* Runs one session on script; returns everything the server wrote. */
static void
run(const struct client *c, const char *script, struct buf *out)
{
	struct smtpd sd;
	struct worker_session ws;
	struct feeder f;
	pthread_t t;
	int sv[2];
	char chunk[4096];
	ssize_t n;

	memset(&sd, 0, sizeof(sd));
	sd.udb = (struct userdb *)&sd;   /* any non-NULL: AUTH available */
	memset(&ws, 0, sizeof(ws));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ws.stream = stream_new(sv[0], sv[0]);
	ws.fd = sv[0];
	ws.role = c->role;
	ws.peer_loopback = c->loopback;
	snprintf(ws.peer_ip, sizeof(ws.peer_ip), "%s", c->ip);
	snprintf(ws.id, sizeof(ws.id), "T1");
	if (strchr(c->ip, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ws.peer;
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, c->ip,
		    &sin6->sin6_addr), 1);
		ws.peer_len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ws.peer;
		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, c->ip, &sin->sin_addr), 1);
		ws.peer_len = sizeof(*sin);
	}
	conf.smtp_bare_lf = c->bare_lf_normalize ? BARE_LF_NORMALIZE :
	    BARE_LF_REJECT;
	memset(&fake.begun, 0, sizeof(unsigned) * 3);
	buf_reset(&fake.content);
	buf_reset(&fake.rcpts);
	f.fd = sv[1];
	f.data = script;
	assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
	smtp_session_run(&sd, &conf, &ws);
	stream_free(ws.stream);
	close(sv[0]);
	pthread_join(t, NULL);
	buf_reset(out);
	while ((n = read(sv[1], chunk, sizeof(chunk))) > 0)
		buf_append(out, chunk, (size_t)n);
	close(sv[1]);
}

/* The final line of each reply reduced to "CODE" or "CODE X.Y.Z", space
 * separated: "220 250 250 2.1.0 ...". Enhanced codes are kept only when
 * want_enh. */
static void
codes(const struct buf *out, bool want_enh, struct buf *res)
{
	const char *p = buf_cstr(out), *nl;

	buf_reset(res);
	while ((nl = strstr(p, "\r\n")) != NULL) {
		if (nl - p >= 4 && p[3] == ' ') {
			if (res->len)
				buf_append_char(res, ' ');
			buf_append(res, p, 3);
			if (want_enh && nl - p > 5 && p[5] == '.' &&
			    strchr("245", p[4]) != NULL) {
				size_t n = strcspn(p + 4, " \r");
				buf_append_char(res, ' ');
				buf_append(res, p + 4, n);
			}
		}
		p = nl + 2;
	}
}

static const struct client internet = { "192.0.2.1", ROLE_SMTP, false,
	false };

static const struct {
	const char *name;
	const struct client *client;
	const char *script;
	const char *expect;     /* codes with enhanced status */
	unsigned committed;
	const char *content;    /* committed content, or NULL */
} scenarios[] = {
	{ "one message, pipelined", &internet,
	    "EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\n"
	    "Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n",
	    "220 250 250 2.1.0 250 2.1.5 354 250 2.0.0 221 2.0.0", 1,
	    "Subject: x\n\n.dot\nbody\n" },
	{ "commands out of sequence", &internet,
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\n"
	    "DATA\r\nHELO c\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
	    "MAIL FROM:<a@example.org>\r\nDATA\r\n"
	    "MAIL FROM:<a@example.org>\r\nQUIT\r\n",
	    "220 503 5.5.1 503 5.5.1 503 5.5.1 250 503 5.5.1 503 5.5.1 "
	    "250 2.1.0 554 5.5.1 503 5.5.1 221 2.0.0", 0, NULL },
	{ "other commands", &internet,
	    "NOOP\r\nHELP\r\nVRFY bob\r\nVRFY\r\nEXPN staff\r\nBDAT 1\r\n"
	    "FOO\r\nRSET\r\nRSET now\r\nEHLO\r\nQUIT now\r\nQUIT\r\n",
	    "220 250 2.0.0 214 2.0.0 252 2.5.2 501 5.5.4 502 5.5.1 502 5.5.1 "
	    "500 5.5.2 250 2.0.0 501 5.5.4 501 5.5.4 501 5.5.4 221 2.0.0",
	    0, NULL },
	{ "recipients: unknown, tempfail, relay denied, postmaster",
	    &internet,
	    "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<nobody@example.test>\r\n"
	    "RCPT TO:<tempfail@example.test>\r\n"
	    "RCPT TO:<x@elsewhere.example>\r\nRCPT TO:<Postmaster>\r\n"
	    "DATA\r\nhi\r\n.\r\nQUIT\r\n",
	    "220 250 250 2.1.0 550 5.1.1 451 4.3.0 554 5.7.1 250 2.1.5 354 "
	    "250 2.0.0 221 2.0.0", 1, "hi\n" },
	{ "too many recipients", &internet,
	    "EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\n"
	    "RCPT TO:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\n"
	    "QUIT\r\n",
	    "220 250 250 2.1.0 250 2.1.5 250 2.1.5 250 2.1.5 452 4.5.3 "
	    "221 2.0.0", 0, NULL },
	{ "too many errors closes with 421", &internet,
	    "A\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\nH\r\nNOOP\r\nNOOP\r\n",
	    "220 500 5.5.2 500 5.5.2 500 5.5.2 500 5.5.2 500 5.5.2 500 5.5.2 "
	    "500 5.5.2 500 5.5.2 421 4.7.0",
	    0, NULL },
	{ "an accepted message resets the error count", &internet,
	    "A\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\nEHLO c\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\n"
	    "DATA\r\nx\r\n.\r\nH\r\nI\r\nQUIT\r\n",
	    "220 500 5.5.2 500 5.5.2 500 5.5.2 500 5.5.2 500 5.5.2 500 5.5.2 "
	    "500 5.5.2 250 250 2.1.0 250 2.1.5 354 250 2.0.0 500 5.5.2 "
	    "500 5.5.2 221 2.0.0", 1, "x\n" },
	{ "SIZE over the limit at MAIL, data over the limit", &internet,
	    "EHLO c\r\nMAIL FROM:<a@example.org> SIZE=4096\r\n"
	    "MAIL FROM:<a@example.org> SIZE=1000\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890\r\n"
	    ".\r\nNOOP\r\nQUIT\r\n",
	    "220 250 552 5.3.4 250 2.1.0 250 2.1.5 354 552 5.3.4 250 2.0.0 "
	    "221 2.0.0", 0, NULL },
	{ "smuggling: <LF>.<LF> does not end DATA, message refused",
	    &internet,
	    "EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\n.\n"
	    "MAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@example.test>\r\n"
	    "DATA\r\nsmuggled\r\n.\r\nNOOP\r\nQUIT\r\n",
	    "220 250 250 2.1.0 250 2.1.5 354 554 5.6.0 250 2.0.0 221 2.0.0",
	    0, NULL },
	{ "smuggling: <CR>.<CR> does not end DATA", &internet,
	    "EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\nhi\r.\rMAIL FROM:<e@x>\r\n"
	    ".\r\nQUIT\r\n",
	    "220 250 250 2.1.0 250 2.1.5 354 554 5.6.0 221 2.0.0", 0, NULL },
	{ "too many hops", &internet,
	    "EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\nReceived: a\r\n"
	    "Received: b\r\nReceived: c\r\n\r\nloop\r\n.\r\nQUIT\r\n",
	    "220 250 250 2.1.0 250 2.1.5 354 554 5.4.6 221 2.0.0", 0, NULL },
	{ "over-long command line, session continues", &internet,
	    "NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\r\nNOOP\r\nQUIT\r\n",
	    "220 500 5.5.2 250 2.0.0 221 2.0.0", 0, NULL },
	{ "delivery failure is passed on", &internet,
	    "EHLO c\r\nMAIL FROM:<diskfull@example.org>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
	    "220 250 250 2.1.0 250 2.1.5 354 452 4.3.1 221 2.0.0", 0, NULL },
	{ "STARTTLS without a certificate, AUTH without TLS", &internet,
	    "EHLO c\r\nSTARTTLS\r\nAUTH PLAIN AGJvYgBzZWNyZXQ=\r\nQUIT\r\n",
	    "220 250 502 5.5.1 538 5.7.11 221 2.0.0", 0, NULL },
	{ "ESMTP parameters need EHLO, UTF-8 needs SMTPUTF8", &internet,
	    "HELO c\r\nMAIL FROM:<a@example.org> BODY=8BITMIME\r\n"
	    "EHLO c\r\nMAIL FROM:<j\xc3\xb6rg@example.org>\r\n"
	    "MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8\r\n"
	    "RCPT TO:<b\xc3\xb6" "b@example.test>\r\nQUIT\r\n",
	    "220 250 555 5.5.4 250 553 5.6.7 250 2.1.0 550 5.1.1 221 2.0.0",
	    0, NULL },
	{ "SMTPUTF8 delivery", &internet,
	    "EHLO c\r\nMAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\n\xc3\xa9\r\n.\r\n"
	    "QUIT\r\n",
	    "220 250 250 2.1.0 250 2.1.5 354 250 2.0.0 221 2.0.0", 1,
	    "\xc3\xa9\n" },
};

static void
test_scenarios(void **state)
{
	struct buf out = BUF_INIT, got = BUF_INIT;
	size_t i;

	(void)state;
	for (int t = 0; t < 2; t++)
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		trickle = t == 1;
		run(scenarios[i].client, scenarios[i].script, &out);
		codes(&out, true, &got);
		if (strcmp(buf_cstr(&got), scenarios[i].expect) != 0)
			fail_msg("%s (trickle %d):\n got    %s\n expect %s\n"
			    "--\n%s", scenarios[i].name, t, buf_cstr(&got),
			    scenarios[i].expect, buf_cstr(&out));
		if (fake.committed != scenarios[i].committed)
			fail_msg("%s: %u committed", scenarios[i].name,
			    fake.committed);
		if (scenarios[i].content != NULL)
			assert_string_equal(buf_cstr(&fake.content),
			    scenarios[i].content);
		/* every transaction ends: committed or aborted */
		if (strstr(scenarios[i].name, "SMTPUTF8 delivery"))
			assert_string_equal(fake.protocol, "UTF8SMTP");
		assert_int_equal(fake.begun, fake.committed + fake.aborted +
		    (strstr(scenarios[i].script, "diskfull") ? 1 : 0));
	}
	trickle = false;
	buf_free(&out);
	buf_free(&got);
}

static void
test_relay_networks(void **state)
{
	static const struct client inside = { "10.1.2.3", ROLE_SMTP, false,
		false };
	static const struct client inside6 = { "2001:db8::25", ROLE_SMTP,
		false, false };
	static const struct client mapped = { "::ffff:10.9.8.7", ROLE_SMTP,
		false, false };
	static const struct client outside6 = { "2001:db9::25", ROLE_SMTP,
		false, false };
	static const struct client loop = { "127.0.0.1", ROLE_SMTP, true,
		false };
	static const char script[] = "EHLO c\r\nMAIL FROM:<a@example.test>\r\n"
	    "RCPT TO:<x@elsewhere.example>\r\nQUIT\r\n";
	struct buf out = BUF_INIT, got = BUF_INIT;

	(void)state;
	run(&inside, script, &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 250 2.1.0 250 2.1.5 "
	    "221 2.0.0");
	run(&inside6, script, &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 250 2.1.0 250 2.1.5 "
	    "221 2.0.0");
	run(&mapped, script, &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 250 2.1.0 250 2.1.5 "
	    "221 2.0.0");
	run(&outside6, script, &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 250 2.1.0 554 5.7.1 "
	    "221 2.0.0");
	/* loopback is not trusted implicitly */
	run(&loop, script, &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 250 2.1.0 554 5.7.1 "
	    "221 2.0.0");
	assert_non_null(strstr(buf_cstr(&out),
	    "554 5.7.1 <x@elsewhere.example>: Relay access denied\r\n"));
	buf_free(&out);
	buf_free(&got);
}

static void
test_ehlo_advertises(void **state)
{
	static const struct client loop = { "127.0.0.1", ROLE_SMTP, true,
		false };
	struct buf out = BUF_INIT;

	(void)state;
	run(&internet, "EHLO c\r\nQUIT\r\n", &out);
	assert_string_equal(buf_cstr(&out),
	    "220 mx.example.test ESMTP DMail\r\n"
	    "250-mx.example.test Hello 192.0.2.1\r\n"
	    "250-PIPELINING\r\n250-SIZE 2048\r\n250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 SMTPUTF8\r\n"
	    "221 2.0.0 Bye\r\n");
	/* AUTH is offered without TLS only on loopback */
	run(&loop, "EHLO c\r\nQUIT\r\n", &out);
	assert_non_null(strstr(buf_cstr(&out), "250-AUTH PLAIN LOGIN\r\n"));
	assert_null(strstr(buf_cstr(&out), "STARTTLS"));
	assert_null(strstr(buf_cstr(&out), "CHUNKING"));
	buf_free(&out);
}

static void
test_auth_and_submission(void **state)
{
	static const struct client sub = { "127.0.0.1", ROLE_SUBMISSION, true,
		false };
	struct buf out = BUF_INIT, got = BUF_INIT;

	(void)state;
	/* AUTH PLAIN "\0bob\0secret"; wrong password; disabled account */
	run(&sub, "EHLO c\r\nMAIL FROM:<bob@example.test>\r\n"
	    "AUTH PLAIN AGJvYgB3cm9uZw==\r\n"
	    "AUTH PLAIN AG9mZgBzZWNyZXQ=\r\n"
	    "AUTH PLAIN\r\n*\r\n"
	    "AUTH PLAIN !!!!\r\n"
	    "AUTH CRAM-MD5\r\n"
	    "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"
	    "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"
	    "MAIL FROM:<bob@example.test>\r\nRCPT TO:<x@elsewhere.example>\r\n"
	    "DATA\r\nhi\r\n.\r\nQUIT\r\n", &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 530 5.7.0 535 5.7.8 "
	    "535 5.7.8 334 501 5.7.0 501 5.5.2 504 5.5.4 235 2.7.0 503 5.5.1 "
	    "250 2.1.0 250 2.1.5 354 250 2.0.0 221 2.0.0");
	assert_string_equal(fake.protocol, "ESMTPA");
	assert_string_equal(buf_cstr(&fake.rcpts), "x@elsewhere.example,");
	assert_non_null(strstr(buf_cstr(&out), "334 \r\n"));

	/* LOGIN with the two challenges, and with an initial response */
	run(&sub, "EHLO c\r\nAUTH LOGIN\r\nYm9i\r\nc2VjcmV0\r\nQUIT\r\n",
	    &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 334 334 235 2.7.0 "
	    "221 2.0.0");
	assert_non_null(strstr(buf_cstr(&out), "334 VXNlcm5hbWU6\r\n"
	    "334 UGFzc3dvcmQ6\r\n"));
	run(&sub, "EHLO c\r\nAUTH LOGIN Ym9i\r\nc2VjcmV0\r\nQUIT\r\n", &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 334 235 2.7.0 221 2.0.0");
	run(&sub, "EHLO c\r\nAUTH LOGIN\r\nYm9i\r\n*\r\nQUIT\r\n", &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 334 334 501 5.7.0 "
	    "221 2.0.0");
	/* AUTH needs EHLO and is refused before it */
	run(&sub, "HELO c\r\nAUTH PLAIN AGJvYgBzZWNyZXQ=\r\nQUIT\r\n", &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 503 5.5.1 221 2.0.0");
	buf_free(&out);
	buf_free(&got);
}

static void
test_normalize_policy(void **state)
{
	static const struct client norm = { "192.0.2.1", ROLE_SMTP, false,
		true };
	struct buf out = BUF_INIT, got = BUF_INIT;

	(void)state;
	run(&norm, "EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: x\n\nhi\n.\n"
	    "MAIL FROM:<evil@example.org>\r\n.\r\nQUIT\r\n", &out);
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 250 2.1.0 250 2.1.5 354 "
	    "250 2.0.0 221 2.0.0");
	/* one message; the smuggled command is content */
	assert_int_equal(fake.committed, 1);
	assert_string_equal(buf_cstr(&fake.content),
	    "Subject: x\n\nhi\n.\nMAIL FROM:<evil@example.org>\n");
	buf_free(&out);
	buf_free(&got);
}

static void
test_vrfy_enabled(void **state)
{
	struct buf out = BUF_INIT, got = BUF_INIT;

	(void)state;
	conf.smtp_vrfy = true;
	run(&internet, "VRFY bob@example.test\r\nVRFY <nobody@example.test>\r\n"
	    "VRFY x@elsewhere.example\r\nVRFY bad address\r\nQUIT\r\n", &out);
	conf.smtp_vrfy = false;
	codes(&out, true, &got);
	assert_string_equal(buf_cstr(&got), "220 250 2.1.5 550 5.1.1 "
	    "252 2.5.2 501 5.1.3 221 2.0.0");
	assert_non_null(strstr(buf_cstr(&out), "250 2.1.5 <bob@example.test>"));
	buf_free(&out);
	buf_free(&got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_relay_networks),
		cmocka_unit_test(test_ehlo_advertises),
		cmocka_unit_test(test_auth_and_submission),
		cmocka_unit_test(test_normalize_policy),
		cmocka_unit_test(test_vrfy_enabled),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
