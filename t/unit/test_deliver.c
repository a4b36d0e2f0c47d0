/*
 * test_deliver.c - unit tests for common/deliver.c against a real user
 * database and real Maildirs in a temporary state_dir: RCPT checks
 * (unknown, disabled, quota, postmaster, aliases, remote), the headers we
 * prepend, Maildir names with S= and W=, one stored copy hard-linked to
 * several mailboxes, queue files for remote recipients, hop counting,
 * and fault injection (ENOSPC/EIO on write, fsync, link, rename) leaving
 * no partial files behind.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "conf.h"
#include "deliver.h"
#include "maildir.h"
#include "spool.h"
#include "sys.h"
#include "userdb.h"
#include "util.h"
#include "unit_tmpdir.h"

static struct dmail_conf *conf;
static struct userdb *udb;
static struct deliver_ctx *ctx;

static const struct delivery_info info = {
	.session_id = "S1",
	.client_ip = "192.0.2.7",
	.client_helo = "client.example.org",
	.protocol = "ESMTPS",
	.tls = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384",
	.auth_user = NULL,
	.smtputf8 = false,
};

static void
add_user(const char *address, bool enabled, uint64_t quota_bytes)
{
	struct user_record u;
	struct buf mb = BUF_INIT, err = BUF_INIT;

	memset(&u, 0, sizeof(u));
	snprintf(u.address, sizeof(u.address), "%s", address);
	userdb_default_mailbox(conf, address, &mb);
	snprintf(u.mailbox, sizeof(u.mailbox), "%s", mb.data);
	u.enabled = enabled;
	u.quota_bytes = quota_bytes;
	if (userdb_put(udb, &u, &err) != 0)
		fail_msg("userdb_put: %s", err.data);
	buf_free(&mb);
	buf_free(&err);
}

static int
setup(void **state)
{
	struct buf text = BUF_INIT, err = BUF_INIT;

	(void)state;
	if (unit_tmpdir_make("test_deliver") < 0)
		return -1;
	buf_printf(&text, "state_dir %s\nlocal_domains example.test "
	    "other.test catch.test\nhostname mx.example.test\n"
	    "recipient_delimiter +-\n"
	    "alias @catch.test bob@example.test\n"
	    "alias known@catch.test alice@example.test\n"
	    "alias team-lead@example.test bob@example.test\n"
	    "alias staff alice, bob\n"
	    "alias loop1 loop2\nalias loop2 loop1\n"
	    "alias gone nosuchuser\n"
	    "forward fwd@example.test alice, friend@remote.test\n",
	    tmpdir);
	conf = calloc(1, sizeof(*conf));
	if (conf_load_text("test.conf", text.data, text.len, conf, &err) != 0) {
		fprintf(stderr, "conf: %s\n", err.data);
		return -1;
	}
	udb = userdb_open(conf, USERDB_WRITE, &err);
	if (udb == NULL) {
		fprintf(stderr, "userdb: %s\n", err.data);
		return -1;
	}
	add_user("alice@example.test", true, 0);
	add_user("bob@example.test", true, 0);
	add_user("carol@example.test", false, 0);
	add_user("small@example.test", true, 1000);
	add_user("alice+own@example.test", true, 0);
	add_user("carl@catch.test", true, 0);
	ctx = deliver_ctx_new(conf, udb, &err);
	buf_free(&text);
	buf_free(&err);
	return ctx == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	deliver_ctx_free(ctx);
	userdb_close(udb);
	conf_free(conf);
	free(conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Names of the files in DIR (sorted is not needed: tests use 0 or 1). */
static int
list_dir(const char *dir, char names[][512], int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n < max)
			snprintf(names[n], 512, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static int
count_in(const char *sub)
{
	char path[512], names[4][512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, sub);
	return list_dir(path, names, 4);
}

/* Read the only message in the Maildir of address; returns its content,
 * and its file name in name. */
static char *
only_message(const char *address, char *name, size_t namelen)
{
	char dir[512], names[4][512], path[1100];
	struct buf mb = BUF_INIT, content = BUF_INIT;
	int n;

	userdb_default_mailbox(conf, address, &mb);
	snprintf(dir, sizeof(dir), "%s/new", mb.data);
	n = list_dir(dir, names, 4);
	assert_int_equal(n, 1);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	assert_int_equal(read_file(path, &content, 1 << 24), 0);
	if (name != NULL)
		snprintf(name, namelen, "%s", path);
	buf_free(&mb);
	return buf_steal(&content);
}

static void
send_lines(struct delivery *d, const char *const *lines)
{
	for (size_t i = 0; lines[i] != NULL; i++)
		assert_int_equal(delivery_write_line(d, lines[i],
		    strlen(lines[i])), 0);
}

static const char *const body[] = {
	"Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000",
	"Received: from c",
	" by d; Mon, 1 Jan 2024 00:00:00 +0000",
	"Subject: test",
	"",
	"Received: this is body text, not a header",
	".leading dot stays (already unstuffed by the caller)",
	"last line",
	NULL,
};

static const char *const body_text =
	"Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
	"Received: from c\n"
	" by d; Mon, 1 Jan 2024 00:00:00 +0000\n"
	"Subject: test\n"
	"\n"
	"Received: this is body text, not a header\n"
	".leading dot stays (already unstuffed by the caller)\n"
	"last line\n";

static void
test_check_rcpt(void **state)
{
	struct smtp_reply r;

	(void)state;
	assert_int_equal(deliver_check_rcpt(ctx, "alice@example.test", 0, &r),
	    RCPT_LOCAL);
	assert_int_equal(deliver_check_rcpt(ctx, "ALICE@Example.Test", 0, &r),
	    RCPT_LOCAL);
	memset(&r, 0, sizeof(r));
	assert_int_equal(deliver_check_rcpt(ctx, "nobody@example.test", 0,
	    &r), RCPT_REJECT);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.1.1");
	assert_int_equal(deliver_check_rcpt(ctx, "carol@example.test", 0, &r),
	    RCPT_REJECT);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.2.1");
	assert_int_equal(deliver_check_rcpt(ctx, "someone@remote.test", 0,
	    &r), RCPT_REMOTE);
	/* postmaster exists for every local domain, with or without domain */
	assert_int_equal(deliver_check_rcpt(ctx, "postmaster@other.test", 0,
	    &r), RCPT_LOCAL);
	assert_int_equal(deliver_check_rcpt(ctx, "Postmaster", 0, &r),
	    RCPT_LOCAL);
	assert_int_equal(deliver_check_rcpt(ctx, "staff@other.test", 0, &r),
	    RCPT_REJECT);   /* alice@other.test, bob@other.test: no users */
	assert_int_equal(deliver_check_rcpt(ctx, "staff@example.test", 0, &r),
	    RCPT_LOCAL);
	assert_int_equal(deliver_check_rcpt(ctx, "fwd@example.test", 0, &r),
	    RCPT_LOCAL);
	/* An alias to a missing user is an unknown user, not silent loss. */
	assert_int_equal(deliver_check_rcpt(ctx, "gone@example.test", 0, &r),
	    RCPT_REJECT);
	assert_int_equal(r.code, 550);
	/* loop1 -> loop2 -> loop1: ends at the (missing) account loop1. */
	assert_int_equal(deliver_check_rcpt(ctx, "loop1@example.test", 0, &r),
	    RCPT_REJECT);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.1.1");
}

/* Fill small@ (quota 1000 bytes) past its quota: one message of 1200
 * bytes (by its S= size) put there directly, as an old delivery that
 * predates the quota would have. */
static void
fill_small(void)
{
	struct buf mb = BUF_INIT, p = BUF_INIT;

	userdb_default_mailbox(conf, "small@example.test", &mb);
	assert_int_equal(maildir_create(mb.data), 0);
	buf_printf(&p, "%s/new/1700000000.M1P1Q1.old,S=1200,W=1230", mb.data);
	assert_int_equal(write_file_durable(p.data, "x\n", 2, 0600), 0);
	buf_free(&mb);
	buf_free(&p);
}

static void
test_quota(void **state)
{
	struct smtp_reply r;

	(void)state;
	assert_int_equal(deliver_check_rcpt(ctx, "small@example.test", 500,
	    &r), RCPT_LOCAL);
	assert_int_equal(deliver_check_rcpt(ctx, "small@example.test", 1001,
	    &r), RCPT_REJECT);
	assert_int_equal(r.code, 552);
	assert_string_equal(r.enhanced, "5.2.2");
	/* Fill the mailbox past its quota. */
	fill_small();
	assert_int_equal(deliver_check_rcpt(ctx, "small@example.test", 10, &r),
	    RCPT_REJECT);
	assert_int_equal(r.code, 452);
	assert_string_equal(r.enhanced, "4.2.2");
}

static void
test_single_local_delivery(void **state)
{
	struct smtp_reply r;
	struct delivery *d;
	char path[1100], *msg, *base;
	struct stat st;
	uint64_t s, w, lines = 0;
	char id[SPOOL_ID_MAX];
	const char *head = "Return-Path: <sender@remote.test>\n"
	    "Delivered-To: alice@example.test\n"
	    "Received: from client.example.org ([192.0.2.7])\n"
	    "\tby mx.example.test (DMail) with ESMTPS id ";

	(void)state;
	d = delivery_begin(ctx, "sender@remote.test", &info);
	snprintf(id, sizeof(id), "%s", delivery_id(d));
	delivery_add_rcpt(d, "alice@example.test");
	send_lines(d, body);
	assert_int_equal(delivery_hops(d), 2);
	assert_int_equal(delivery_size(d), strlen(body_text) + 8);
	assert_int_equal(delivery_commit(d, &r), 0);
	assert_int_equal(r.code, 250);
	assert_non_null(strstr(r.text, id));

	msg = only_message("alice@example.test", path, sizeof(path));
	assert_true(strncmp(msg, head, strlen(head)) == 0);
	assert_non_null(strstr(msg, id));
	assert_non_null(strstr(msg, "\n\t(TLSv1.3 with cipher "
	    "TLS_AES_256_GCM_SHA384)\n\tfor <alice@example.test>;\n\t"));
	assert_null(strstr(msg, "authenticated"));
	/* The client's message follows unchanged. */
	base = strstr(msg, "+0000\n");
	assert_non_null(base);
	assert_string_equal(base + 6, body_text);
	/* Name carries S= (bytes on disk) and W= (bytes with CRLF). */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(maildir_name_sizes(strrchr(path, '/') + 1, &s, &w),
	    0);
	assert_int_equal(s, (uint64_t)st.st_size);
	for (char *p = msg; *p; p++)
		lines += *p == '\n';
	assert_int_equal(w, s + lines);
	assert_int_equal(st.st_nlink, 1);   /* tmp/ name removed */
	assert_int_equal(count_in("mail/example.test/alice/tmp"), 0);
	assert_int_equal(count_in("spool/queue"), 0);
	free(msg);
}

static void
test_two_mailboxes_one_copy(void **state)
{
	struct smtp_reply r;
	struct delivery *d;
	char pa[1100], pb[1100], *ma, *mb;
	struct stat sa, sb;
	struct delivery_info ai = info;

	(void)state;
	ai.auth_user = "alice@example.test";
	ai.protocol = "ESMTPSA";
	d = delivery_begin(ctx, "", &ai);
	delivery_add_rcpt(d, "staff@example.test");      /* alice, bob */
	delivery_add_rcpt(d, "alice@example.test");      /* no 2nd copy */
	send_lines(d, body);
	assert_int_equal(delivery_commit(d, &r), 0);
	ma = only_message("alice@example.test", pa, sizeof(pa));
	mb = only_message("bob@example.test", pb, sizeof(pb));
	assert_string_equal(ma, mb);
	assert_int_equal(stat(pa, &sa), 0);
	assert_int_equal(stat(pb, &sb), 0);
	assert_true(sa.st_ino == sb.st_ino);
	assert_int_equal(sa.st_nlink, 2);
	assert_true(strncmp(ma, "Return-Path: <>\nReceived: ", 26) == 0);
	assert_null(strstr(ma, "Delivered-To:"));
	assert_null(strstr(ma, "\tfor <"));
	assert_non_null(strstr(ma, "(authenticated as alice@example.test)"));
	assert_non_null(strstr(ma, "with ESMTPSA id"));
	free(ma);
	free(mb);
}

static void
test_remote_and_mixed_queue(void **state)
{
	struct smtp_reply r;
	struct delivery *d;
	struct spool_envelope env;
	struct buf path = BUF_INIT, err = BUF_INIT, content = BUF_INIT;
	char id[SPOOL_ID_MAX], *local;
	const char *msg;

	(void)state;
	/* Remote only: the queue file is the store. */
	d = delivery_begin(ctx, "alice@example.test", &info);
	snprintf(id, sizeof(id), "%s", delivery_id(d));
	delivery_add_rcpt(d, "bob@remote.test");
	delivery_add_rcpt(d, "Carl@Remote.test");
	send_lines(d, body);
	assert_int_equal(delivery_commit(d, &r), 0);
	spool_path(conf, "queue", id, &path);
	assert_int_equal(spool_read(path.data, &env, &err), 0);
	assert_string_equal(env.id, id);
	assert_string_equal(env.sender, "alice@example.test");
	assert_int_equal(env.rcpt_count, 2);
	assert_string_equal(env.rcpts[0].address, "bob@remote.test");
	assert_string_equal(env.rcpts[1].address, "Carl@Remote.test");
	assert_int_equal(env.rcpts[0].state, SPOOL_PENDING);
	assert_int_equal(read_file(path.data, &content, 1 << 20), 0);
	msg = content.data + env.message_offset;
	assert_true(strncmp(msg, "Received: from client.example.org", 33) ==
	    0);
	assert_string_equal(strstr(msg, "+0000\n") + 6, body_text);
	assert_int_equal(count_in("spool/tmp"), 0);
	spool_envelope_free(&env);

	/* Local + remote through a forward: one Maildir copy, one queue
	 * file with the original recipient kept. */
	d = delivery_begin(ctx, "x@remote.test", &info);
	snprintf(id, sizeof(id), "%s", delivery_id(d));
	delivery_add_rcpt(d, "fwd@example.test");
	send_lines(d, body);
	assert_int_equal(delivery_commit(d, &r), 0);
	local = only_message("alice@example.test", NULL, 0);
	assert_non_null(strstr(local, "Return-Path: <x@remote.test>\n"));
	free(local);
	spool_path(conf, "queue", id, &path);
	assert_int_equal(spool_read(path.data, &env, &err), 0);
	assert_int_equal(env.rcpt_count, 1);
	assert_string_equal(env.rcpts[0].address, "friend@remote.test");
	assert_string_equal(env.rcpts[0].orcpt, "fwd@example.test");
	assert_int_equal(read_file(path.data, &content, 1 << 20), 0);
	msg = content.data + env.message_offset;
	assert_true(strncmp(msg, "Received: ", 10) == 0);
	assert_null(strstr(msg, "Return-Path:"));
	/* The queue manager's in-place state update. */
	assert_int_equal(spool_mark(path.data, &env, 0, SPOOL_DELIVERED), 0);
	spool_envelope_free(&env);
	assert_int_equal(spool_read(path.data, &env, &err), 0);
	assert_int_equal(env.rcpts[0].state, SPOOL_DELIVERED);
	spool_envelope_free(&env);
	buf_free(&path);
	buf_free(&err);
	buf_free(&content);
}

static void
test_abort_leaves_nothing(void **state)
{
	struct delivery *d;

	(void)state;
	d = delivery_begin(ctx, "a@remote.test", &info);
	delivery_add_rcpt(d, "bob@example.test");
	delivery_add_rcpt(d, "z@remote.test");
	send_lines(d, body);
	delivery_abort(d);
	assert_int_equal(count_in("mail/example.test/bob/tmp"), 0);
	assert_int_equal(count_in("mail/example.test/bob/new"), 0);
	assert_int_equal(count_in("spool/tmp"), 0);
	assert_int_equal(count_in("spool/queue"), 0);
}

/* A recipient accepted at RCPT whose lookup fails when it is recorded
 * (the user database broke in between): the message gets 451 4.3.0 and
 * the client keeps it; nothing goes to the postmaster (it went there)
 * and nothing is answered 5xx. */
static void
test_lookup_failure_after_rcpt(void **state)
{
	struct buf err = BUF_INIT, path = BUF_INIT;
	struct deliver_ctx *c2;
	struct userdb *broken;
	struct delivery *d;
	struct smtp_reply r;

	(void)state;
	buf_printf(&path, "%s/db/users.db", tmpdir);
	assert_int_equal(write_file_durable(path.data, "not a database\n", 15,
	    0600), 0);
	broken = userdb_open(conf, USERDB_READ, &err);
	assert_non_null(broken);
	c2 = deliver_ctx_new(conf, broken, &err);
	assert_non_null(c2);
	d = delivery_begin(c2, "a@remote.test", &info);
	delivery_add_rcpt(d, "alice@example.test");
	/* Nothing is stored from then on. */
	assert_int_equal(delivery_write_line(d, body[0], strlen(body[0])),
	    -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(delivery_commit(d, &r), -1);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.enhanced, "4.3.0");
	assert_int_equal(count_in("mail/example.test/postmaster/new"), 0);
	assert_int_equal(count_in("mail/example.test/alice/new"), 0);
	assert_int_equal(count_in("spool/queue"), 0);
	deliver_ctx_free(c2);
	userdb_close(broken);
	buf_free(&path);
	buf_free(&err);
}

/* Age of the maildrop files write_maildrop() writes, in seconds. */
static time_t maildrop_age;

/* Write a maildrop file for rcpts with body tail; its path into path. */
static void
write_maildrop(const char *const *rcpts, size_t n, const char *tail,
    struct buf *path)
{
	struct spool_envelope env;
	struct buf head = BUF_INIT, file = BUF_INIT, err = BUF_INIT;

	spool_envelope_init(&env);
	spool_new_id(env.id);
	env.arrival = time(NULL) - maildrop_age;
	env.sender = strdup("me@example.test");
	env.uid = 1000;
	for (size_t i = 0; i < n; i++)
		spool_envelope_add_rcpt(&env, rcpts[i], NULL);
	spool_envelope_format(&env, &head);
	buf_append(&file, head.data, head.len);
	buf_append_str(&file, tail);
	assert_int_equal(spool_dirs(conf, &err), 0);
	spool_path(conf, "maildrop", env.id, path);
	assert_int_equal(write_file_durable(path->data, file.data, file.len,
	    0644), 0);
	spool_envelope_free(&env);
	buf_free(&head);
	buf_free(&file);
	buf_free(&err);
}

static void
test_maildrop_pickup(void **state)
{
	static const char *const rcpts[] = { "alice@example.test",
		"nobody@example.test", "far@remote.test" };
	struct spool_envelope env;
	struct qinfo refused;
	struct buf path = BUF_INIT, err = BUF_INIT;
	const char *tail = "Subject: dropped\n\n.a dot line\nbody\n";
	char *msg;

	(void)state;
	write_maildrop(rcpts, 3, tail, &path);
	assert_int_equal(deliver_maildrop(ctx, path.data, &env, &refused,
	    &err), 0);
	msg = only_message("alice@example.test", NULL, 0);
	assert_non_null(strstr(msg, "Return-Path: <me@example.test>\n"
	    "Delivered-To: alice@example.test\nReceived: from localhost "
	    "(local)\n"));
	assert_non_null(strstr(msg, "with local id "));
	assert_true(strlen(msg) > strlen(tail) &&
	    strcmp(msg + strlen(msg) - strlen(tail), tail) == 0);
	/* The unknown one is refused for the caller's bounce. */
	assert_int_equal(env.rcpts[0].state, SPOOL_PENDING);
	assert_int_equal(env.rcpts[1].state, SPOOL_BOUNCED);
	assert_int_equal(refused.rcpts[1].code, 550);
	assert_string_equal(refused.rcpts[1].status, "5.1.1");
	assert_int_equal(env.rcpts[2].state, SPOOL_PENDING);
	assert_int_equal(count_in("spool/queue"), 1);
	/* The caller removes the file once it bounced. */
	assert_int_equal(access(path.data, F_OK), 0);
	free(msg);
	qinfo_free(&refused);
	spool_envelope_free(&env);

	/* Garbage is left for the operator (quarantine), never
	 * half-delivered. */
	assert_int_equal(write_file_durable(path.data, "hello\n", 6, 0644), 0);
	buf_reset(&err);
	assert_int_equal(deliver_maildrop(ctx, path.data, &env, &refused,
	    &err), -2);
	assert_non_null(strstr(err.data, "not a DMail queue file"));
	assert_int_equal(access(path.data, F_OK), 0);
	qinfo_free(&refused);
	spool_envelope_free(&env);
	buf_free(&path);
	buf_free(&err);
}

/* Messages in the Maildir new/ of address. */
static int
count_messages(const char *address)
{
	char names[4][512];
	struct buf mb = BUF_INIT;
	int n;

	userdb_default_mailbox(conf, address, &mb);
	buf_append_str(&mb, "/new");
	n = list_dir(mb.data, names, 4);
	buf_free(&mb);
	return n;
}

/* A full mailbox (452 4.2.2) defers the whole file: nothing delivered,
 * nothing refused; once there is room it goes through. */
static void
test_maildrop_full_mailbox_defers(void **state)
{
	static const char *const rcpts[] = { "alice@example.test",
		"small@example.test" };
	struct spool_envelope env;
	struct qinfo refused;
	struct buf path = BUF_INIT, err = BUF_INIT, mb = BUF_INIT;
	char cmd[1200];

	(void)state;
	fill_small();

	write_maildrop(rcpts, 2, "Subject: later\n\nkept\n", &path);
	assert_int_equal(deliver_maildrop(ctx, path.data, &env, &refused,
	    &err), -1);
	assert_int_equal(env.rcpts[1].state, SPOOL_PENDING);
	assert_int_equal(count_messages("alice@example.test"), 0);
	assert_int_equal(count_messages("small@example.test"), 1);
	qinfo_free(&refused);
	spool_envelope_free(&env);

	/* Space freed: the same file goes through to both. */
	userdb_default_mailbox(conf, "small@example.test", &mb);
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/new/*", mb.data);
	assert_int_equal(system(cmd), 0);
	buf_reset(&err);
	assert_int_equal(deliver_maildrop(ctx, path.data, &env, &refused,
	    &err), 0);
	assert_int_equal(count_messages("alice@example.test"), 1);
	assert_int_equal(count_messages("small@example.test"), 1);
	assert_int_equal(env.rcpts[0].state, SPOOL_PENDING);
	assert_int_equal(env.rcpts[1].state, SPOOL_PENDING);
	qinfo_free(&refused);
	spool_envelope_free(&env);
	buf_free(&path);
	buf_free(&err);
	buf_free(&mb);
}

/* Deliver a message of n 100-byte lines to rcpts like an SMTP session:
 * the commit's result, reply in r. */
static int
deliver_lines(const char *const *rcpts, size_t nrcpt, int n,
    struct smtp_reply *r)
{
	struct delivery *d = delivery_begin(ctx, "me@remote.test", &info);
	char line[101];

	memset(line, 'y', 100);
	line[100] = '\0';
	for (size_t i = 0; i < nrcpt; i++)
		delivery_add_rcpt(d, rcpts[i]);
	for (int i = 0; i < n; i++)
		assert_int_equal(delivery_write_line(d, line, 100), 0);
	return delivery_commit(d, r);
}

/* After DATA the real size counts: a message accepted at RCPT without
 * SIZE= that is larger than the whole quota gets 552 5.2.2, one that
 * does not fit the room left 452 4.2.2; nothing is stored or kept. */
static void
test_quota_after_data(void **state)
{
	static const char *const small[] = { "small@example.test" };
	struct smtp_reply r;
	struct buf mb = BUF_INIT, p = BUF_INIT;

	(void)state;
	assert_int_equal(deliver_check_rcpt(ctx, small[0], 0, &r), RCPT_LOCAL);
	assert_int_equal(deliver_lines(small, 1, 12, &r), -1);
	assert_int_equal(r.code, 552);
	assert_string_equal(r.enhanced, "5.2.2");
	/* 500 of 1000 bytes used: about 700 more do not fit. */
	userdb_default_mailbox(conf, "small@example.test", &mb);
	assert_int_equal(maildir_create(mb.data), 0);
	buf_printf(&p, "%s/new/1700000000.M1P1Q1.old,S=500,W=510", mb.data);
	assert_int_equal(write_file_durable(p.data, "x\n", 2, 0600), 0);
	assert_int_equal(deliver_check_rcpt(ctx, small[0], 0, &r), RCPT_LOCAL);
	assert_int_equal(deliver_lines(small, 1, 4, &r), -1);
	assert_int_equal(r.code, 452);
	assert_string_equal(r.enhanced, "4.2.2");
	assert_int_equal(count_messages("small@example.test"), 1);
	assert_int_equal(count_in("spool/maildrop"), 0);
	assert_int_equal(count_in("spool/queue"), 0);
	/* One line (about 400 bytes with our headers) fits. */
	assert_int_equal(deliver_lines(small, 1, 1, &r), 0);
	assert_int_equal(count_messages("small@example.test"), 2);
	buf_free(&mb);
	buf_free(&p);
}

/* One mailbox over quota among others: they get it (250), it gets a
 * maildrop copy addressed to the account, which the pickup bounces
 * (552 5.2.2: the message alone is too big for it). */
static void
test_quota_partial_keeps_copy(void **state)
{
	static const char *const rcpts[] = { "alice@example.test",
		"small@example.test" };
	char names[4][512], path[1100];
	struct spool_envelope env;
	struct qinfo refused;
	struct buf err = BUF_INIT;
	struct smtp_reply r;

	(void)state;
	assert_int_equal(deliver_lines(rcpts, 2, 12, &r), 0);
	assert_int_equal(r.code, 250);
	assert_int_equal(count_messages("alice@example.test"), 1);
	assert_int_equal(count_messages("small@example.test"), 0);
	snprintf(path, sizeof(path), "%s/spool/maildrop", tmpdir);
	assert_int_equal(list_dir(path, names, 4), 1);
	snprintf(path, sizeof(path), "%s/spool/maildrop/%s", tmpdir, names[0]);
	assert_int_equal(deliver_maildrop(ctx, path, &env, &refused, &err), 0);
	assert_int_equal(env.rcpt_count, 1);
	assert_string_equal(env.rcpts[0].address, "small@example.test");
	assert_string_equal(env.sender, "me@remote.test");
	assert_int_equal(env.rcpts[0].state, SPOOL_BOUNCED);
	assert_int_equal(refused.rcpts[0].code, 552);
	qinfo_free(&refused);
	spool_envelope_free(&env);
	buf_free(&err);
}

/* Mail DMail writes itself (a list post) to a full mailbox is kept for
 * later, not dropped: delivered 1 with a maildrop copy. */
static void
test_quota_submit_keeps(void **state)
{
	static const char *const rcpts[] = { "small@example.test" };
	const char *msg = "Subject: post\n\nhello\n";
	struct submission s;
	struct smtp_reply r;

	(void)state;
	fill_small();
	memset(&s, 0, sizeof(s));
	s.log_id = "test";
	s.sender = "list-bounces@example.test";
	s.rcpts = rcpts;
	s.rcpt_count = 1;
	s.message = msg;
	s.message_len = strlen(msg);
	s.size_hint = strlen(msg);
	assert_int_equal(delivery_submit(ctx, &s, &r), 1);
	assert_int_equal(count_messages("small@example.test"), 1);
	assert_int_equal(count_in("spool/maildrop"), 1);
	/* final_try: refused, nothing kept. */
	s.final_try = true;
	assert_int_equal(delivery_submit(ctx, &s, &r), 0);
	assert_int_equal(count_in("spool/maildrop"), 1);
}

/* A maildrop file still refused for now after queue_lifetime is
 * refused for good (bounced) instead of kept forever. */
static void
test_maildrop_expired_bounces(void **state)
{
	static const char *const rcpts[] = { "small@example.test" };
	struct spool_envelope env;
	struct qinfo refused;
	struct buf path = BUF_INIT, err = BUF_INIT;

	(void)state;
	fill_small();
	maildrop_age = (time_t)conf->queue_lifetime + 60;
	write_maildrop(rcpts, 1, "Subject: old\n\nold\n", &path);
	maildrop_age = 0;
	assert_int_equal(deliver_maildrop(ctx, path.data, &env, &refused,
	    &err), 0);
	assert_int_equal(env.rcpts[0].state, SPOOL_BOUNCED);
	assert_int_equal(refused.rcpts[0].code, 552);
	assert_string_equal(refused.rcpts[0].status, "5.2.2");
	assert_int_equal(count_in("spool/maildrop"), 1);  /* caller removes */
	qinfo_free(&refused);
	spool_envelope_free(&env);
	buf_free(&path);
	buf_free(&err);
}

/* Plus addressing and the catch-all: exact accounts and aliases win. */
static void
test_plus_and_catchall(void **state)
{
	static const struct {
		const char *rcpt;
		enum rcpt_check rc;
		const char *mailbox;       /* whose Maildir gets it */
	} rows[] = {
		{ "alice+news@example.test", RCPT_LOCAL, "alice@example.test" },
		{ "alice-news@example.test", RCPT_LOCAL, "alice@example.test" },
		{ "alice+own@example.test", RCPT_LOCAL, "alice+own@example.test" },
		{ "team-lead@example.test", RCPT_LOCAL, "bob@example.test" },
		{ "staff+x@example.test", RCPT_LOCAL, "bob@example.test" },
		{ "nobody+x@example.test", RCPT_REJECT, NULL },
		{ "+x@example.test", RCPT_REJECT, NULL },
		{ "carl+x@catch.test", RCPT_LOCAL, "carl@catch.test" },
		{ "known@catch.test", RCPT_LOCAL, "alice@example.test" },
		{ "whoever@catch.test", RCPT_LOCAL, "bob@example.test" },
		{ "postmaster@catch.test", RCPT_LOCAL, "postmaster@catch.test" },
	};
	struct smtp_reply r;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *one[1] = { rows[i].rcpt };
		int before = rows[i].mailbox ?
		    count_messages(rows[i].mailbox) : 0;

		if (deliver_check_rcpt(ctx, rows[i].rcpt, 0, &r) !=
		    rows[i].rc)
			fail_msg("%s: %d %s", rows[i].rcpt, r.code, r.text);
		if (rows[i].rc != RCPT_LOCAL)
			continue;
		assert_int_equal(deliver_lines(one, 1, 1, &r), 0);
		if (count_messages(rows[i].mailbox) != before + 1)
			fail_msg("%s did not reach %s", rows[i].rcpt,
			    rows[i].mailbox);
	}
}

/* A file bigger than max_message_size is refused for every recipient
 * with 552 5.3.4 (for a bounce), not delivered and not deleted here. */
static void
test_maildrop_too_big(void **state)
{
	static const char *const rcpts[] = { "alice@example.test" };
	struct spool_envelope env;
	struct qinfo refused;
	struct buf path = BUF_INIT, err = BUF_INIT, big = BUF_INIT;
	uint64_t saved = conf->max_message_size;

	(void)state;
	buf_append_str(&big, "Subject: big\n\n");
	for (int i = 0; i < 200; i++)
		buf_append_str(&big, "0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789\n");
	write_maildrop(rcpts, 1, big.data, &path);
	conf->max_message_size = 4096;
	assert_int_equal(deliver_maildrop(ctx, path.data, &env, &refused,
	    &err), 0);
	conf->max_message_size = saved;
	assert_int_equal(env.rcpts[0].state, SPOOL_BOUNCED);
	assert_int_equal(refused.rcpts[0].code, 552);
	assert_string_equal(refused.rcpts[0].status, "5.3.4");
	assert_int_equal(count_messages("alice@example.test"), 0);
	assert_int_equal(access(path.data, F_OK), 0);
	qinfo_free(&refused);
	spool_envelope_free(&env);
	buf_free(&path);
	buf_free(&err);
	buf_free(&big);
}

/*
 * Fault injection runs in a child (the fault table is per process and
 * read once). The child delivers to two local mailboxes that need no user
 * database (postmaster of both domains) plus one remote recipient, and
 * reports the reply; the parent checks that nothing was left anywhere.
 */
static void
fault_case(const char *fault, int want_code, const char *want_enh,
    bool remote)
{
	int pfd[2], status;
	struct smtp_reply r;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct deliver_ctx *c2;
		struct delivery *d;
		struct buf err = BUF_INIT;

		close(pfd[0]);
		setenv("DMAIL_FAULT", fault, 1);
		sys_fault_init();
		c2 = deliver_ctx_new(conf, NULL, &err);
		d = delivery_begin(c2, "a@remote.test", &info);
		delivery_add_rcpt(d, "postmaster@example.test");
		delivery_add_rcpt(d, "postmaster@other.test");
		if (remote)
			delivery_add_rcpt(d, "far@remote.test");
		for (int i = 0; i < 2000; i++)   /* > one write chunk */
			(void)delivery_write_line(d, "0123456789abcdef"
			    "0123456789abcdef", 32);
		memset(&r, 0, sizeof(r));
		(void)delivery_commit(d, &r);
		(void)!write(pfd[1], &r, sizeof(r));
		_exit(0);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(r.code, want_code);
	assert_string_equal(r.enhanced, want_enh);
	if (want_code != 250) {
		assert_int_equal(count_in("mail/example.test/postmaster/new"),
		    0);
		assert_int_equal(count_in("mail/other.test/postmaster/new"), 0);
		assert_int_equal(count_in("mail/example.test/postmaster/tmp"),
		    0);
		assert_int_equal(count_in("mail/other.test/postmaster/tmp"), 0);
		assert_int_equal(count_in("spool/queue"), 0);
		assert_int_equal(count_in("spool/tmp"), 0);
	}
}

static void
test_faults(void **state)
{
	(void)state;
	/* Control: without a fault the same delivery succeeds. */
	fault_case("write:0:EIO", 250, "2.0.0", true);
	assert_int_equal(count_in("mail/example.test/postmaster/new"), 1);
	assert_int_equal(count_in("mail/other.test/postmaster/new"), 1);
	assert_int_equal(count_in("spool/queue"), 1);
	teardown(NULL);
	assert_int_equal(setup(NULL), 0);

	fault_case("write:1:ENOSPC", 452, "4.3.1", false);
	fault_case("write:2:EIO", 451, "4.3.0", true);
	fault_case("fsync:1:ENOSPC", 452, "4.3.1", false);
	fault_case("fsync:2:EIO", 451, "4.3.0", false);      /* dir sync */
	fault_case("fsync:3:EIO", 451, "4.3.0", false);      /* 2nd dir */
	fault_case("link:2:ENOSPC", 452, "4.3.1", true);     /* 2nd mailbox */
	fault_case("fsync:4:ENOSPC", 452, "4.3.1", true);    /* queue file */
	fault_case("rename:1:ENOSPC", 452, "4.3.1", true);   /* into queue */
	fault_case("open:1:EDQUOT", 452, "4.3.1", false);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	/* Each test gets a fresh state_dir and database. */
	const struct CMUnitTest tests[] = {
		T(test_check_rcpt),
		T(test_quota),
		T(test_single_local_delivery),
		T(test_two_mailboxes_one_copy),
		T(test_remote_and_mixed_queue),
		T(test_abort_leaves_nothing),
		T(test_lookup_failure_after_rcpt),
		T(test_maildrop_pickup),
		T(test_maildrop_full_mailbox_defers),
		T(test_maildrop_too_big),
		T(test_quota_after_data),
		T(test_quota_partial_keeps_copy),
		T(test_quota_submit_keeps),
		T(test_maildrop_expired_bounces),
		T(test_plus_and_catchall),
		T(test_faults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
