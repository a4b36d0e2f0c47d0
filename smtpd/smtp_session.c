/*
 * smtp_session.c - one SMTP connection: an explicit state machine driven
 * by a command table (RFC 5321 4.1, 4.3.2; RFC 2920 pipelining; RFC 3207
 * STARTTLS; RFC 1870 SIZE; RFC 4954 AUTH; RFC 8314 implicit TLS).
 *
 * Every command is looked up in commands[]: the states in which it is
 * allowed, whether it takes an argument, and its handler. A command in
 * the wrong state gets 503 5.5.1 without reaching the handler. Replies
 * are written to the stream, which sends them when the client's batch of
 * pipelined commands is used up, so replies always leave in order.
 *
 * Replies carry enhanced status codes (RFC 2034, 3463) except the 220
 * greeting and the HELO/EHLO reply, where RFC 2034 3 forbids them.
 *
 * Relay rule: a recipient outside local_domains is accepted only from an
 * authenticated client or a client address in relay_networks (nothing is
 * trusted implicitly, not even loopback), or from a local pipe
 * (standalone mode, no network peer). Everyone else: 554 5.7.1.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "scoreboard.h"
#include "smtpd.h"
#include "util.h"

/* Longest recipient list written into one log line. */
#define SMTP_LOG_RCPTS_MAX 1024

struct smtp_command {
	enum smtp_verb verb;
	unsigned states;       /* bit (1 << state) for each allowed state */
	bool no_arg;           /* 501 if an argument is given */
	void (*handler)(struct smtp_session *, const char *arg);
};

#define ST(x) (1u << (x))
#define ST_ANY (ST(SMTP_S_CONNECTED) | ST(SMTP_S_HELO) | ST(SMTP_S_MAIL) | \
	ST(SMTP_S_RCPT))

static void cmd_helo(struct smtp_session *, const char *);
static void cmd_ehlo(struct smtp_session *, const char *);
static void cmd_mail(struct smtp_session *, const char *);
static void cmd_rcpt(struct smtp_session *, const char *);
static void cmd_data(struct smtp_session *, const char *);
static void cmd_rset(struct smtp_session *, const char *);
static void cmd_noop(struct smtp_session *, const char *);
static void cmd_quit(struct smtp_session *, const char *);
static void cmd_vrfy(struct smtp_session *, const char *);
static void cmd_expn(struct smtp_session *, const char *);
static void cmd_help(struct smtp_session *, const char *);
static void cmd_starttls(struct smtp_session *, const char *);
static void cmd_auth(struct smtp_session *, const char *);

static const struct smtp_command commands[] = {
	{ SMTP_HELO, ST_ANY, false, cmd_helo },
	{ SMTP_EHLO, ST_ANY, false, cmd_ehlo },
	{ SMTP_MAIL, ST(SMTP_S_HELO), false, cmd_mail },
	{ SMTP_RCPT, ST(SMTP_S_MAIL) | ST(SMTP_S_RCPT), false, cmd_rcpt },
	{ SMTP_DATA, ST(SMTP_S_RCPT), true, cmd_data },
	{ SMTP_RSET, ST_ANY, true, cmd_rset },
	{ SMTP_NOOP, ST_ANY, false, cmd_noop },
	{ SMTP_QUIT, ST_ANY, true, cmd_quit },
	{ SMTP_VRFY, ST_ANY, false, cmd_vrfy },
	{ SMTP_EXPN, ST_ANY, false, cmd_expn },
	{ SMTP_HELP, ST_ANY, false, cmd_help },
	{ SMTP_STARTTLS, ST(SMTP_S_CONNECTED) | ST(SMTP_S_HELO), true,
	    cmd_starttls },
	{ SMTP_AUTH, ST(SMTP_S_HELO), false, cmd_auth },
};

static const char *const state_names[SMTP_S_COUNT] = {
	"connected", "helo", "mail", "rcpt", "quit",
};

void
smtp_reply(struct smtp_session *ss, int code, const char *enhanced,
    const char *fmt, ...)
{
	char line[600];
	size_t n = 0, elen;
	va_list ap;
	int r;

	/* One formatting pass per reply: "CODE [X.Y.Z ]text\r\n". */
	if (code < 100 || code > 599)
		log_panic("smtp_reply: bad code %d", code);
	line[n++] = (char)('0' + code / 100);
	line[n++] = (char)('0' + code / 10 % 10);
	line[n++] = (char)('0' + code % 10);
	line[n++] = ' ';
	if (enhanced != NULL && (elen = strlen(enhanced)) < 16) {
		memcpy(line + n, enhanced, elen);
		n += elen;
		line[n++] = ' ';
	}
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 2, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n - 2 ? (size_t)r :
		    sizeof(line) - n - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	stream_write(ss->s, line, n);
	if (code >= 400)
		ss->errors++;
}

void
smtp_reply_r(struct smtp_session *ss, const struct smtp_reply *r)
{
	smtp_reply(ss, r->code, r->enhanced[0] ? r->enhanced : NULL, "%s",
	    r->text);
}

void
smtp_io_failed(struct smtp_session *ss, int rc, const char *where)
{
	switch (rc) {
	case STREAM_TIMEOUT:
		log_info("action=timeout sid=%s client=%s stage=%s",
		    ss->ws->id, ss->ws->peer_ip, where);
		stream_printf(ss->s, "421 4.4.2 %s Error: timeout exceeded\r\n",
		    ss->conf->hostname);
		stream_flush(ss->s);
		break;
	case STREAM_EOF:
		log_info("action=lost-connection sid=%s client=%s stage=%s",
		    ss->ws->id, ss->ws->peer_ip, where);
		break;
	default:
		log_info("action=io-error sid=%s client=%s stage=%s",
		    ss->ws->id, ss->ws->peer_ip, where);
		break;
	}
	ss->state = SMTP_S_QUIT;
}

/* Drops the transaction in progress (RSET, EHLO, STARTTLS, the end). */
static void
txn_reset(struct smtp_session *ss)
{
	if (ss->dlv != NULL) {
		delivery_abort(ss->dlv);
		ss->dlv = NULL;
	}
	smtp_checks_reset(ss);
	smtp_milter_reset(ss);
	memset(&ss->mail, 0, sizeof(ss->mail));
	ss->rcpt_count = 0;
	buf_reset(&ss->rcpts);
	if (ss->state == SMTP_S_MAIL || ss->state == SMTP_S_RCPT)
		ss->state = SMTP_S_HELO;
}

/* Protocol name for the Received: header: RFC 3848, and RFC 6531 3.7.3
 * for a transaction with SMTPUTF8. */
static const char *
protocol_name(const struct smtp_session *ss)
{
	bool tls = stream_is_tls(ss->s), auth = ss->auth_user[0] != '\0';

	if (!ss->esmtp)
		return "SMTP";
	if (ss->mail.smtputf8)
		return tls && auth ? "UTF8SMTPSA" : tls ? "UTF8SMTPS" :
		    auth ? "UTF8SMTPA" : "UTF8SMTP";
	if (tls && auth)
		return "ESMTPSA";
	if (tls)
		return "ESMTPS";
	if (auth)
		return "ESMTPA";
	return "ESMTP";
}

static bool
auth_offered(const struct smtp_session *ss)
{
	return ss->sd->udb != NULL &&
	    (stream_is_tls(ss->s) || ss->ws->peer_loopback);
}

static bool
starttls_offered(const struct smtp_session *ss)
{
	return ss->sd->tls != NULL && !stream_is_tls(ss->s);
}

bool
smtp_relay_allowed(const struct smtp_session *ss)
{
	const struct sockaddr *peer = (const struct sockaddr *)&ss->ws->peer;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;
	struct sockaddr_in v4;
	size_t i;

	if (ss->auth_user[0] != '\0')
		return true;
	if (ss->ws->peer_len == 0)
		return true;   /* local pipe: standalone mode, not a network */
	if (peer->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		/* ::ffff:192.0.2.1 on a dual-stack listener is 192.0.2.1 */
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
		peer = (const struct sockaddr *)&v4;
	}
	for (i = 0; i < ss->conf->relay_network_count; i++)
		if (cidr_match(&ss->conf->relay_networks[i], peer))
			return true;
	return false;
}

static void
log_reject(struct smtp_session *ss, const char *stage, const char *rcpt,
    int code, const char *enhanced, const char *reason)
{
	/* At DATA the recipients are the accepted ones. */
	log_info("action=reject sid=%s stage=%s client=%s helo=\"%s\" "
	    "from=<%s> to=%s%s%s reply=\"%d %s\" reason=\"%s\"", ss->ws->id,
	    stage, ss->ws->peer_ip, ss->helo, ss->mail.from.addr,
	    rcpt ? "<" : "", rcpt ? rcpt : buf_cstr(&ss->rcpts),
	    rcpt ? ">" : "", code, enhanced, reason);
}

/* HELO/EHLO argument: one word of visible characters. The domain is not
 * checked further (RFC 5321 4.1.4: never refuse mail over it). */
static bool
helo_arg_ok(const char *arg)
{
	const unsigned char *p;

	if (*arg == '\0' || strlen(arg) > SMTP_HELO_MAX)
		return false;
	for (p = (const unsigned char *)arg; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static bool
greet(struct smtp_session *ss, const char *arg, bool esmtp)
{
	if (!helo_arg_ok(arg)) {
		smtp_reply(ss, 501, "5.5.4", "Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return false;
	}
	txn_reset(ss);
	snprintf(ss->helo, sizeof(ss->helo), "%s", arg);
	ss->esmtp = esmtp;
	ss->state = SMTP_S_HELO;
	return true;
}

static void
cmd_helo(struct smtp_session *ss, const char *arg)
{
	if (greet(ss, arg, false) && smtp_milter_helo(ss) == 0)
		stream_printf(ss->s, "250 %s\r\n", ss->conf->hostname);
}

static void
cmd_ehlo(struct smtp_session *ss, const char *arg)
{
	if (!greet(ss, arg, true) || smtp_milter_helo(ss) != 0)
		return;
	stream_printf(ss->s, "250-%s Hello %s\r\n", ss->conf->hostname,
	    ss->ws->peer_ip);
	stream_printf(ss->s, "250-PIPELINING\r\n250-SIZE %llu\r\n"
	    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n",
	    (unsigned long long)ss->conf->max_message_size);
	if (starttls_offered(ss))
		stream_puts(ss->s, "250-STARTTLS\r\n");
	if (auth_offered(ss) && ss->auth_user[0] == '\0')
		stream_puts(ss->s, "250-AUTH PLAIN LOGIN\r\n");
	stream_puts(ss->s, "250 SMTPUTF8\r\n");
}

void
smtp_delivery_info(struct smtp_session *ss, struct delivery_info *info)
{
	memset(info, 0, sizeof(*info));
	info->session_id = ss->ws->id;
	info->client_ip = ss->ws->peer_ip;
	info->client_helo = ss->helo;
	info->protocol = protocol_name(ss);
	info->tls = stream_tls_description(ss->s);
	info->auth_user = ss->auth_user[0] ? ss->auth_user : NULL;
	info->smtputf8 = ss->mail.smtputf8;
}

static void
cmd_mail(struct smtp_session *ss, const char *arg)
{
	struct smtp_reply r;
	struct delivery_info info;
	const char *why;

	if (ss->auth_required && ss->auth_user[0] == '\0') {
		smtp_reply(ss, 530, "5.7.0", "Authentication required");
		scoreboard_count(SBC_REJECT_POLICY);
		return;
	}
	if (smtp_parse_mail(arg, ss->esmtp, &ss->mail, &r) != 0) {
		smtp_reply_r(ss, &r);
		scoreboard_count_reject(r.code, r.enhanced);
		return;
	}
	if (ss->mail.size_given &&
	    ss->mail.size > ss->conf->max_message_size) {
		/* RFC 1870 6.1 */
		log_reject(ss, "MAIL", NULL, 552, "5.3.4", "SIZE too big");
		smtp_reply(ss, 552, "5.3.4",
		    "Message size exceeds fixed maximum message size");
		scoreboard_count(SBC_REJECT_SIZE);
		return;
	}
	if ((why = smtp_checks_mail(ss, &r)) != NULL) {
		log_reject(ss, "MAIL", NULL, r.code, r.enhanced, why);
		smtp_reply_r(ss, &r);    /* counted by smtp_checks.c */
		return;
	}
	smtp_delivery_info(ss, &info);
	ss->dlv = delivery_begin(ss->sd->dctx, ss->mail.from.addr, &info);
	if (ss->dlv == NULL) {
		log_error("action=tempfail sid=%s stage=MAIL "
		    "reason=\"cannot start delivery\"", ss->ws->id);
		smtp_reply(ss, 451, "4.3.0", "Local error, try again later");
		scoreboard_count(SBC_REJECT_TEMPFAIL);
		return;
	}
	if (ss->mail.ret != DSN_RET_NONE || ss->mail.envid_given)
		delivery_set_dsn(ss->dlv, ss->mail.ret,
		    ss->mail.envid_given ? ss->mail.envid : NULL);
	if (smtp_milter_mail(ss, arg) != 0) {
		txn_reset(ss);
		return;
	}
	ss->state = SMTP_S_MAIL;
	smtp_reply(ss, 250, "2.1.0", "Ok");
}

static void
cmd_rcpt(struct smtp_session *ss, const char *arg)
{
	struct smtp_reply r;
	struct mailbox mb;
	struct rcpt_args dsn;
	const char *orcpt = NULL, *why;
	char addr[ADDR_PATH_MAX + 64];
	enum rcpt_check check;

	if (ss->rcpt_count >= ss->conf->max_recipients) {
		/* RFC 5321 4.5.3.1.10: the client sends the rest in a later
		 * transaction. A pipelining client sees many of these at
		 * once; they are not errors that end the session. */
		smtp_reply(ss, 452, "4.5.3", "Too many recipients");
		ss->errors--;
		return;
	}
	if (smtp_parse_rcpt_dsn(arg, ss->esmtp, ss->mail.smtputf8, &mb, &dsn,
	    &r) != 0) {
		smtp_reply_r(ss, &r);
		scoreboard_count_reject(r.code, r.enhanced);
		return;
	}
	if (mb.postmaster) {
		/* RFC 5321 4.1.1.3: <Postmaster> means our postmaster. */
		snprintf(addr, sizeof(addr), "postmaster@%s",
		    ss->conf->local_domains.count > 0 ?
		    ss->conf->local_domains.items[0] : ss->conf->hostname);
	} else {
		snprintf(addr, sizeof(addr), "%s", mb.addr);
	}
	switch ((check = deliver_check_rcpt(ss->sd->dctx, addr, ss->mail.size,
	    &r))) {
	case RCPT_LOCAL:
		break;
	case RCPT_REMOTE:
		/* A remote domain has an '@' (deliver_check_rcpt()). */
		if (smtp_relay_allowed(ss) || strlist_contains_ci(
		    &ss->conf->relay_domains, strrchr(addr, '@') + 1))
			break;
		log_reject(ss, "RCPT", addr, 554, "5.7.1",
		    "relay access denied");
		smtp_reply(ss, 554, "5.7.1", "<%s>: Relay access denied",
		    addr);
		scoreboard_count(SBC_REJECT_RELAY);
		return;
	case RCPT_REJECT:
	case RCPT_TEMPFAIL:
	default:
		log_reject(ss, "RCPT", addr, r.code, r.enhanced, r.text);
		smtp_reply_r(ss, &r);
		scoreboard_count_reject(r.code, r.enhanced);
		return;
	}
	if ((why = smtp_checks_rcpt(ss, &r)) != NULL) {
		log_reject(ss, "RCPT", addr, r.code, r.enhanced, why);
		smtp_reply_r(ss, &r);    /* counted by smtp_checks.c */
		return;
	}
	/* Only rfc822 original recipients can be reported or relayed
	 * (the queue file keeps an address); other types are accepted and
	 * dropped. */
	if (dsn.orcpt_given && strcasecmp(dsn.orcpt_type, "rfc822") == 0)
		orcpt = dsn.orcpt;
	if (smtp_milter_rcpt(ss, addr, arg, check == RCPT_LOCAL, dsn.notify,
	    orcpt) != 0)
		return;
	if (dsn.notify != 0 || orcpt != NULL)
		delivery_add_rcpt_dsn(ss->dlv, addr, dsn.notify, orcpt);
	else
		delivery_add_rcpt(ss->dlv, addr);
	ss->rcpt_count++;
	smtp_hold_rcpt(ss, addr);
	if (ss->rcpts.len < SMTP_LOG_RCPTS_MAX)
		buf_printf(&ss->rcpts, "%s<%s>", ss->rcpts.len ? "," : "",
		    addr);
	else if (ss->rcpts.data[ss->rcpts.len - 1] != '.')
		buf_append_str(&ss->rcpts, ",...");
	ss->state = SMTP_S_RCPT;
	smtp_reply(ss, 250, "2.1.5", "Ok");
}

/* Where DATA content goes: to the milters first (smtp_milter.c), which
 * hand the message back at its end; then held for the checks of
 * smtp_checks.c, or straight into the delivery. */
struct data_sink {
	struct smtp_session *ss;
	bool hold;
};

static int
store_line(void *arg, const char *line, size_t len)
{
	struct data_sink *sink = arg;

	if (sink->hold)
		return smtp_checks_data_line(sink->ss, line, len);
	return delivery_write_line(sink->ss->dlv, line, len);
}

static int
data_line(void *arg, const char *line, size_t len)
{
	struct data_sink *sink = arg;

	if (smtp_milter_content(sink->ss))
		return smtp_milter_line(sink->ss, line, len);
	return store_line(sink, line, len);
}

static void
cmd_data(struct smtp_session *ss, const char *arg)
{
	const struct dmail_conf *conf = ss->conf;
	struct data_result res;
	struct smtp_reply r;
	char id[64];
	const char *why = NULL;
	struct data_sink sink = { ss, smtp_checks_hold(ss) };
	bool hold = sink.hold;
	int rc;

	(void)arg;
	if (smtp_milter_data(ss) != 0) {
		txn_reset(ss);
		return;
	}
	smtp_reply(ss, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	/* The whole DATA phase has smtp_data_time_limit, as well as
	 * smtp_data_timeout for each wait: a trickle of bytes that beats
	 * every wait still ends here (421, nothing kept). */
	stream_set_timeout(ss->s, (int)conf->smtp_data_timeout * 1000);
	stream_set_line_limit(ss->s, 0);
	if (conf->smtp_data_time_limit > 0 && now_ms() +
	    (int64_t)conf->smtp_data_time_limit * 1000 < ss->deadline)
		stream_set_deadline(ss->s, now_ms() +
		    (int64_t)conf->smtp_data_time_limit * 1000);
	rc = smtp_data_read(ss->s, &ss->line, conf->max_message_size,
	    conf->smtp_bare_lf, data_line, &sink, &res);
	stream_set_deadline(ss->s, ss->deadline);
	stream_set_line_limit(ss->s,
	    (int)conf->smtp_command_time_limit * 1000);
	stream_set_timeout(ss->s, (int)conf->smtp_command_timeout * 1000);
	if (rc != STREAM_OK) {
		txn_reset(ss);
		smtp_io_failed(ss, rc, "DATA");
		return;
	}
	if (res.too_big) {
		/* RFC 1870 6.2 */
		smtp_reply_set(&r, 552, "5.3.4",
		    "Message size exceeds fixed maximum message size");
		why = "message too big";
	} else if (res.long_line) {
		/* RFC 5321 4.5.3.1.6; 554 is the DATA failure reply. */
		smtp_reply_set(&r, 554, "5.6.0",
		    "Line too long (text lines are limited to 1000 octets)");
		why = "line too long";
	} else if ((res.bare_lf || res.bare_cr) &&
	    conf->smtp_bare_lf == BARE_LF_REJECT) {
		/* RFC 5321 2.3.8: CR and LF only as CRLF. */
		smtp_reply_set(&r, 554, "5.6.0", "Message contains bare %s; "
		    "lines must end with <CR><LF>",
		    res.bare_lf ? "<LF>" : "<CR>");
		why = res.bare_lf ? "bare LF" : "bare CR";
	} else if (smtp_milter_eom(ss, store_line, &sink) != 0) {
		txn_reset(ss);
		return;
	} else if (hold && (why = smtp_checks_eom(ss, &r)) != NULL) {
		/* r says why: the submission checks */
	} else if (delivery_hops(ss->dlv) > conf->max_hops) {
		/* RFC 5321 6.3 */
		smtp_reply_set(&r, 554, "5.4.6",
		    "Too many hops (mail loop?)");
		why = "too many hops";
	}
	if (why == smtp_held) {          /* answered by smtp_hold.c */
		txn_reset(ss);
		return;
	}
	if (why != NULL) {
		log_reject(ss, "DATA", NULL, r.code, r.enhanced, why);
		txn_reset(ss);
		smtp_reply_r(ss, &r);
		scoreboard_count_reject(r.code, r.enhanced);
		return;
	}
	snprintf(id, sizeof(id), "%s", delivery_id(ss->dlv));
	rc = delivery_commit(ss->dlv, &r);
	ss->dlv = NULL;
	if (rc == 0) {
		ss->messages++;
		/* smtp_max_errors counts errors without delivering mail */
		ss->errors = 0;
		log_info("action=accepted sid=%s qid=%s client=%s helo=\"%s\" "
		    "from=<%s> nrcpt=%u to=%s size=%llu proto=%s tls=\"%s\" "
		    "user=%s status=250", ss->ws->id, id, ss->ws->peer_ip,
		    ss->helo, ss->mail.from.addr, ss->rcpt_count,
		    buf_cstr(&ss->rcpts), (unsigned long long)res.size,
		    protocol_name(ss), stream_tls_description(ss->s),
		    ss->auth_user[0] ? ss->auth_user : "-");
		smtp_reply(ss, 250, "2.0.0", "Ok: queued as %s", id);
		scoreboard_count(SBC_ACCEPTED);
	} else {
		log_info("action=not-accepted sid=%s qid=%s client=%s "
		    "from=<%s> nrcpt=%u size=%llu reply=\"%d %s %s\"",
		    ss->ws->id, id, ss->ws->peer_ip, ss->mail.from.addr,
		    ss->rcpt_count, (unsigned long long)res.size, r.code,
		    r.enhanced, r.text);
		smtp_reply_r(ss, &r);
		scoreboard_count_reject(r.code, r.enhanced);
	}
	txn_reset(ss);
}

static void
cmd_rset(struct smtp_session *ss, const char *arg)
{
	(void)arg;
	txn_reset(ss);
	smtp_reply(ss, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct smtp_session *ss, const char *arg)
{
	(void)arg;
	smtp_reply(ss, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct smtp_session *ss, const char *arg)
{
	(void)arg;
	smtp_reply(ss, 221, "2.0.0", "Bye");
	ss->state = SMTP_S_QUIT;
}

static void
cmd_vrfy(struct smtp_session *ss, const char *arg)
{
	struct smtp_reply r;
	struct mailbox mb;
	char path[ADDR_PATH_MAX + 3];

	if (*arg == '\0') {
		smtp_reply(ss, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	if (!ss->conf->smtp_vrfy) {
		smtp_reply(ss, 252, "2.5.2", "Cannot VRFY user, but will "
		    "accept message and attempt delivery");
		return;
	}
	snprintf(path, sizeof(path), arg[0] == '<' ? "%s" : "<%s>", arg);
	if (addr_parse_path(path, ADDR_UTF8, &mb, NULL) != ADDR_OK) {
		smtp_reply(ss, 501, "5.1.3", "Bad address syntax");
		return;
	}
	switch (deliver_check_rcpt(ss->sd->dctx, mb.addr, 0, &r)) {
	case RCPT_LOCAL:
		smtp_reply(ss, 250, "2.1.5", "<%s>", mb.addr);
		break;
	case RCPT_REMOTE:
		smtp_reply(ss, 252, "2.5.2", "Cannot VRFY user, but will "
		    "accept message and attempt delivery");
		break;
	default:
		smtp_reply_r(ss, &r);
		break;
	}
}

static void
cmd_expn(struct smtp_session *ss, const char *arg)
{
	(void)arg;
	smtp_reply(ss, 502, "5.5.1", "Command not implemented");
}

static void
cmd_help(struct smtp_session *ss, const char *arg)
{
	(void)arg;
	smtp_reply(ss, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY HELP STARTTLS AUTH; see RFC 5321");
}

static void
cmd_starttls(struct smtp_session *ss, const char *arg)
{
	(void)arg;
	if (ss->sd->tls == NULL) {
		smtp_reply(ss, 502, "5.5.1", "Command not implemented");
		return;
	}
	if (stream_is_tls(ss->s)) {
		smtp_reply(ss, 554, "5.5.1", "TLS already active");
		return;
	}
	smtp_reply(ss, 220, "2.0.0", "Ready to start TLS");
	if (stream_flush(ss->s) != STREAM_OK) {
		smtp_io_failed(ss, STREAM_ERROR, "STARTTLS");
		return;
	}
	/* RFC 3207 4.2 / CVE-2011-0411: commands pipelined after STARTTLS
	 * came in the clear and must not be executed. */
	if (stream_buffered(ss->s) > 0)
		log_info("action=discard-pipelined sid=%s client=%s bytes=%zu "
		    "stage=STARTTLS", ss->ws->id, ss->ws->peer_ip,
		    stream_buffered(ss->s));
	stream_discard_buffered(ss->s);
	if (stream_tls_accept(ss->s, ss->sd->tls) != STREAM_OK) {
		log_info("action=tls-failed sid=%s client=%s", ss->ws->id,
		    ss->ws->peer_ip);
		ss->state = SMTP_S_QUIT;
		return;
	}
	scoreboard_count(SBC_TLS);
	/* RFC 3207 4.2: forget everything learnt before TLS. */
	txn_reset(ss);
	ss->state = SMTP_S_CONNECTED;
	ss->helo[0] = '\0';
	ss->esmtp = false;
	ss->auth_user[0] = '\0';
	log_debug("action=starttls sid=%s tls=\"%s\"", ss->ws->id,
	    stream_tls_description(ss->s));
}

static void
cmd_auth(struct smtp_session *ss, const char *arg)
{
	if (!ss->esmtp) {
		smtp_reply(ss, 503, "5.5.1", "Send EHLO first");
		return;
	}
	if (ss->auth_user[0] != '\0') {
		smtp_reply(ss, 503, "5.5.1", "Already authenticated");
		return;
	}
	if (*arg == '\0') {
		smtp_reply(ss, 501, "5.5.4", "Syntax: AUTH mechanism");
		return;
	}
	smtp_cmd_auth(ss, arg);
}

/* The reply for a command the state does not allow. */
static void
bad_sequence(struct smtp_session *ss, enum smtp_verb verb)
{
	if (ss->state == SMTP_S_CONNECTED)
		smtp_reply(ss, 503, "5.5.1", "Send HELO/EHLO first");
	else if (verb == SMTP_MAIL)
		smtp_reply(ss, 503, "5.5.1", "Nested MAIL command");
	else if (verb == SMTP_DATA && ss->state == SMTP_S_MAIL)
		/* RFC 5321 3.3: no valid recipients */
		smtp_reply(ss, 554, "5.5.1", "No valid recipients");
	else if (verb == SMTP_RCPT || verb == SMTP_DATA)
		smtp_reply(ss, 503, "5.5.1", "Need MAIL command");
	else
		smtp_reply(ss, 503, "5.5.1", "Bad sequence of commands");
}

/* Runs one command line. */
static void
dispatch(struct smtp_session *ss, const char *line, size_t len)
{
	const struct smtp_command *c = NULL;
	enum smtp_verb verb;
	const char *arg;
	size_t i;

	if (strlen(line) != len) {
		smtp_reply(ss, 500, "5.5.2", "NUL character in command");
		return;
	}
	verb = smtp_parse_verb(line, &arg);
	if (len > (verb == SMTP_MAIL ? SMTP_MAIL_LINE_MAX :
	    verb == SMTP_RCPT ? SMTP_RCPT_LINE_MAX : SMTP_CMD_LINE_MAX) &&
	    verb != SMTP_AUTH) {
		smtp_reply(ss, 500, "5.5.2", "Line too long");
		return;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == verb)
			c = &commands[i];
	if (c == NULL) {
		if (verb == SMTP_BDAT)
			smtp_reply(ss, 502, "5.5.1", "Command not implemented");
		else
			smtp_reply(ss, 500, "5.5.2", "Command unrecognized");
		return;
	}
	if (!(c->states & ST(ss->state))) {
		bad_sequence(ss, verb);
		return;
	}
	if (c->no_arg && *arg != '\0') {
		smtp_reply(ss, 501, "5.5.4", "Syntax error (no parameters "
		    "allowed)");
		return;
	}
	c->handler(ss, arg);
}

void
smtp_session_run(struct smtpd *sd, const struct dmail_conf *conf,
    struct worker_session *ws)
{
	struct smtp_session ss;
	struct smtp_reply r;
	enum line_ending ending;
	const char *why;
	int rc;

	memset(&ss, 0, sizeof(ss));
	ss.sd = sd;
	ss.conf = conf;
	ss.ws = ws;
	ss.s = ws->stream;
	ss.state = SMTP_S_CONNECTED;
	ss.auth_required = ws->role == ROLE_SUBMISSION ||
	    ws->role == ROLE_SMTPS;
	buf_init(&ss.line);
	buf_init(&ss.rcpts);
	/* Never NULL from here on, even for empty lines. */
	buf_reserve(&ss.line, SMTP_TEXT_LINE_MAX + 2);

	ss.deadline = now_ms() + (int64_t)conf->smtp_session_timeout * 1000;
	stream_set_timeout(ss.s, (int)conf->smtp_command_timeout * 1000);
	stream_set_deadline(ss.s, ss.deadline);
	stream_set_line_limit(ss.s, (int)conf->smtp_command_time_limit * 1000);
	log_info("action=connect sid=%s client=%s port=%u role=%s", ws->id,
	    ws->peer_ip, ws->peer_port, role_name(ws->role));

	if (ws->role == ROLE_SMTPS) {
		/* RFC 8314 implicit TLS: handshake before the greeting. */
		if (sd->tls == NULL ||
		    stream_tls_accept(ss.s, sd->tls) != STREAM_OK) {
			log_info("action=tls-failed sid=%s client=%s",
			    ws->id, ws->peer_ip);
			goto out;
		}
		scoreboard_count(SBC_TLS);
	}
	if ((why = smtp_verify_connect(&ss, &r)) != NULL) {
		/* RFC 5321 3.1: 554 instead of the greeting */
		smtp_reply_r(&ss, &r);
		scoreboard_count_reject(r.code, r.enhanced);
		stream_flush(ss.s);
		goto out;
	}
	if (smtp_milter_connect(&ss) == 0)
		stream_printf(ss.s, "220 %s ESMTP DMail\r\n", conf->hostname);

	while (ss.state != SMTP_S_QUIT) {
		rc = stream_read_line(ss.s, &ss.line, SMTP_AUTH_LINE_MAX,
		    &ending);
		if (rc == STREAM_TOOLONG) {
			smtp_reply(&ss, 500, "5.5.2", "Line too long");
		} else if (rc != STREAM_OK) {
			smtp_io_failed(&ss, rc, state_names[ss.state]);
			break;
		} else {
			dispatch(&ss, ss.line.data, ss.line.len);
		}
		if (ss.state != SMTP_S_QUIT &&
		    ss.errors >= conf->smtp_max_errors) {
			log_info("action=disconnect sid=%s client=%s "
			    "reason=\"too many errors\" errors=%u", ws->id,
			    ws->peer_ip, ss.errors);
			smtp_reply(&ss, 421, "4.7.0", "%s Error: too many "
			    "errors", conf->hostname);
			ss.state = SMTP_S_QUIT;
		}
	}
	stream_flush(ss.s);
out:
	txn_reset(&ss);
	smtp_milter_end(&ss);
	log_info("action=disconnect sid=%s client=%s messages=%llu errors=%u",
	    ws->id, ws->peer_ip, (unsigned long long)ss.messages, ss.errors);
	buf_free(&ss.line);
	buf_free(&ss.rcpts);
}
