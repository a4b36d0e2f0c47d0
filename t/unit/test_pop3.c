/*
 * test_pop3.c - cmocka tests of the POP3 worker's pieces: the command
 * parser, numbers, base64 and SASL PLAIN, UIDL generation, sizes (",W="
 * names and computed), the dot-stuffing output transformer (whole and
 * trickled one byte at a time, RETR and TOP), the state machine driven
 * through a pipe with a real user database and Maildir, RETR of whole
 * files, and the QUIT ordering (lock released before the reply).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pop3d.h"
#include "sasl.h"
#include "util.h"
#include "unit_tmpdir.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *line;
		int rc;
		enum pop3_verb verb;
		const char *arg;
	} cases[] = {
		{ "USER alice", 0, POP3_USER, "alice" },
		{ "user alice@example.test", 0, POP3_USER,
		    "alice@example.test" },
		{ "PASS with spaces  in it", 0, POP3_PASS,
		    "with spaces  in it" },
		{ "STAT", 0, POP3_STAT, NULL },
		{ "stat", 0, POP3_STAT, NULL },
		{ "LIST 1", 0, POP3_LIST, "1" },
		{ "TOP 1 10", 0, POP3_TOP, "1 10" },
		{ "Uidl", 0, POP3_UIDL, NULL },
		{ "CAPA", 0, POP3_CAPA, NULL },
		{ "STLS", 0, POP3_STLS, NULL },
		{ "AUTH PLAIN AGFAAGI=", 0, POP3_AUTH, "PLAIN AGFAAGI=" },
		{ "XTND", 0, POP3_UNKNOWN, NULL },
		{ "STATS", 0, POP3_UNKNOWN, NULL },
		{ "", -1, POP3_UNKNOWN, NULL },
		{ "LIST\x01", -1, POP3_UNKNOWN, NULL },
		{ "PASS a\rb", -1, POP3_UNKNOWN, NULL },
	};
	struct pop3_cmd c;
	char line[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), "%s", cases[i].line);
		assert_int_equal(pop3_parse(line, &c), cases[i].rc);
		if (cases[i].rc < 0)
			continue;
		assert_int_equal(c.verb, cases[i].verb);
		if (cases[i].arg == NULL)
			assert_null(c.arg);
		else
			assert_string_equal(c.arg, cases[i].arg);
	}
}

static void
test_numbers(void **state)
{
	long a, b;

	(void)state;
	assert_int_equal(pop3_number("1"), 1);
	assert_int_equal(pop3_number("0"), 0);
	assert_int_equal(pop3_number("0042"), 42);
	assert_int_equal(pop3_number("+1"), -1);
	assert_int_equal(pop3_number("-1"), -1);
	assert_int_equal(pop3_number(""), -1);
	assert_int_equal(pop3_number(NULL), -1);
	assert_int_equal(pop3_number("1 "), -1);
	assert_int_equal(pop3_number("1x"), -1);
	assert_int_equal(pop3_number("99999999999999999999"), -1);
	assert_int_equal(pop3_two_numbers("3 10", &a, &b), 0);
	assert_int_equal(a, 3);
	assert_int_equal(b, 10);
	assert_int_equal(pop3_two_numbers("3", &a, &b), -1);
	assert_int_equal(pop3_two_numbers("3 -1", &a, &b), -1);
	assert_int_equal(pop3_two_numbers("3 1 2", &a, &b), -1);
	assert_int_equal(pop3_two_numbers(NULL, &a, &b), -1);
}

static void
test_sasl(void **state)
{
	struct buf out = BUF_INIT;
	const char *z, *c, *p;

	(void)state;
	assert_int_equal(base64_decode("AGFsaWNlAHNlY3JldA==", 20, &out), 0);
	assert_int_equal(out.len, 13);
	assert_int_equal(sasl_plain_split(buf_cstr(&out), out.len, &z, &c, &p), 0);
	assert_string_equal(z, "");
	assert_string_equal(c, "alice");
	assert_string_equal(p, "secret");
	assert_int_equal(base64_decode("", 0, &out), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(sasl_plain_split(buf_cstr(&out), out.len, &z, &c, &p), -1);
	assert_int_equal(base64_decode("abc", 3, &out), -1);
	assert_int_equal(base64_decode("ab=c", 4, &out), -1);
	assert_int_equal(base64_decode("a===", 4, &out), -1);
	assert_int_equal(base64_decode("ab!d", 4, &out), -1);
	assert_int_equal(base64_decode("YQ==YQ==", 8, &out), -1);
	/* "a\0b" has no password part; "\0\0p" has an empty authcid. */
	assert_int_equal(base64_decode("YQBi", 4, &out), 0);
	assert_int_equal(sasl_plain_split(buf_cstr(&out), out.len, &z, &c, &p), -1);
	assert_int_equal(base64_decode("AABw", 4, &out), 0);
	assert_int_equal(sasl_plain_split(buf_cstr(&out), out.len, &z, &c, &p), -1);
	/* Extra NUL refused. */
	assert_int_equal(base64_decode("YQBiAGMAZA==", 12, &out), 0);
	assert_int_equal(sasl_plain_split(buf_cstr(&out), out.len, &z, &c, &p), -1);
	buf_free(&out);
}

static void
test_uidl(void **state)
{
	char a[71], b[71], c[71];
	char longname[200];

	(void)state;
	maildrop_uidl("1700000000.M1P2Q3.host,S=10,W=12", a);
	maildrop_uidl("1700000000.M1P2Q3.host,S=10,W=12:2,S", b);
	maildrop_uidl("1700000000.M1P2Q3.host,S=10,W=12:2,RS", c);
	assert_string_equal(a, "1700000000.M1P2Q3.host,S=10,W=12");
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	/* Too long or unprintable: a stable hex digest of the base name. */
	memset(longname, 'x', 100);
	snprintf(longname + 100, sizeof(longname) - 100, ":2,S");
	maildrop_uidl(longname, a);
	longname[100] = '\0';
	maildrop_uidl(longname, b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 64);
	maildrop_uidl("with space", c);
	assert_int_equal(strlen(c), 64);
	assert_string_not_equal(a, c);
	for (const char *p = c; *p != '\0'; p++)
		assert_true(*p > 0x20 && *p < 0x7f);
	/* A ",U=" field (import-mbox) is the UIDL, in new/ and cur/. */
	maildrop_uidl("1700000000.M1P2Q3.host,S=10,W=12,U=3f2a09", a);
	maildrop_uidl("1700000000.M1P2Q3.host,S=10,W=12,U=3f2a09:2,S", b);
	assert_string_equal(a, "3f2a09");
	assert_string_equal(b, "3f2a09");
}

static void
test_sizes(void **state)
{
	uint64_t sz;
	bool lf = true, cr = false;

	(void)state;
	assert_true(maildrop_name_size("1.M1.h,S=33,W=38", &sz));
	assert_true(sz == 38);
	assert_true(maildrop_name_size("1.M1.h,S=33,W=38:2,S", &sz));
	assert_true(sz == 38);
	assert_true(maildrop_name_size("1.M1.h,W=7,S=5", &sz));
	assert_true(sz == 7);
	assert_false(maildrop_name_size("1.M1.h,S=33", &sz));
	assert_false(maildrop_name_size("1.M1.h,W=", &sz));
	assert_false(maildrop_name_size("1.M1.h,W=12x", &sz));
	assert_false(maildrop_name_size("1.M1.hW=12", &sz));
	assert_false(maildrop_name_size("1.M1.h:2,W=12", &sz));
	assert_true(maildrop_wire_size("a\nb\n", 4, &lf, &cr) == 6);
	assert_true(lf);
	cr = false;
	assert_true(maildrop_wire_size("a\r\nb\n", 5, &lf, &cr) == 6);
	/* CR at the end of one chunk, LF at the start of the next. */
	cr = false;
	assert_true(maildrop_wire_size("a\r", 2, &lf, &cr) == 2);
	assert_true(cr);
	assert_true(maildrop_wire_size("\nb", 2, &lf, &cr) == 2);
	assert_false(lf);
}

/* Transform data in one go and byte by byte; both must agree. */
static void
transform(const char *data, size_t len, long lines, struct buf *out)
{
	struct msg_out o;
	struct buf one = BUF_INIT;

	buf_reset(out);
	msg_out_init(&o, lines);
	msg_out_chunk(&o, data, len, out);
	msg_out_finish(&o, out);
	msg_out_init(&o, lines);
	for (size_t i = 0; i < len; i++)
		msg_out_chunk(&o, data + i, 1, &one);
	msg_out_finish(&o, &one);
	assert_int_equal(one.len, out->len);
	assert_memory_equal(one.data, out->data, out->len);
	buf_free(&one);
}

/* Undo dot-stuffing of a RETR body (without the final ".\r\n"). */
static size_t
unstuffed_len(const struct buf *b)
{
	size_t n = 0;
	bool start = true;

	for (size_t i = 0; i + 3 <= b->len - 0 && i < b->len - 3; i++) {
		if (start && b->data[i] == '.') {
			start = false;
			continue;
		}
		start = b->data[i] == '\n';
		n++;
	}
	return n;
}

static void
test_output(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} retr[] = {
		{ "", ".\r\n" },
		{ "a\n", "a\r\n.\r\n" },
		{ "a", "a\r\n.\r\n" },
		{ ".\n", "..\r\n.\r\n" },
		{ "x\n.y\n..z\n", "x\r\n..y\r\n...z\r\n.\r\n" },
		{ "a\r\n.b\r\n", "a\r\n..b\r\n.\r\n" },
		{ "a\rb\n", "a\rb\r\n.\r\n" },
		{ "\xff\xfe\n", "\xff\xfe\r\n.\r\n" },
	};
	struct buf out = BUF_INIT;
	bool lf, cr;

	(void)state;
	for (size_t i = 0; i < sizeof(retr) / sizeof(retr[0]); i++) {
		size_t len = strlen(retr[i].in);
		uint64_t w;

		transform(retr[i].in, len, -1, &out);
		assert_string_equal(out.data, retr[i].out);
		/* The size STAT/LIST report equals what RETR sends before
		 * stuffing. */
		lf = true;
		cr = false;
		w = maildrop_wire_size(retr[i].in, len, &lf, &cr);
		if (len > 0 && !lf)
			w += 2;
		assert_true(w == unstuffed_len(&out));
	}
	/* TOP: headers, blank line, n body lines. */
	const char *m = "A: 1\nB: 2\n\n.l1\nl2\nl3\n";
	transform(m, strlen(m), 0, &out);
	assert_string_equal(out.data, "A: 1\r\nB: 2\r\n\r\n.\r\n");
	transform(m, strlen(m), 2, &out);
	assert_string_equal(out.data, "A: 1\r\nB: 2\r\n\r\n..l1\r\nl2\r\n.\r\n");
	transform(m, strlen(m), 10, &out);
	assert_string_equal(out.data,
	    "A: 1\r\nB: 2\r\n\r\n..l1\r\nl2\r\nl3\r\n.\r\n");
	m = "A: 1\r\n\r\nbody\r\n";
	transform(m, strlen(m), 0, &out);
	assert_string_equal(out.data, "A: 1\r\n\r\n.\r\n");
	m = "A: 1\nB: 2";          /* headers only, no final newline */
	transform(m, strlen(m), 0, &out);
	assert_string_equal(out.data, "A: 1\r\nB: 2\r\n.\r\n");
	buf_free(&out);
}

/* --- the state machine through a pipe ----------------------------------- */

static struct dmail_conf conf;
static char mailbox[256];

static int
setup(void **state)
{
	struct buf text = BUF_INIT, err = BUF_INIT, mb = BUF_INIT;
	struct user_record rec;
	struct userdb *db;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_pop3.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	buf_printf(&text, "hostname mx.example.test\n"
	    "local_domains example.test\n"
	    "state_dir %s/state\n"
	    "pop3_max_failed_logins 2\n"
	    "auth_throttle_failures 100\n", tmpdir);
	if (conf_load_text("test.conf", text.data, text.len, &conf, &err) < 0)
		fail_msg("conf: %s", buf_cstr(&err));
	db = userdb_open(&conf, USERDB_WRITE, &err);
	assert_non_null(db);
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.address, sizeof(rec.address), "alice@example.test");
	assert_int_equal(userdb_hash_password("sha512", "secret", rec.hash,
	    sizeof(rec.hash)), 0);
	userdb_default_mailbox(&conf, rec.address, &mb);
	snprintf(rec.mailbox, sizeof(rec.mailbox), "%s", mb.data);
	snprintf(mailbox, sizeof(mailbox), "%s", mb.data);
	rec.enabled = true;
	assert_int_equal(userdb_put(db, &rec, &err), 0);
	snprintf(rec.address, sizeof(rec.address), "off@example.test");
	rec.enabled = false;
	assert_int_equal(userdb_put(db, &rec, &err), 0);
	userdb_close(db);
	buf_free(&text);
	buf_free(&err);
	buf_free(&mb);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	conf_free(&conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
put_message(const char *sub, const char *name, const char *data)
{
	struct buf p = BUF_INIT;

	buf_printf(&p, "%s/%s", mailbox, sub);
	assert_int_equal(mkdir_p(p.data, 0700), 0);
	buf_printf(&p, "/%s", name);
	assert_int_equal(write_file_durable(p.data, data, strlen(data), 0600),
	    0);
	buf_free(&p);
}

static bool
message_exists(const char *sub, const char *name)
{
	struct buf p = BUF_INIT;
	bool ok;

	buf_printf(&p, "%s/%s/%s", mailbox, sub, name);
	ok = access(p.data, F_OK) == 0;
	buf_free(&p);
	return ok;
}

/* Run one session with script as client input; output into out. */
static void
run_session(const char *script, bool loopback, struct buf *out)
{
	struct pop3_server srv;
	struct worker_session sess;
	char opath[] = "/tmp/test_pop3_out.XXXXXX";
	int in[2], ofd;

	memset(&srv, 0, sizeof(srv));
	srv.hostname = "mx.example.test";
	assert_int_equal(pipe(in), 0);
	assert_true(write(in[1], script, strlen(script)) ==
	    (ssize_t)strlen(script));
	close(in[1]);
	ofd = mkstemp(opath);
	assert_true(ofd >= 0);
	memset(&sess, 0, sizeof(sess));
	sess.stream = stream_new(in[0], ofd);
	sess.role = ROLE_POP3;
	sess.peer_loopback = loopback;
	snprintf(sess.peer_ip, sizeof(sess.peer_ip), "%s",
	    loopback ? "127.0.0.1" : "192.0.2.7");
	snprintf(sess.id, sizeof(sess.id), "T1");
	pop3_session(&srv, &conf, &sess);
	stream_free(sess.stream);
	close(in[0]);
	close(ofd);
	userdb_close(srv.db);
	buf_reset(out);
	assert_int_equal(read_file(opath, out, 1 << 20), 0);
	unlink(opath);
}

/* The n-th reply line (0-based) of out starts with prefix. */
static void
assert_line(const struct buf *out, int n, const char *prefix)
{
	const char *p = out->data;

	for (int i = 0; i < n; i++) {
		p = strstr(p, "\r\n");
		assert_non_null(p);
		p += 2;
	}
	if (strncmp(p, prefix, strlen(prefix)) != 0)
		fail_msg("line %d: expected '%s', got '%.60s'\nfull:\n%s", n,
		    prefix, p, out->data);
}

static void
test_session_auth_state(void **state)
{
	struct buf out = BUF_INIT;

	(void)state;
	run_session("STAT\r\nPASS secret\r\nNOOP\r\nUSER alice\r\n"
	    "PASS wrong\r\nPASS secret\r\nUSER off\r\nPASS secret\r\n"
	    "USER alice\r\nPASS secret\r\n", true, &out);
	assert_line(&out, 0, "+OK DMail POP3 server ready <");
	assert_line(&out, 1, "-ERR");            /* STAT before login */
	assert_line(&out, 2, "-ERR");            /* PASS without USER */
	assert_line(&out, 3, "-ERR");            /* NOOP in AUTHORIZATION */
	assert_line(&out, 4, "+OK");             /* USER */
	assert_line(&out, 5, "-ERR [AUTH]");     /* wrong password */
	assert_line(&out, 6, "-ERR");            /* PASS must follow USER */
	assert_line(&out, 7, "+OK");
	assert_line(&out, 8, "-ERR [AUTH]");     /* disabled: 2nd failure */
	assert_line(&out, 9, "-ERR too many failed logins");
	assert_null(strstr(out.data, "maildrop has"));
	buf_free(&out);
}

static void
test_session_transaction(void **state)
{
	struct buf out = BUF_INIT;
	const char *m1 = "1700000001.M1P1.h,S=19,W=23";
	const char *m2 = "1700000002.M1P1.h";

	(void)state;
	put_message("new", m1, "Subject: a\n\n.dot\nx\n");
	put_message("cur", "1700000002.M1P1.h:2,S", "Subject: b\r\n\r\nbody\r\n");
	run_session("USER Alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nLIST 2\r\n"
	    "LIST 3\r\nUIDL 1\r\nRETR 1\r\nDELE 1\r\nDELE 1\r\nRETR 1\r\n"
	    "STAT\r\nRSET\r\nSTAT\r\nDELE 2\r\nUSER x\r\nLIST x\r\n"
	    "TOP 2 0\r\nNOOP\r\n", true, &out);
	assert_line(&out, 1, "+OK");
	assert_line(&out, 2, "+OK maildrop has 2 messages (43 octets)");
	assert_line(&out, 3, "+OK 2 43");
	assert_line(&out, 4, "+OK 2 messages (43 octets)");
	assert_line(&out, 5, "1 23");
	assert_line(&out, 6, "2 20");
	assert_line(&out, 7, ".");
	assert_line(&out, 8, "+OK 2 20");
	assert_line(&out, 9, "-ERR no such message");
	assert_line(&out, 10, "+OK 1 1700000001.M1P1.h,S=19,W=23");
	assert_line(&out, 11, "+OK 23 octets");
	assert_line(&out, 12, "Subject: a");
	assert_line(&out, 14, "..dot");
	assert_line(&out, 16, ".");
	assert_line(&out, 17, "+OK message 1 deleted");
	assert_line(&out, 18, "-ERR message is deleted");
	assert_line(&out, 19, "-ERR message is deleted");
	assert_line(&out, 20, "+OK 1 20");
	assert_line(&out, 21, "+OK maildrop has 2 messages");
	assert_line(&out, 22, "+OK 2 43");
	assert_line(&out, 23, "+OK message 2 deleted");
	assert_line(&out, 24, "-ERR");           /* USER after login */
	assert_line(&out, 25, "-ERR invalid message number");
	assert_line(&out, 26, "-ERR message is deleted");  /* TOP 2 0 */
	assert_line(&out, 27, "+OK");
	/* No QUIT: the dropped connection deletes nothing, moves nothing. */
	assert_true(message_exists("new", m1));
	assert_true(message_exists("cur", "1700000002.M1P1.h:2,S"));

	/* DELE + QUIT: gone; the retrieved message moves to cur/ and keeps
	 * its UIDL. */
	run_session("USER alice\r\nPASS secret\r\nRETR 1\r\nDELE 2\r\n"
	    "QUIT\r\n", true, &out);
	assert_non_null(strstr(out.data,
	    "+OK DMail POP3 server signing off (1 message deleted)\r\n"));
	assert_false(message_exists("cur", "1700000002.M1P1.h:2,S"));
	assert_false(message_exists("new", m1));
	assert_true(message_exists("cur",
	    "1700000001.M1P1.h,S=19,W=23:2,S"));
	run_session("USER alice\r\nPASS secret\r\nUIDL\r\nQUIT\r\n", true,
	    &out);
	assert_non_null(strstr(out.data,
	    "\r\n1 1700000001.M1P1.h,S=19,W=23\r\n.\r\n"));
	(void)m2;
	buf_free(&out);
}

/* The lock another open file description of fd's file would meet:
 * F_UNLCK when none. */
static short
ofd_lock_type(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	return fl.l_type;
}

/* The maildrop lock is an fcntl OFD write lock (carried by NFS to the
 * server, so other nodes see it), not an flock: another open of the lock
 * file meets it, in this process and in another; a flock on the file is
 * a different lock and would not be seen by another node over NFS. */
static void
test_lock_is_fcntl_ofd(void **state)
{
	struct maildrop md, md2;
	struct buf lockpath = BUF_INIT;
	struct stat st;
	int fd, status;
	pid_t pid;

	(void)state;
	assert_int_equal(maildrop_open(&md, mailbox), MAILDROP_OK);
	buf_printf(&lockpath, "%s/%s", mailbox, POP3_LOCK_FILE);
	fd = open(lockpath.data, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ofd_lock_type(fd), F_WRLCK);
	/* Not an flock: that one is still free. */
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(flock(fd, LOCK_UN), 0);
	/* A second session in this process and one in another process. */
	assert_int_equal(maildrop_open(&md2, mailbox), MAILDROP_IN_USE);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(maildrop_open(&md2, mailbox) == MAILDROP_IN_USE ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* LOGIN-DELAY still reads and sets the lock file's mtime. */
	assert_true(maildrop_since_last_login(&md) >= 0);
	maildrop_mark_login(&md);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(time(NULL) - st.st_mtime <= 2);
	assert_true(maildrop_since_last_login(&md) <= 2);
	maildrop_close(&md);
	assert_int_equal(ofd_lock_type(fd), F_UNLCK);
	assert_int_equal(maildrop_open(&md, mailbox), MAILDROP_OK);
	maildrop_close(&md);
	close(fd);
	buf_free(&lockpath);
}

static void
test_session_in_use(void **state)
{
	struct maildrop md;
	struct buf out = BUF_INIT;

	(void)state;
	assert_int_equal(maildrop_open(&md, mailbox), MAILDROP_OK);
	run_session("USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n", true,
	    &out);
	assert_line(&out, 2, "-ERR [IN-USE]");
	assert_line(&out, 3, "-ERR");            /* still AUTHORIZATION */
	maildrop_close(&md);
	run_session("USER alice\r\nPASS secret\r\nQUIT\r\n", true, &out);
	assert_line(&out, 2, "+OK maildrop has");
	/* A file where the Maildir should be: permanent failure. */
	struct buf p = BUF_INIT;
	buf_printf(&p, "%s/state/mail/example.test/blocked", tmpdir);
	assert_int_equal(write_file_durable(p.data, "x", 1, 0600), 0);
	assert_int_equal(maildrop_open(&md, p.data), MAILDROP_BROKEN);
	assert_int_equal(maildrop_open(&md, "relative/path"), MAILDROP_BROKEN);
	buf_free(&p);
	buf_free(&out);
}

/* RETR sends the whole file whatever the ",S=" size in its name says: a
 * short read that matches the name ends the copy early, a mismatch (name
 * edited by hand, or by another program) does not. */
static void
test_send_whole_file(void **state)
{
	struct maildrop md;
	struct buf dir = BUF_INIT, p = BUF_INIT, body = BUF_INIT;
	struct buf out = BUF_INIT, want = BUF_INIT;
	char opath[] = "/tmp/test_pop3_send.XXXXXX";
	const char *small = "Subject: s\n\nline one\nline two\n";
	int ofd;

	(void)state;
	buf_printf(&dir, "%s/state/mail/example.test/sendtest", tmpdir);
	buf_printf(&p, "%s/new", dir.data);
	assert_int_equal(mkdir_p(p.data, 0700), 0);
	/* 1: name says 5 octets, file has more. */
	buf_reset(&p);
	buf_printf(&p, "%s/new/1700000001.M1P1.h,S=5", dir.data);
	assert_int_equal(write_file_durable(p.data, small, strlen(small),
	    0600), 0);
	/* 2: 200,000 octets (several read chunks), exact size in the name. */
	buf_append(&body, "Subject: big\n\n", 15);
	while (body.len < 200000 - 10)
		buf_append(&body, "123456789\n", 10);
	buf_printf(&body, "%.*s", (int)(200000 - body.len - 1),
	    "xxxxxxxxxx");
	buf_append(&body, "\n", 1);
	assert_int_equal((int)body.len, 200000);
	buf_reset(&p);
	buf_printf(&p, "%s/new/1700000002.M1P1.h,S=200000", dir.data);
	assert_int_equal(write_file_durable(p.data, body.data, body.len,
	    0600), 0);

	assert_int_equal(maildrop_open(&md, dir.data), MAILDROP_OK);
	assert_int_equal((int)md.count, 2);
	ofd = mkstemp(opath);
	assert_true(ofd >= 0);
	struct stream *s = stream_new(ofd, ofd);
	assert_int_equal(maildrop_send(&md, 0, -1, s), 0);
	assert_int_equal(maildrop_send(&md, 1, -1, s), 0);
	assert_int_equal(stream_flush(s), STREAM_OK);
	stream_free(s);
	close(ofd);
	maildrop_close(&md);
	assert_int_equal(read_file(opath, &out, 1 << 20), 0);
	unlink(opath);

	buf_printf(&want, "+OK %d octets\r\nSubject: s\r\n\r\nline one\r\n"
	    "line two\r\n.\r\n", 34);
	assert_true(out.len > want.len);
	assert_memory_equal(out.data, want.data, want.len);
	/* The big one: every LF became CRLF, nothing cut. */
	const char *big = out.data + want.len;
	size_t lines = 0;
	for (size_t i = 0; i < body.len; i++)
		lines += body.data[i] == '\n';
	assert_true(strncmp(big, "+OK ", 4) == 0);
	big = strstr(big, "\r\n") + 2;
	assert_int_equal((int)(out.data + out.len - big),
	    (int)(body.len + lines + 3));
	assert_memory_equal(out.data + out.len - 12, "9\r\nxxxx\r\n.\r\n", 12);
	buf_free(&dir);
	buf_free(&p);
	buf_free(&body);
	buf_free(&out);
	buf_free(&want);
}

/* QUIT releases the maildrop lock before its +OK goes out, so a client
 * that logs in again the moment it reads the reply never gets [IN-USE].
 * The session runs in a child whose log (stderr) is a full pipe: it
 * blocks in its first log line after the reply, which is when the old
 * order still held the lock. */
static void
test_quit_unlocks_before_reply(void **state)
{
	int sv[2], logp[2], lockfd, status;
	struct buf reply = BUF_INIT, lockpath = BUF_INIT;
	char drain[4096];
	pid_t pid;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(logp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pop3_server srv;
		struct worker_session sess;

		close(sv[0]);
		close(logp[0]);
		dup2(logp[1], STDERR_FILENO);
		log_set_level(LOG_LEVEL_INFO);
		memset(&srv, 0, sizeof(srv));
			srv.hostname = "mx.example.test";
		memset(&sess, 0, sizeof(sess));
		sess.stream = stream_new(sv[1], sv[1]);
		sess.role = ROLE_POP3;
		sess.peer_loopback = true;
		snprintf(sess.peer_ip, sizeof(sess.peer_ip), "127.0.0.1");
		snprintf(sess.id, sizeof(sess.id), "T2");
		pop3_session(&srv, &conf, &sess);
		_exit(0);
	}
	close(sv[1]);
	fcntl(logp[0], F_SETFL, O_NONBLOCK);
	assert_true(write(sv[0], "USER alice\r\nPASS secret\r\n", 25) == 25);
	/* Greeting, +OK for USER, +OK maildrop has ... */
	while (strstr(reply.data != NULL ? reply.data : "", "maildrop has") ==
	    NULL) {
		ssize_t n = read(sv[0], drain, sizeof(drain));
		assert_true(n > 0);
		buf_append(&reply, drain, (size_t)n);
	}
	/* The child waits for a command: empty its log pipe, then fill it
	 * to the brim with one write of exactly its capacity. */
	while (read(logp[0], drain, sizeof(drain)) > 0)
		;
	int cap = fcntl(logp[1], F_GETPIPE_SZ);
	assert_true(cap > 0);
	char *fill = xcalloc(1, (size_t)cap);
	assert_true(write(logp[1], fill, (size_t)cap) == cap);
	free(fill);

	buf_reset(&reply);
	assert_true(write(sv[0], "QUIT\r\n", 6) == 6);
	while (strstr(reply.data != NULL ? reply.data : "", "\r\n") == NULL) {
		ssize_t n = read(sv[0], drain, sizeof(drain));
		assert_true(n > 0);
		buf_append(&reply, drain, (size_t)n);
	}
	assert_non_null(strstr(reply.data, "+OK DMail POP3 server signing off"));
	/* The child is now stuck writing its log: the lock must be free. */
	buf_printf(&lockpath, "%s/%s", mailbox, POP3_LOCK_FILE);
	lockfd = open(lockpath.data, O_RDWR | O_CLOEXEC);
	assert_true(lockfd >= 0);
	assert_int_equal(ofd_lock_type(lockfd), F_UNLCK);
	close(lockfd);

	/* Let the child finish. */
	for (;;) {
		ssize_t n = read(logp[0], drain, sizeof(drain));
		if (n < 0 && errno == EAGAIN) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
			usleep(1000);
		}
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(logp[0]);
	close(logp[1]);
	close(sv[0]);
	buf_free(&reply);
	buf_free(&lockpath);
}

static void
test_size_cache(void **state)
{
	struct maildrop md;
	struct buf p = BUF_INIT, text = BUF_INIT;

	(void)state;
	put_message("new", "1800000000.M1P1.nosize", "a\nb\n");
	assert_int_equal(maildrop_open(&md, mailbox), MAILDROP_OK);
	for (size_t i = 0; i < md.count; i++)
		if (strstr(md.msgs[i].name, "nosize") != NULL)
			assert_true(md.msgs[i].size == 6);
	maildrop_close(&md);
	buf_printf(&p, "%s/%s", mailbox, POP3_SIZE_CACHE);
	assert_int_equal(read_file(p.data, &text, 1 << 20), 0);
	assert_non_null(strstr(text.data, "6 1800000000.M1P1.nosize\n"));
	/* The cache is what is used next time (no file read). */
	buf_set(&text, "999 1800000000.M1P1.nosize\n");
	assert_int_equal(write_file_durable(p.data, text.data, text.len, 0600),
	    0);
	assert_int_equal(maildrop_open(&md, mailbox), MAILDROP_OK);
	bool seen = false;
	for (size_t i = 0; i < md.count; i++)
		if (strstr(md.msgs[i].name, "nosize") != NULL) {
			assert_true(md.msgs[i].size == 999);
			md.msgs[i].deleted = true;
			seen = true;
		}
	assert_true(seen);
	unsigned deleted;
	assert_int_equal(maildrop_update(&md, &deleted), 0);
	assert_int_equal(deleted, 1);
	maildrop_close(&md);
	/* The same base name in new/ and cur/: UIDLs stay unique. */
	put_message("new", "1900000000.M1P1.dup,S=2,W=3", "a\n");
	put_message("cur", "1900000000.M1P1.dup,S=2,W=3:2,S", "a\n");
	assert_int_equal(maildrop_open(&md, mailbox), MAILDROP_OK);
	for (size_t i = 0; i < md.count; i++)
		for (size_t j = i + 1; j < md.count; j++)
			assert_string_not_equal(md.msgs[i].uidl,
			    md.msgs[j].uidl);
	for (size_t i = 0; i < md.count; i++)
		if (strstr(md.msgs[i].name, ".dup,") != NULL)
			md.msgs[i].deleted = true;
	assert_int_equal(maildrop_update(&md, &deleted), 0);
	assert_int_equal(deleted, 2);
	maildrop_close(&md);
	/* Entries of deleted files are dropped at the next rewrite. */
	assert_int_equal(maildrop_open(&md, mailbox), MAILDROP_OK);
	maildrop_close(&md);
	assert_int_equal(read_file(p.data, &text, 1 << 20), 0);
	assert_null(strstr(text.data, "nosize"));
	buf_free(&p);
	buf_free(&text);
}

static void
test_session_sasl_capa(void **state)
{
	struct buf out = BUF_INIT;

	(void)state;
	/* AUTH PLAIN with initial response, and with a continuation. */
	run_session("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nQUIT\r\n", true,
	    &out);
	assert_line(&out, 1, "+OK maildrop has");
	run_session("AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nQUIT\r\n", true,
	    &out);
	assert_line(&out, 1, "+ ");
	assert_line(&out, 2, "+OK maildrop has");
	run_session("AUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!\r\n"
	    "CAPA\r\n", true, &out);
	assert_line(&out, 2, "-ERR authentication cancelled");
	assert_line(&out, 3, "-ERR unsupported");
	assert_line(&out, 4, "-ERR malformed");
	assert_line(&out, 5, "+OK capability list follows");
	assert_non_null(strstr(out.data, "\r\nUSER\r\n"));
	assert_non_null(strstr(out.data, "\r\nSASL PLAIN\r\n"));
	assert_non_null(strstr(out.data, "\r\nRESP-CODES\r\n"));
	assert_non_null(strstr(out.data, "\r\nPIPELINING\r\n"));
	assert_non_null(strstr(out.data, "\r\nEXPIRE NEVER\r\n"));
	assert_null(strstr(out.data, "STLS"));   /* no tls_cert */
	/* Not loopback, not TLS: plain-text logins refused and hidden. */
	run_session("CAPA\r\nUSER alice\r\nAUTH PLAIN "
	    "AGFsaWNlAHNlY3JldA==\r\n", false, &out);
	assert_null(strstr(out.data, "\r\nUSER\r\n"));
	assert_null(strstr(out.data, "SASL"));
	assert_non_null(strstr(out.data, "-ERR [AUTH] plaintext"));
	assert_null(strstr(out.data, "maildrop has"));
	/* Long lines and garbage are protocol errors, not the end. */
	char big[600];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct buf script = BUF_INIT;
	buf_printf(&script, "NOOP %s\r\n\x01\r\nUSER alice\r\nPASS secret\r\n"
	    "STAT\r\n", big);
	run_session(script.data, true, &out);
	assert_line(&out, 1, "-ERR line too long");
	assert_line(&out, 2, "-ERR invalid command");
	assert_line(&out, 4, "+OK maildrop has");
	buf_free(&script);
	buf_free(&out);
}

/* The n-th line (0-based) of out is exactly want (CRLF added). */
static void
assert_line_is(const struct buf *out, int n, const char *want)
{
	const char *p = out->data, *end;

	for (int i = 0; i < n; i++) {
		p = strstr(p, "\r\n");
		assert_non_null(p);
		p += 2;
	}
	end = strstr(p, "\r\n");
	assert_non_null(end);
	if ((size_t)(end - p) != strlen(want) ||
	    strncmp(p, want, strlen(want)) != 0)
		fail_msg("line %d: expected '%s', got '%.*s'", n, want,
		    (int)(end - p), p);
}

/* The command table's refusals, one row per verb and state it is not
 * valid in (CAPA and QUIT are valid in both), then the argument rule of
 * each verb that takes none, and an unknown verb. Each command is the
 * only one after the greeting (and the login, in TRANSACTION), so its
 * reply is a fixed line. */
static void
test_session_wrong_state(void **state)
{
	static const struct {
		bool logged_in;
		const char *cmd;
		const char *reply;
	} cases[] = {
		{ false, "STAT", "-ERR command not valid before login" },
		{ false, "LIST", "-ERR command not valid before login" },
		{ false, "LIST 1", "-ERR command not valid before login" },
		{ false, "UIDL", "-ERR command not valid before login" },
		{ false, "RETR 1", "-ERR command not valid before login" },
		{ false, "TOP 1 1", "-ERR command not valid before login" },
		{ false, "DELE 1", "-ERR command not valid before login" },
		{ false, "RSET", "-ERR command not valid before login" },
		{ false, "NOOP", "-ERR command not valid before login" },
		{ false, "stat x", "-ERR command not valid before login" },
		{ true, "USER alice", "-ERR command not valid after login" },
		{ true, "PASS secret", "-ERR command not valid after login" },
		{ true, "APOP alice 0123456789abcdef0123456789abcdef",
		  "-ERR command not valid after login" },
		{ true, "AUTH PLAIN", "-ERR command not valid after login" },
		{ true, "STLS", "-ERR command not valid after login" },
		{ true, "STLS x", "-ERR command not valid after login" },
		/* the argument rule, in a state where the verb is valid */
		{ false, "CAPA x", "-ERR CAPA takes no argument" },
		{ true, "CAPA x", "-ERR CAPA takes no argument" },
		{ false, "QUIT x", "-ERR QUIT takes no argument" },
		{ true, "quit x", "-ERR QUIT takes no argument" },
		{ false, "STLS x", "-ERR STLS takes no argument" },
		{ true, "STAT x", "-ERR STAT takes no argument" },
		{ true, "RSET 1", "-ERR RSET takes no argument" },
		{ true, "Noop ", "-ERR NOOP takes no argument" },
		/* no such verb, in both states */
		{ false, "XTND XMIT", "-ERR unknown command" },
		{ true, "LAST", "-ERR unknown command" },
		/* the handler's own argument checks come after the table's */
		{ false, "USER", "-ERR USER needs a name" },
		{ true, "RETR", "-ERR invalid message number" },
		{ true, "TOP 1", "-ERR usage: TOP msg n" },
	};
	struct buf out = BUF_INIT, script = BUF_INIT;

	(void)state;
	put_message("cur", "1700000009.M1P1.h:2,S", "Subject: s\n\nx\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&script);
		if (cases[i].logged_in)
			buf_append_str(&script, "USER alice\r\nPASS secret\r\n");
		buf_printf(&script, "%s\r\n", cases[i].cmd);
		run_session(script.data, true, &out);
		if (cases[i].logged_in)
			assert_line(&out, 2, "+OK maildrop has");
		assert_line_is(&out, cases[i].logged_in ? 3 : 1,
		    cases[i].reply);
	}
	buf_free(&script);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_sasl),
		cmocka_unit_test(test_uidl),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_output),
	};
	const struct CMUnitTest session[] = {
		cmocka_unit_test(test_session_auth_state),
		cmocka_unit_test(test_session_transaction),
		cmocka_unit_test(test_session_in_use),
		cmocka_unit_test(test_lock_is_fcntl_ofd),
		cmocka_unit_test(test_size_cache),
		cmocka_unit_test(test_send_whole_file),
		cmocka_unit_test(test_quit_unlocks_before_reply),
		cmocka_unit_test(test_session_sasl_capa),
		cmocka_unit_test(test_session_wrong_state),
	};
	int r;

	log_open("test_pop3", LOG_TO_STDERR, LOG_LEVEL_WARN);
	r = cmocka_run_group_tests(pure, NULL, NULL);
	r |= cmocka_run_group_tests(session, setup, teardown);
	return r;
}
