/*
 * pop3_session.c - one POP3 session: the RFC 1939 state machine with the
 * RFC 2449 (CAPA, response codes), RFC 2595 (STLS), RFC 5034 (AUTH PLAIN)
 * and RFC 3206 (SYS, AUTH codes) extensions.
 *
 * States: AUTHORIZATION until a login succeeds and the maildrop is locked,
 * then TRANSACTION; QUIT in TRANSACTION enters UPDATE (maildrop.c) and
 * ends the session. A connection that ends any other way (drop, timeout,
 * too many errors) changes nothing in the maildrop.
 *
 * Commands are dispatched from one table, as smtp_session.c's: verb,
 * the states it is valid in, its argument rule, its handler. A verb in
 * the wrong state gets "-ERR command not valid before login" (or "after
 * login"), an argument to a verb that takes none "-ERR VERB takes no
 * argument", an unknown verb "-ERR unknown command"; each counts as a
 * protocol error (POP3_MAX_ERRORS).
 *
 * Greeting: always carries an RFC 1939 APOP timestamp <...@hostname>,
 * because it is sent before the user is known. APOP succeeds only for
 * accounts that have an APOP secret; for others it fails like a wrong
 * password.
 *
 * Plain-text logins (USER/PASS, AUTH PLAIN) are refused, and not
 * advertised in CAPA, on a connection that is neither TLS nor from
 * loopback unless pop3_plaintext_auth is set.
 *
 * Failed logins: each one is counted per connection (the connection is
 * closed after pop3_max_failed_logins) and, shared with SMTP AUTH, per
 * client address and per account in the per-client table
 * (common/clienttab.h). While the address or the account is over its
 * threshold, USER/PASS, APOP and AUTH are refused at once, without
 * checking the password, with "-ERR [SYS/TEMP]": RFC 3206 says the
 * failure is temporary and the user need not be told, where [AUTH]
 * would make the client ask for a new password that was never checked.
 * After CLIENTTAB_REFUSED_CLOSE refusals the connection is closed.
 *
 * The session ends with one log line: sid, client, user, tls, retrieved,
 * deleted, bytes sent, and how it ended.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "pop3d.h"
#include "sasl.h"
#include "scoreboard.h"
#include "util.h"

enum pop3_state { ST_AUTHORIZATION, ST_TRANSACTION };

struct pop3 {
	struct pop3_server *srv;
	const struct dmail_conf *conf;
	struct worker_session *ws;
	struct stream *s;
	enum pop3_state state;
	char timestamp[160];
	char user[USERDB_ADDRESS_MAX + 1];   /* after USER */
	bool have_user;                      /* USER just succeeded */
	char account[USERDB_ADDRESS_MAX + 1];
	struct maildrop md;
	unsigned failed_logins;
	unsigned refused_logins;             /* refused by the penalty */
	unsigned errors;
	unsigned retrieved;
	unsigned deleted;
	bool done;
	const char *end;                     /* reason for the log line */
};

static void
reply_ok(struct pop3 *p, const char *text)
{
	stream_printf(p->s, "+OK %s\r\n", text);
}

static void
reply_err(struct pop3 *p, const char *text)
{
	stream_printf(p->s, "-ERR %s\r\n", text);
}

/* A protocol error: counted, and the session ends after too many. */
static void
protocol_error(struct pop3 *p, const char *text)
{
	reply_err(p, text);
	if (++p->errors >= POP3_MAX_ERRORS) {
		reply_err(p, "too many errors, closing connection");
		p->done = true;
		p->end = "errors";
	}
}

static bool
plaintext_allowed(const struct pop3 *p)
{
	return stream_is_tls(p->s) || p->ws->peer_loopback ||
	    p->conf->pop3_plaintext_auth;
}

/* Message number argument: index into md.msgs, or -1 after replying. */
static long
message_arg(struct pop3 *p, const char *arg, bool allow_deleted)
{
	long n = pop3_number(arg);

	if (n < 0) {
		protocol_error(p, "invalid message number");
		return -1;
	}
	if (n < 1 || (size_t)n > p->md.count) {
		reply_err(p, "no such message");
		return -1;
	}
	if (!allow_deleted && p->md.msgs[n - 1].deleted) {
		reply_err(p, "message is deleted");
		return -1;
	}
	return n - 1;
}

static void
live_totals(const struct pop3 *p, size_t *count, uint64_t *octets)
{
	*count = 0;
	*octets = 0;
	for (size_t i = 0; i < p->md.count; i++)
		if (!p->md.msgs[i].deleted) {
			(*count)++;
			*octets += p->md.msgs[i].size;
		}
}

/* --- AUTHORIZATION ------------------------------------------------------ */

/* Constant-time comparison of two strings of the same expected length. */
static bool
equal_ct(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned char d = n != m;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)(i < m ? b[i] : 0);
	return d == 0;
}

/* APOP digest: MD5 of timestamp + secret as 32 lower-case hex digits. */
static void
apop_digest(const char *timestamp, const char *secret,
    char out[APOP_DIGEST_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	struct buf in = BUF_INIT;

	buf_printf(&in, "%s%s", timestamp, secret);
	if (EVP_Digest(in.data, in.len, md, &mdlen, EVP_md5(), NULL) != 1 ||
	    mdlen != APOP_DIGEST_LEN / 2)
		mdlen = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	buf_free(&in);
}

/* The shared penalty before a login is checked: true to go on (the
 * attempt in *a, for login_failed() or clienttab_auth_success()), false
 * after refusing it unchecked. account:
 * the normalised login address, NULL when the name is invalid. */
static bool
attempt_begin(struct pop3 *p, const char *account,
    struct clienttab_attempt *a)
{
	enum clienttab_block b;
	unsigned retry;

	b = clienttab_login_begin(p->ws->clients, p->conf,
	    p->ws->peer_len > 0 ? (const struct sockaddr *)&p->ws->peer : NULL,
	    account, a, &retry);
	if (b == CLIENTTAB_OK)
		return true;
	scoreboard_count(SBC_LOGIN_FAILED);
	log_info("action=auth sid=%s client=%s user=%s status=refused "
	    "reason=%s retry=%u", p->ws->id, p->ws->peer_ip,
	    account != NULL ? account : "-", b == CLIENTTAB_BLOCKED_IP ?
	    "client-failures" : "account-failures", retry);
	reply_err(p, b == CLIENTTAB_BLOCKED_IP ? "[SYS/TEMP] too many failed "
	    "logins from your address, try again later" : "[SYS/TEMP] too "
	    "many failed logins for this account, try again later");
	if (++p->refused_logins >= CLIENTTAB_REFUSED_CLOSE) {
		reply_err(p, "[SYS/TEMP] too many refused logins, closing "
		    "connection");
		p->done = true;
		p->end = "refused-logins";
	}
	return false;
}

/* A login that was checked and failed: count it in the shared table,
 * reply, maybe end the session. */
static void
login_failed(struct pop3 *p, const struct clienttab_attempt *att,
    const char *who, const char *why, const char *text)
{
	clienttab_auth_failure(p->ws->clients, att);
	scoreboard_count(SBC_LOGIN_FAILED);
	log_info("action=auth sid=%s client=%s user=\"%s\" status=failed "
	    "reason=\"%s\"", p->ws->id, p->ws->peer_ip, who, why);
	reply_err(p, text);
	if (++p->failed_logins >= p->conf->pop3_max_failed_logins) {
		reply_err(p, "too many failed logins, closing connection");
		p->done = true;
		p->end = "failed-logins";
	}
}

/* Check credentials (password, or APOP digest when apop) and open the
 * maildrop. Replies in every case. */
static void
login(struct pop3 *p, const char *name, const char *secret, bool apop)
{
	char address[USERDB_ADDRESS_MAX + 1];
	struct user_record *rec;
	struct buf mailbox = BUF_INIT;
	struct clienttab_attempt att;
	bool ok = false, named;
	int r;

	named = userdb_login_address(p->conf, name, address,
	    sizeof(address)) == 0;
	if (!attempt_begin(p, named ? address : NULL, &att))
		return;
	if (!named) {
		login_failed(p, &att, "-", "bad-name",
		    "[AUTH] invalid user name or password");
		return;
	}
	if (p->srv->db == NULL) {
		struct buf err = BUF_INIT;

		p->srv->db = userdb_open(p->conf, USERDB_READ, &err);
		if (p->srv->db == NULL) {
			log_error("action=auth sid=%s status=tempfail "
			    "reason=\"%s\"", p->ws->id, buf_cstr(&err));
			buf_free(&err);
			reply_err(p, "[SYS/TEMP] authentication service "
			    "unavailable, try again later");
			return;
		}
		buf_free(&err);
	}
	rec = xmalloc(sizeof(*rec));
	r = userdb_lookup(p->srv->db, address, rec);
	if (r < 0) {
		free(rec);
		reply_err(p, "[SYS/TEMP] authentication service unavailable, "
		    "try again later");
		return;
	}
	if (r == 0) {
		/* Spend the time a real check would take. */
		char h[256];

		if (!apop)
			userdb_hash_password(p->conf->password_scheme, secret,
			    h, sizeof(h));
	} else if (apop) {
		char want[APOP_DIGEST_LEN + 1];

		if (rec->apop_secret[0] != '\0') {
			apop_digest(p->timestamp, rec->apop_secret, want);
			ok = want[0] != '\0' && equal_ct(want, secret);
		}
	} else
		ok = userdb_check_password(rec, secret);
	if (!ok) {
		free(rec);
		login_failed(p, &att, address, r == 0 ? "unknown" :
		    "password", "[AUTH] invalid user name or password");
		return;
	}
	if (!rec->enabled) {
		free(rec);
		login_failed(p, &att, address, "disabled",
		    "[AUTH] account disabled");
		return;
	}
	clienttab_auth_success(p->ws->clients, &att);
	if (rec->mailbox[0] != '\0')
		buf_set(&mailbox, rec->mailbox);
	else
		userdb_default_mailbox(p->conf, address, &mailbox);
	free(rec);
	switch (maildrop_open(&p->md, mailbox.data)) {
	case MAILDROP_OK:
		break;
	case MAILDROP_IN_USE:
		log_info("action=auth sid=%s client=%s user=%s status=in-use",
		    p->ws->id, p->ws->peer_ip, address);
		reply_err(p, "[IN-USE] maildrop already locked by another "
		    "session");
		buf_free(&mailbox);
		return;
	case MAILDROP_BROKEN:
		reply_err(p, "[SYS/PERM] maildrop is unusable, contact the "
		    "administrator");
		buf_free(&mailbox);
		return;
	default:
		reply_err(p, "[SYS/TEMP] cannot open maildrop, try again later");
		buf_free(&mailbox);
		return;
	}
	buf_free(&mailbox);
	if (p->conf->pop3_login_delay > 0 &&
	    maildrop_since_last_login(&p->md) < (long)p->conf->pop3_login_delay)
	{
		char text[128];

		maildrop_close(&p->md);
		snprintf(text, sizeof(text), "[LOGIN-DELAY] minimum time "
		    "between logins is %u seconds", p->conf->pop3_login_delay);
		reply_err(p, text);
		return;
	}
	maildrop_mark_login(&p->md);
	snprintf(p->account, sizeof(p->account), "%s", address);
	p->state = ST_TRANSACTION;
	scoreboard_count(SBC_LOGIN_OK);
	log_info("action=auth sid=%s client=%s user=%s mech=%s status=ok "
	    "messages=%zu size=%llu", p->ws->id, p->ws->peer_ip, address,
	    apop ? "APOP" : "USER", p->md.count,
	    (unsigned long long)p->md.total);
	stream_printf(p->s, "+OK maildrop has %zu message%s (%llu octets)\r\n",
	    p->md.count, p->md.count == 1 ? "" : "s",
	    (unsigned long long)p->md.total);
}

static void
cmd_user(struct pop3 *p, const struct pop3_cmd *c)
{
	if (c->arg == NULL || c->arg[0] == '\0') {
		protocol_error(p, "USER needs a name");
		return;
	}
	if (!plaintext_allowed(p)) {
		reply_err(p, "[AUTH] plaintext authentication disallowed on "
		    "non-secure connections, use STLS");
		return;
	}
	if (strlen(c->arg) > USERDB_ADDRESS_MAX) {
		reply_err(p, "[AUTH] user name too long");
		return;
	}
	snprintf(p->user, sizeof(p->user), "%s", c->arg);
	p->have_user = true;
	reply_ok(p, "send PASS");
}

static void
cmd_pass(struct pop3 *p, const struct pop3_cmd *c)
{
	if (!p->have_user) {
		protocol_error(p, "USER first");
		return;
	}
	p->have_user = false;
	if (c->arg == NULL) {
		protocol_error(p, "PASS needs a password");
		return;
	}
	login(p, p->user, c->arg, false);
}

static void
cmd_apop(struct pop3 *p, const struct pop3_cmd *c)
{
	char *sp;

	if (c->arg == NULL || (sp = strrchr(c->arg, ' ')) == NULL ||
	    sp == c->arg || strlen(sp + 1) != APOP_DIGEST_LEN) {
		protocol_error(p, "usage: APOP name digest");
		return;
	}
	*sp = '\0';
	for (char *d = sp + 1; *d != '\0'; d++)
		if (*d >= 'A' && *d <= 'F')
			*d += 'a' - 'A';
	login(p, c->arg, sp + 1, true);
}

static void
cmd_auth(struct pop3 *p, const struct pop3_cmd *c)
{
	struct buf line = BUF_INIT, msg = BUF_INIT;
	const char *authzid, *authcid, *passwd, *resp;
	char *mech = c->arg, *ir = NULL, *sp;
	char a1[USERDB_ADDRESS_MAX + 1], a2[USERDB_ADDRESS_MAX + 1];
	enum line_ending end;

	if (mech == NULL) {
		/* Non-standard but common: list the mechanisms. */
		stream_puts(p->s, "+OK\r\n");
		if (plaintext_allowed(p))
			stream_puts(p->s, "PLAIN\r\n");
		stream_puts(p->s, ".\r\n");
		return;
	}
	if ((sp = strchr(mech, ' ')) != NULL) {
		*sp = '\0';
		ir = sp + 1;
	}
	if (strcasecmp(mech, "PLAIN") != 0) {
		reply_err(p, "unsupported authentication mechanism");
		return;
	}
	if (!plaintext_allowed(p)) {
		reply_err(p, "[AUTH] plaintext authentication disallowed on "
		    "non-secure connections, use STLS");
		return;
	}
	if (ir != NULL)
		resp = strcmp(ir, "=") == 0 ? "" : ir;
	else {
		stream_puts(p->s, "+ \r\n");
		int r = stream_read_line(p->s, &line, POP3_LINE_MAX, &end);
		if (r == STREAM_TOOLONG) {
			protocol_error(p, "line too long");
			goto out;
		}
		if (r != STREAM_OK) {
			p->done = true;
			p->end = r == STREAM_TIMEOUT ? "timeout" : "dropped";
			goto out;
		}
		if (strcmp(line.data, "*") == 0) {
			reply_err(p, "authentication cancelled");
			goto out;
		}
		resp = line.data;
	}
	if (base64_decode(resp, strlen(resp), &msg) < 0 ||
	    sasl_plain_split(buf_cstr(&msg), msg.len, &authzid, &authcid,
	    &passwd) < 0) {
		protocol_error(p, "malformed AUTH PLAIN response");
		goto out;
	}
	if (authzid[0] != '\0') {
		bool named = userdb_login_address(p->conf, authcid, a2,
		    sizeof(a2)) == 0;
		struct clienttab_attempt att;

		if (!named || userdb_login_address(p->conf, authzid, a1,
		    sizeof(a1)) < 0 || strcmp(a1, a2) != 0) {
			if (attempt_begin(p, named ? a2 : NULL, &att))
				login_failed(p, &att, authcid, "authzid",
				    "[AUTH] authorization identity not "
				    "allowed");
			goto out;
		}
	}
	login(p, authcid, passwd, false);
out:
	if (msg.data != NULL)
		explicit_bzero(msg.data, msg.len);
	if (line.data != NULL)
		explicit_bzero(line.data, line.len);
	buf_free(&msg);
	buf_free(&line);
}

static void
cmd_stls(struct pop3 *p, const struct pop3_cmd *c)
{
	(void)c;
	if (p->srv->tls == NULL) {
		reply_err(p, "TLS not available");
		return;
	}
	if (stream_is_tls(p->s)) {
		reply_err(p, "TLS already active");
		return;
	}
	reply_ok(p, "begin TLS negotiation");
	if (stream_flush(p->s) != STREAM_OK) {
		p->done = true;
		p->end = "dropped";
		return;
	}
	/* RFC 2595 section 4 / RFC 3207: anything sent after STLS and
	 * before the handshake is discarded. */
	stream_discard_buffered(p->s);
	if (stream_tls_accept(p->s, p->srv->tls) != STREAM_OK) {
		log_info("action=tls-failed sid=%s client=%s",
		    p->ws->id, p->ws->peer_ip);
		p->done = true;
		p->end = "tls-failed";
		return;
	}
	scoreboard_count(SBC_TLS);
	p->have_user = false;
	p->user[0] = '\0';
}

static void
cmd_capa(struct pop3 *p, const struct pop3_cmd *c)
{
	bool auth = p->state == ST_AUTHORIZATION;

	(void)c;
	stream_puts(p->s, "+OK capability list follows\r\n");
	stream_puts(p->s, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
	    "PIPELINING\r\nEXPIRE NEVER\r\n");
	if (p->conf->pop3_login_delay > 0)
		stream_printf(p->s, "LOGIN-DELAY %u\r\n",
		    p->conf->pop3_login_delay);
	if (auth && plaintext_allowed(p))
		stream_puts(p->s, "USER\r\nSASL PLAIN\r\n");
	if (auth && p->srv->tls != NULL && !stream_is_tls(p->s))
		stream_puts(p->s, "STLS\r\n");
	stream_puts(p->s, "IMPLEMENTATION DMail\r\n.\r\n");
}

/* --- TRANSACTION -------------------------------------------------------- */

static void
cmd_stat(struct pop3 *p, const struct pop3_cmd *c)
{
	size_t n;
	uint64_t octets;

	(void)c;
	live_totals(p, &n, &octets);
	stream_printf(p->s, "+OK %zu %llu\r\n", n, (unsigned long long)octets);
}

/* LIST (sizes) and UIDL (unique ids): one message, or all live ones. */
static void
list_or_uidl(struct pop3 *p, const struct pop3_cmd *c, bool uidl)
{
	size_t n;
	uint64_t octets;
	long i;

	if (c->arg != NULL) {
		if ((i = message_arg(p, c->arg, false)) < 0)
			return;
		if (uidl)
			stream_printf(p->s, "+OK %ld %s\r\n", i + 1,
			    p->md.msgs[i].uidl);
		else
			stream_printf(p->s, "+OK %ld %llu\r\n", i + 1,
			    (unsigned long long)p->md.msgs[i].size);
		return;
	}
	live_totals(p, &n, &octets);
	if (uidl)
		stream_puts(p->s, "+OK unique-id listing follows\r\n");
	else
		stream_printf(p->s, "+OK %zu messages (%llu octets)\r\n", n,
		    (unsigned long long)octets);
	for (size_t k = 0; k < p->md.count; k++) {
		const struct message *m = &p->md.msgs[k];

		if (m->deleted)
			continue;
		if (uidl)
			stream_printf(p->s, "%zu %s\r\n", k + 1, m->uidl);
		else
			stream_printf(p->s, "%zu %llu\r\n", k + 1,
			    (unsigned long long)m->size);
	}
	stream_puts(p->s, ".\r\n");
}

static void
cmd_list(struct pop3 *p, const struct pop3_cmd *c)
{
	list_or_uidl(p, c, false);
}

static void
cmd_uidl(struct pop3 *p, const struct pop3_cmd *c)
{
	list_or_uidl(p, c, true);
}

static void
send_message(struct pop3 *p, long i, long lines)
{
	switch (maildrop_send(&p->md, i, lines, p->s)) {
	case 0:
		if (lines < 0) {
			p->md.msgs[i].retrieved = true;
			p->retrieved++;
		}
		break;
	case 1:
		reply_err(p, "[SYS/TEMP] message vanished from the maildrop");
		break;
	case -1:
		reply_err(p, "[SYS/TEMP] cannot read message");
		break;
	default:
		/* The reply is incomplete: the client must not take it. */
		log_error("action=retrieve sid=%s user=%s messages=%ld "
		    "status=failed reason=\"message not sent whole\"",
		    p->ws->id, p->account, i + 1);
		p->done = true;
		p->end = "send-failed";
		break;
	}
}

static void
cmd_retr(struct pop3 *p, const struct pop3_cmd *c)
{
	long i = message_arg(p, c->arg, false);

	if (i >= 0)
		send_message(p, i, -1);
}

static void
cmd_top(struct pop3 *p, const struct pop3_cmd *c)
{
	long n, lines;

	if (pop3_two_numbers(c->arg, &n, &lines) < 0) {
		protocol_error(p, "usage: TOP msg n");
		return;
	}
	if (n < 1 || (size_t)n > p->md.count) {
		reply_err(p, "no such message");
		return;
	}
	if (p->md.msgs[n - 1].deleted) {
		reply_err(p, "message is deleted");
		return;
	}
	send_message(p, n - 1, lines);
}

static void
cmd_dele(struct pop3 *p, const struct pop3_cmd *c)
{
	long i = message_arg(p, c->arg, false);
	char text[64];

	if (i < 0)
		return;
	p->md.msgs[i].deleted = true;
	snprintf(text, sizeof(text), "message %ld deleted", i + 1);
	reply_ok(p, text);
}

static void
cmd_rset(struct pop3 *p, const struct pop3_cmd *c)
{
	(void)c;
	for (size_t i = 0; i < p->md.count; i++)
		p->md.msgs[i].deleted = false;
	stream_printf(p->s, "+OK maildrop has %zu messages (%llu octets)\r\n",
	    p->md.count, (unsigned long long)p->md.total);
}

static void
cmd_quit(struct pop3 *p, const struct pop3_cmd *c)
{
	unsigned deleted = 0;

	(void)c;
	p->done = true;
	p->end = "quit";
	if (p->state != ST_TRANSACTION) {
		reply_ok(p, "DMail POP3 server signing off");
		return;
	}
	/* UPDATE state. The lock goes before the reply: a client that
	 * reconnects as soon as it reads +OK must find the maildrop free. */
	if (maildrop_update(&p->md, &deleted) < 0) {
		maildrop_close(&p->md);
		p->deleted = deleted;
		p->end = "update-failed";
		reply_err(p, "[SYS/TEMP] some deleted messages not removed");
		return;
	}
	maildrop_close(&p->md);
	p->deleted = deleted;
	stream_printf(p->s, "+OK DMail POP3 server signing off (%u message%s "
	    "deleted)\r\n", deleted, deleted == 1 ? "" : "s");
}

static void
cmd_noop(struct pop3 *p, const struct pop3_cmd *c)
{
	(void)c;
	reply_ok(p, "");
}

/* --- dispatch ----------------------------------------------------------- */

/* What a command accepts after its verb. */
enum pop3_args {
	ARGS_ANY,     /* the handler checks them */
	ARGS_NONE,    /* any argument: "-ERR VERB takes no argument" */
};

/* One row per verb, as smtp_session.c's table: the states it is valid
 * in, its argument rule, its handler. Checked in that order. */
struct pop3_command {
	enum pop3_verb verb;
	unsigned states;          /* bit (1 << state) per allowed state */
	enum pop3_args args;
	void (*handler)(struct pop3 *, const struct pop3_cmd *);
};

#define ST(x) (1u << (x))
#define ST_AUTH ST(ST_AUTHORIZATION)
#define ST_TRANS ST(ST_TRANSACTION)

static const struct pop3_command commands[] = {
	{ POP3_CAPA, ST_AUTH | ST_TRANS, ARGS_NONE, cmd_capa },
	{ POP3_QUIT, ST_AUTH | ST_TRANS, ARGS_NONE, cmd_quit },
	{ POP3_USER, ST_AUTH, ARGS_ANY, cmd_user },
	{ POP3_PASS, ST_AUTH, ARGS_ANY, cmd_pass },
	{ POP3_APOP, ST_AUTH, ARGS_ANY, cmd_apop },
	{ POP3_AUTH, ST_AUTH, ARGS_ANY, cmd_auth },
	{ POP3_STLS, ST_AUTH, ARGS_NONE, cmd_stls },
	{ POP3_STAT, ST_TRANS, ARGS_NONE, cmd_stat },
	{ POP3_LIST, ST_TRANS, ARGS_ANY, cmd_list },
	{ POP3_UIDL, ST_TRANS, ARGS_ANY, cmd_uidl },
	{ POP3_RETR, ST_TRANS, ARGS_ANY, cmd_retr },
	{ POP3_TOP, ST_TRANS, ARGS_ANY, cmd_top },
	{ POP3_DELE, ST_TRANS, ARGS_ANY, cmd_dele },
	{ POP3_RSET, ST_TRANS, ARGS_NONE, cmd_rset },
	{ POP3_NOOP, ST_TRANS, ARGS_NONE, cmd_noop },
};

static void
dispatch(struct pop3 *p, struct pop3_cmd *c)
{
	const struct pop3_command *cmd = NULL;
	char text[64];

	/* PASS must come right after USER. */
	if (c->verb != POP3_PASS)
		p->have_user = false;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == c->verb)
			cmd = &commands[i];
	if (cmd == NULL) {
		protocol_error(p, "unknown command");
		return;
	}
	if (!(cmd->states & ST(p->state))) {
		protocol_error(p, p->state == ST_AUTHORIZATION ?
		    "command not valid before login" :
		    "command not valid after login");
		return;
	}
	if (cmd->args == ARGS_NONE && c->arg != NULL) {
		snprintf(text, sizeof(text), "%s takes no argument", c->name);
		protocol_error(p, text);
		return;
	}
	cmd->handler(p, c);
}

static void
make_timestamp(struct pop3 *p)
{
	unsigned char rnd[8];
	char hex[17];

	/* getrandom(2), not RAND_bytes(): a plain session must not pay for
	 * setting up OpenSSL's DRBG (about 230 kB of heap per process). */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	snprintf(p->timestamp, sizeof(p->timestamp), "<%ld.%s.%lld@%s>",
	    (long)getpid(), hex, (long long)time(NULL), p->srv->hostname);
}

void
pop3_session(struct pop3_server *srv, const struct dmail_conf *conf,
    struct worker_session *sess)
{
	struct pop3 *p = xcalloc(1, sizeof(*p));
	struct buf line = BUF_INIT;
	struct pop3_cmd cmd;
	enum line_ending end;
	int r;

	p->srv = srv;
	p->conf = conf;
	p->ws = sess;
	p->s = sess->stream;
	p->state = ST_AUTHORIZATION;
	p->md.lock_fd = -1;
	p->end = "dropped";
	stream_set_timeout(p->s, (int)conf->pop3_idle_timeout * 1000);
	/* A command line trickled byte by byte ends too (see stream.h). */
	stream_set_line_limit(p->s, (int)conf->pop3_command_time_limit * 1000);
	if (sess->role == ROLE_POP3S) {
		if (srv->tls == NULL ||
		    stream_tls_accept(p->s, srv->tls) != STREAM_OK) {
			log_info("action=tls-failed sid=%s client=%s",
			    sess->id, sess->peer_ip);
			p->done = true;
			p->end = "tls-failed";
		}
		if (!p->done)
			scoreboard_count(SBC_TLS);
	}
	make_timestamp(p);
	if (!p->done)
		stream_printf(p->s, "+OK DMail POP3 server ready %s\r\n",
		    p->timestamp);
	while (!p->done) {
		r = stream_read_line(p->s, &line, POP3_LINE_MAX, &end);
		if (r == STREAM_TOOLONG) {
			protocol_error(p, "line too long");
			continue;
		}
		if (r != STREAM_OK) {
			p->end = r == STREAM_TIMEOUT ? "timeout" : "dropped";
			if (r == STREAM_TIMEOUT)
				stream_puts(p->s, "-ERR timeout exceeded\r\n");
			break;
		}
		if (line.len > POP3_CMD_MAX &&
		    !str_has_prefix_ci(line.data, "AUTH ")) {
			protocol_error(p, "line too long");
			continue;
		}
		if (pop3_parse(line.data, &cmd) < 0) {
			protocol_error(p, "invalid command line");
			continue;
		}
		dispatch(p, &cmd);
		if (line.data != NULL)
			explicit_bzero(line.data, line.len);
	}
	stream_flush(p->s);
	log_info("action=disconnect sid=%s client=%s user=%s tls=%s "
	    "retrieved=%u deleted=%u bytes=%llu end=%s", sess->id,
	    sess->peer_ip, p->account[0] != '\0' ? p->account : "-",
	    stream_is_tls(p->s) ? "yes" : "no", p->retrieved, p->deleted,
	    (unsigned long long)stream_bytes_out(p->s), p->end);
	if (p->md.path != NULL)
		maildrop_close(&p->md);
	buf_free(&line);
	free(p);
}
