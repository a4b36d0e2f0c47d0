/*
 * milter.c - milter protocol version 6, MTA side (API in milter.h).
 *
 * Wire format: every packet is a 4-byte length in network order
 * (counting the command byte), one command byte, and data. Strings are
 * NUL-terminated, numbers 32-bit network order. We offer version 6, all
 * actions of SMFIF_* up to SMFIF_SETSYMLIST and the protocol steps of
 * MILTER_PROTO_OFFER; a milter that answers with more is broken.
 *
 * Every byte from a milter is hostile: packets are length-checked before
 * they are read (MILTER_PACKET_MAX), each reply is parsed with a cursor
 * that must end exactly at the end of the packet, reply codes are
 * checked (4xx for tempfail, 5xx for reject, the enhanced code of the
 * same class, printable text), header names and values are checked
 * before they reach the message, and a replaced body is bounded by
 * max_message_size. Any violation closes that milter (milter_fail) and
 * its verdict becomes milter_default_action.
 *
 * Sections: connection and packet I/O, negotiation, reply parsing, the
 * envelope stages, message content, the end of message and its
 * modifications, writing the modified message.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "milter.h"
#include "spool.h"
#include "util.h"

/* Commands, MTA to milter (SMFIC_*). */
#define C_ABORT 'A'
#define C_BODY 'B'
#define C_CONNECT 'C'
#define C_MACRO 'D'
#define C_BODYEOB 'E'
#define C_HELO 'H'
#define C_HEADER 'L'
#define C_MAIL 'M'
#define C_EOH 'N'
#define C_OPTNEG 'O'
#define C_QUIT 'Q'
#define C_RCPT 'R'
#define C_DATA 'T'

/* Replies, milter to MTA (SMFIR_*). */
#define R_ADDRCPT '+'
#define R_DELRCPT '-'
#define R_ADDRCPT_PAR '2'
#define R_SHUTDOWN '4'
#define R_ACCEPT 'a'
#define R_REPLBODY 'b'
#define R_CONTINUE 'c'
#define R_DISCARD 'd'
#define R_CHGFROM 'e'
#define R_CONN_FAIL 'f'
#define R_ADDHEADER 'h'
#define R_INSHEADER 'i'
#define R_CHGHEADER 'm'
#define R_OPTNEG 'O'
#define R_PROGRESS 'p'
#define R_QUARANTINE 'q'
#define R_REJECT 'r'
#define R_SKIP 's'
#define R_TEMPFAIL 't'
#define R_REPLYCODE 'y'

/* Actions (SMFIF_*). */
#define F_ADDHDRS 0x01u
#define F_CHGBODY 0x02u
#define F_ADDRCPT 0x04u
#define F_DELRCPT 0x08u
#define F_CHGHDRS 0x10u
#define F_QUARANTINE 0x20u
#define F_CHGFROM 0x40u
#define F_ADDRCPT_PAR 0x80u
#define F_SETSYMLIST 0x100u
#define MILTER_ACTIONS_OFFER 0x1ffu

/* Protocol steps (SMFIP_*). */
#define P_NOCONNECT 0x1u
#define P_NOHELO 0x2u
#define P_NOMAIL 0x4u
#define P_NORCPT 0x8u
#define P_NOBODY 0x10u
#define P_NOHDRS 0x20u
#define P_NOEOH 0x40u
#define P_NR_HDR 0x80u
#define P_NOUNKNOWN 0x100u
#define P_NODATA 0x200u
#define P_SKIP 0x400u
#define P_NR_CONN 0x1000u
#define P_NR_HELO 0x2000u
#define P_NR_MAIL 0x4000u
#define P_NR_RCPT 0x8000u
#define P_NR_DATA 0x10000u
#define P_NR_UNKN 0x20000u
#define P_NR_EOH 0x40000u
#define P_NR_BODY 0x80000u
#define P_HDR_LEADSPC 0x100000u
/* Everything but SMFIP_RCPT_REJ (we never send rejected recipients). */
#define MILTER_PROTO_OFFER (0x1fffffu & ~0x800u)

enum mstate {
	M_OPEN = 0,          /* talking */
	M_ACCEPT_MSG,        /* accepted this message: skipped until its end */
	M_ACCEPT_CON,        /* accepted the session: skipped */
	M_REJECT_CON,        /* rejected the session: reply for every stage */
	M_FAILED,            /* closed; default action for every stage */
};

struct milter {
	char *spec;
	int fd;
	enum mstate state;
	enum milter_result verdict;   /* M_REJECT_CON, M_FAILED */
	struct smtp_reply reply;
	uint32_t version, actions, proto;
	char *symlist[MILTER_STAGES]; /* NULL: our default macros */
	bool skip_body;               /* SMFIR_SKIP during the body */
};

struct macro {
	char *name, *value;
};

struct header {
	char *name;
	char *value;        /* after the colon, folded lines joined by LF */
	bool deleted;
	bool added;         /* by a milter (not counted by CHGHEADER) */
};

struct milter_set {
	const struct dmail_conf *conf;
	const char *sid;
	struct milter *m;
	size_t n;
	struct macro *macros;
	size_t nmacros;
	struct buf out, in;

	/* the message */
	struct header *hdrs;
	size_t nhdrs;
	bool in_header;
	bool content_started;
	int body_fd;                 /* -1 until the body starts */
	uint64_t body_len;
	struct buf body_out;         /* body bytes not yet written */
	struct buf new_body;         /* SMFIR_REPLBODY */
	const struct milter *body_by; /* the milter that replaced it */
	unsigned nmods;              /* modification packets so far */
	bool write_failed;
	struct milter_mods mods;
};

/* Default macros per stage, as Postfix's milter_*_macros. */
static const char *const default_macros[MILTER_STAGES] = {
	[MILTER_CONNECT] = "j {daemon_name} v _ {client_addr} {client_port} "
	    "{client_name} {daemon_addr}",
	[MILTER_HELO] = "{tls_version} {cipher} {cipher_bits}",
	[MILTER_MAIL] = "i {auth_type} {auth_authen} {mail_addr} "
	    "{mail_host} {mail_mailer}",
	[MILTER_RCPT] = "{rcpt_addr} {rcpt_host} {rcpt_mailer}",
	[MILTER_DATA] = "i",
	[MILTER_EOM] = "i",
	[MILTER_EOH] = "i",
};

/* --- connection and packet I/O --------------------------------------- */

/* Wait until fd is ready for events or the deadline passes. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int
send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EINTR && errno != EAGAIN) {
			return -1;
		} else if (wait_fd(fd, POLLOUT, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
recv_all(int fd, char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0) {
			errno = ECONNRESET;
			return -1;
		} else if (errno != EINTR && errno != EAGAIN) {
			return -1;
		} else if (wait_fd(fd, POLLIN, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Connect to one address with a deadline; the fd is non-blocking. */
static int
connect_addr(const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0), err = 0;
	socklen_t elen = sizeof(err);

	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline) < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		goto fail;
	if (err != 0) {
		errno = err;
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* "unix:/PATH" or "inet:HOST:PORT" (HOST a name, address or [v6]). */
static int
milter_socket(const char *spec, int64_t deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256];
	const char *colon;
	size_t hl;
	int fd = -1;

	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(spec + 5) >= sizeof(sun.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(sun.sun_path, spec + 5);
		return connect_addr((struct sockaddr *)&sun, sizeof(sun),
		    deadline);
	}
	colon = strrchr(spec + 5, ':');
	hl = colon != NULL ? (size_t)(colon - (spec + 5)) : 0;
	if (colon == NULL || hl == 0 || hl >= sizeof(host)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, spec + 5, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline);
	freeaddrinfo(res);
	return fd;
}

static void
put32(struct buf *b, uint32_t v)
{
	uint32_t n = htonl(v);

	buf_append(b, &n, 4);
}

static void
put_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s) + 1);
}

/* Start a packet in ms->out (its length is filled by send_packet). */
static void
packet_begin(struct milter_set *ms, char cmd)
{
	buf_reset(&ms->out);
	put32(&ms->out, 0);
	buf_append_char(&ms->out, cmd);
}

static int
send_packet(struct milter_set *ms, struct milter *m, int64_t deadline)
{
	uint32_t n = htonl((uint32_t)(ms->out.len - 4));

	memcpy(ms->out.data, &n, 4);
	return send_all(m->fd, ms->out.data, ms->out.len, deadline);
}

/* Read one packet into ms->in (command byte first). -1 with reason. */
static int
read_packet(struct milter_set *ms, struct milter *m, int64_t deadline,
    const char **why)
{
	uint32_t n;

	if (recv_all(m->fd, (char *)&n, 4, deadline) < 0) {
		*why = errno == ETIMEDOUT ? "timeout" : "connection lost";
		return -1;
	}
	n = ntohl(n);
	if (n == 0 || n > MILTER_PACKET_MAX) {
		*why = "bad packet length";
		return -1;
	}
	buf_reset(&ms->in);
	buf_reserve(&ms->in, n);
	if (recv_all(m->fd, ms->in.data, n, deadline) < 0) {
		*why = errno == ETIMEDOUT ? "timeout" : "connection lost";
		return -1;
	}
	ms->in.len = n;
	ms->in.data[n] = '\0';
	return 0;
}

/* The milter is unusable: log once, close, and give it the default
 * action for the rest of the session. Returns that verdict. */
static enum milter_result
milter_fail(struct milter_set *ms, struct milter *m, const char *stage,
    const char *why)
{
	enum milter_default d = ms->conf->milter_default_action;

	log_warn("event=milter-failed sid=%s path=%s stage=%s reason=\"%s\" "
	    "policy=%s", ms->sid, m->spec, stage, why,
	    d == MILTER_DEFAULT_ACCEPT ? "accept" :
	    d == MILTER_DEFAULT_REJECT ? "reject" : "tempfail");
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->state = M_FAILED;
	if (d == MILTER_DEFAULT_ACCEPT) {
		m->verdict = MILTER_CONTINUE;
	} else if (d == MILTER_DEFAULT_REJECT) {
		m->verdict = MILTER_REJECT;
		smtp_reply_set(&m->reply, 550, "5.7.1", "Command rejected");
	} else {
		m->verdict = MILTER_TEMPFAIL;
		smtp_reply_set(&m->reply, 451, "4.7.1",
		    "Service unavailable - try again later");
	}
	return m->verdict;
}

/* --- negotiation ------------------------------------------------------ */

/* A reader over one received packet; every get fails past the end. */
struct cursor {
	const char *p, *end;
	bool bad;
};

static uint32_t
get32(struct cursor *c)
{
	uint32_t v;

	if (c->end - c->p < 4) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, c->p, 4);
	c->p += 4;
	return ntohl(v);
}

static const char *
get_str(struct cursor *c)
{
	const char *s = c->p;
	const char *nul = memchr(c->p, '\0', (size_t)(c->end - c->p));

	if (c->bad || nul == NULL) {
		c->bad = true;
		return "";
	}
	c->p = nul + 1;
	return s;
}

static bool
cursor_done(const struct cursor *c)
{
	return !c->bad && c->p == c->end;
}

/* The milter's SMFIC_OPTNEG answer: version, actions, steps, then
 * optional macro lists (SMFIR_SETSYMLIST at negotiation). */
static const char *
parse_optneg(struct milter *m, struct cursor *c)
{
	m->version = get32(c);
	m->actions = get32(c);
	m->proto = get32(c);
	if (c->bad)
		return "short negotiation reply";
	if (m->version < 2 || m->version > 6)
		return "unsupported protocol version";
	if ((m->actions & ~MILTER_ACTIONS_OFFER) != 0)
		return "actions not offered";
	if ((m->proto & ~MILTER_PROTO_OFFER) != 0)
		return "protocol steps not offered";
	while (c->p < c->end) {
		uint32_t stage = get32(c);
		const char *list = get_str(c);

		if (c->bad || stage >= MILTER_STAGES || strlen(list) > 1024)
			return "bad macro list";
		free(m->symlist[stage]);
		m->symlist[stage] = xstrdup(list);
	}
	return NULL;
}

static void
negotiate(struct milter_set *ms, struct milter *m)
{
	int64_t deadline = now_ms() +
	    (int64_t)ms->conf->milter_connect_timeout * 1000;
	const char *why = NULL;
	struct cursor c;

	m->fd = milter_socket(m->spec, deadline);
	if (m->fd < 0) {
		(void)milter_fail(ms, m, "connect", strerror(errno));
		return;
	}
	packet_begin(ms, C_OPTNEG);
	put32(&ms->out, 6);
	put32(&ms->out, MILTER_ACTIONS_OFFER);
	put32(&ms->out, MILTER_PROTO_OFFER);
	deadline = now_ms() + (int64_t)ms->conf->milter_command_timeout * 1000;
	if (send_packet(ms, m, deadline) < 0)
		why = "cannot send";
	else if (read_packet(ms, m, deadline, &why) == 0 &&
	    ms->in.data[0] != R_OPTNEG)
		why = "negotiation reply expected";
	if (why == NULL) {
		c.p = ms->in.data + 1;
		c.end = ms->in.data + ms->in.len;
		c.bad = false;
		why = parse_optneg(m, &c);
	}
	if (why != NULL) {
		(void)milter_fail(ms, m, "negotiate", why);
		return;
	}
	m->state = M_OPEN;
	log_debug("event=milter-open sid=%s path=%s", ms->sid, m->spec);
}

struct milter_set *
milter_open(const struct dmail_conf *conf, const struct strlist *specs,
    const char *sid)
{
	struct milter_set *ms;

	if (specs->count == 0)
		return NULL;
	ms = xcalloc(1, sizeof(*ms));
	ms->conf = conf;
	ms->sid = sid;
	ms->n = specs->count;
	ms->m = xcalloc(ms->n, sizeof(*ms->m));
	ms->body_fd = -1;
	for (size_t i = 0; i < ms->n; i++) {
		ms->m[i].spec = xstrdup(specs->items[i]);
		ms->m[i].fd = -1;
		negotiate(ms, &ms->m[i]);
	}
	return ms;
}

void
milter_close(struct milter_set *ms)
{
	if (ms == NULL)
		return;
	milter_message_end(ms);
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];

		if (m->fd >= 0) {
			packet_begin(ms, C_QUIT);
			(void)send_packet(ms, m, now_ms() + 1000);
			close(m->fd);
		}
		for (int s = 0; s < MILTER_STAGES; s++)
			free(m->symlist[s]);
		free(m->spec);
	}
	for (size_t i = 0; i < ms->nmacros; i++) {
		free(ms->macros[i].name);
		free(ms->macros[i].value);
	}
	free(ms->macros);
	free(ms->m);
	buf_free(&ms->out);
	buf_free(&ms->in);
	free(ms);
}

void
milter_macro(struct milter_set *ms, const char *name, const char *value)
{
	size_t i;

	if (ms == NULL)
		return;
	for (i = 0; i < ms->nmacros; i++)
		if (strcmp(ms->macros[i].name, name) == 0)
			break;
	if (i == ms->nmacros) {
		if (value == NULL)
			return;
		ms->macros = xrealloc(ms->macros,
		    (ms->nmacros + 1) * sizeof(*ms->macros));
		ms->macros[ms->nmacros].name = xstrdup(name);
		ms->macros[ms->nmacros++].value = NULL;
	}
	free(ms->macros[i].value);
	ms->macros[i].value = value != NULL ? xstrdup(value) : NULL;
}

/* --- reply parsing ---------------------------------------------------- */

/* SMFIR_REPLYCODE text: "4xx"/"5xx", optional enhanced code of the same
 * class, printable text. Only the first line of a multi-line reply is
 * used. false when malformed. */
static bool
parse_replycode(const char *s, struct smtp_reply *r)
{
	char enh[16] = "";
	const char *t;
	size_t n;

	if ((s[0] != '4' && s[0] != '5') || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (s[3] != ' ' && s[3] != '-' &&
	    s[3] != '\0'))
		return false;
	t = s[3] != '\0' ? s + 4 : s + 3;
	n = strspn(t, "0123456789.");
	if (n >= 5 && t[1] == '.') {
		/* an enhanced code: of the reply's class, "X.Y.Z" */
		if (n >= sizeof(enh) || t[0] != s[0] ||
		    (t[n] != ' ' && t[n] != '\0'))
			return false;
		memcpy(enh, t, n);
		enh[n] = '\0';
		t += n + (t[n] == ' ');
	}
	for (const char *p = t; *p != '\0' && *p != '\r' && *p != '\n'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	n = strcspn(t, "\r\n");
	smtp_reply_set(r, (s[0] - '0') * 100 + (s[1] - '0') * 10 +
	    (s[2] - '0'), enh[0] ? enh : (s[0] == '4' ? "4.7.1" : "5.7.1"),
	    "%.*s", (int)n, n > 0 ? t : "Command rejected");
	return true;
}

/* The verdict reply of one packet in ms->in. -1 when it is not one. */
static int
verdict_of(struct milter_set *ms, struct milter *m, enum milter_stage stage,
    struct smtp_reply *r, enum milter_result *res)
{
	struct cursor c = { ms->in.data + 1, ms->in.data + ms->in.len, false };
	bool envelope = stage == MILTER_CONNECT || stage == MILTER_HELO;

	switch (ms->in.data[0]) {
	case R_CONTINUE:
		*res = MILTER_CONTINUE;
		break;
	case R_ACCEPT:
		m->state = envelope ? M_ACCEPT_CON : M_ACCEPT_MSG;
		*res = MILTER_CONTINUE;
		break;
	case R_REJECT:
		smtp_reply_set(r, stage == MILTER_RCPT ? 550 : 554, "5.7.1",
		    "Command rejected");
		*res = MILTER_REJECT;
		break;
	case R_TEMPFAIL:
		smtp_reply_set(r, 451, "4.7.1",
		    "Service unavailable - try again later");
		*res = MILTER_TEMPFAIL;
		break;
	case R_REPLYCODE:
		if (!parse_replycode(get_str(&c), r))
			return -1;
		*res = r->code >= 500 ? MILTER_REJECT : MILTER_TEMPFAIL;
		break;
	case R_DISCARD:
		*res = MILTER_DISCARD;
		break;
	case R_SHUTDOWN:
	case R_CONN_FAIL:
		smtp_reply_set(r, 421, "4.7.0", "Closing connection");
		*res = MILTER_SHUTDOWN;
		break;
	default:
		return -1;
	}
	if (!cursor_done(&c))
		return -1;
	/* A session-wide refusal holds for every later stage. */
	if (envelope && (*res == MILTER_REJECT || *res == MILTER_TEMPFAIL)) {
		m->state = M_REJECT_CON;
		m->verdict = *res;
		m->reply = *r;
	}
	return 0;
}

static const char *const stage_names[MILTER_STAGES] = {
	"connect", "helo", "mail", "rcpt", "data", "eom", "eoh",
};

/* Send the macros of stage that have values (SMFIC_MACRO). */
static int
send_macros(struct milter_set *ms, struct milter *m, enum milter_stage stage,
    char cmd, int64_t deadline)
{
	const char *list = m->symlist[stage] != NULL ? m->symlist[stage] :
	    default_macros[stage];
	bool any = false;

	packet_begin(ms, C_MACRO);
	buf_append_char(&ms->out, cmd);
	while (*list != '\0') {
		size_t n = strcspn(list, " ,");

		for (size_t i = 0; i < ms->nmacros && n > 0; i++) {
			const char *name = ms->macros[i].name;
			/* "{name}" and "name" are the same macro */
			bool br = name[0] == '{' && n + 2 == strlen(name) &&
			    strncmp(name + 1, list, n) == 0;
			if ((br || (strlen(name) == n &&
			    strncmp(name, list, n) == 0)) &&
			    ms->macros[i].value != NULL) {
				put_str(&ms->out, name);
				put_str(&ms->out, ms->macros[i].value);
				any = true;
			}
		}
		list += n;
		list += strspn(list, " ,");
	}
	return any ? send_packet(ms, m, deadline) : 0;
}

/* Send cmd with data, after the macros of stage. 0, or -1 (why). */
static int
send_cmd(struct milter_set *ms, struct milter *m, enum milter_stage stage,
    char cmd, const char *data, size_t len, int64_t deadline,
    const char **why)
{
	struct pollfd p = { .fd = m->fd, .events = POLLIN };

	/* Nothing may be waiting: a milter that sent more than one verdict,
	 * or answered a step it said it would not answer, is broken (seen
	 * when its extra packet has arrived by the time of our next
	 * command). */
	if (poll(&p, 1, 0) > 0) {
		*why = "unexpected data";
		return -1;
	}
	*why = "cannot send";
	if (send_macros(ms, m, stage, cmd, deadline) < 0)
		return -1;
	packet_begin(ms, cmd);
	buf_append(&ms->out, data, len);
	return send_packet(ms, m, deadline);
}

static int apply_mod(struct milter_set *ms, struct milter *m,
    const char **why);

/* Read until a verdict, taking SMFIR_PROGRESS (which restarts the
 * timeout) and, at the end of the message (eom), modifications. 0 with
 * *res and r, or -1 with why. */
static int
read_verdict(struct milter_set *ms, struct milter *m, enum milter_stage stage,
    unsigned timeout, bool eom, struct smtp_reply *r,
    enum milter_result *res, const char **why)
{
	int64_t deadline = now_ms() + (int64_t)timeout * 1000;
	int rc;

	for (;;) {
		if (read_packet(ms, m, deadline, why) < 0)
			return -1;
		if (ms->in.data[0] == R_PROGRESS && ms->in.len == 1) {
			deadline = now_ms() + (int64_t)timeout * 1000;
			continue;
		}
		if (eom && (rc = apply_mod(ms, m, why)) != 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		if (verdict_of(ms, m, stage, r, res) < 0) {
			*why = "unexpected reply";
			return -1;
		}
		return 0;
	}
}

/* One event to one milter: send, and read the verdict unless noreply.
 * -1 when the milter failed (*res is its default verdict, r set). */
static int
milter_event(struct milter_set *ms, struct milter *m, enum milter_stage stage,
    char cmd, const char *data, size_t len, bool noreply, unsigned timeout,
    struct smtp_reply *r, enum milter_result *res)
{
	const char *why = NULL;

	*res = MILTER_CONTINUE;
	if (send_cmd(ms, m, stage, cmd, data, len, now_ms() +
	    (int64_t)timeout * 1000, &why) == 0 && (noreply ||
	    read_verdict(ms, m, stage, timeout, cmd == C_BODYEOB, r, res,
	    &why) == 0))
		return 0;
	*res = milter_fail(ms, m, cmd == C_BODYEOB ? "eom" : cmd == C_BODY ?
	    "body" : cmd == C_HEADER ? "header" : stage_names[stage], why);
	*r = m->reply;
	return -1;
}

/* Send one command to every open milter that wants it, in order, until
 * one says something other than continue. */
static enum milter_result
run_stage(struct milter_set *ms, enum milter_stage stage, char cmd,
    const char *data, size_t len, uint32_t nosend, uint32_t noreply,
    struct smtp_reply *r)
{
	enum milter_result res = MILTER_CONTINUE;

	for (size_t i = 0; i < ms->n && res == MILTER_CONTINUE; i++) {
		struct milter *m = &ms->m[i];

		/* A refused session hears it from MAIL on (HELO still
		 * works, as with Postfix). */
		if ((m->state == M_FAILED || m->state == M_REJECT_CON) &&
		    stage != MILTER_CONNECT && stage != MILTER_HELO) {
			res = m->verdict;
			*r = m->reply;
			continue;
		}
		if (m->state != M_OPEN || (m->proto & nosend) != 0)
			continue;
		(void)milter_event(ms, m, stage, cmd, data, len,
		    (m->proto & noreply) != 0,
		    ms->conf->milter_command_timeout, r, &res);
	}
	return res;
}

/* --- the envelope stages ---------------------------------------------- */

enum milter_result
milter_connect(struct milter_set *ms, const char *host, char family,
    unsigned port, const char *addr, struct smtp_reply *r)
{
	struct buf d = BUF_INIT;
	uint16_t p = htons((uint16_t)port);
	enum milter_result res;

	put_str(&d, host);
	buf_append_char(&d, family);
	if (family != 'U') {
		buf_append(&d, &p, 2);
		put_str(&d, addr);
	}
	res = run_stage(ms, MILTER_CONNECT, C_CONNECT, d.data, d.len,
	    P_NOCONNECT, P_NR_CONN, r);
	buf_free(&d);
	return res;
}

enum milter_result
milter_helo(struct milter_set *ms, const char *helo, struct smtp_reply *r)
{
	return run_stage(ms, MILTER_HELO, C_HELO, helo, strlen(helo) + 1,
	    P_NOHELO, P_NR_HELO, r);
}

static enum milter_result
args_stage(struct milter_set *ms, enum milter_stage stage, char cmd,
    const char *const *args, size_t n, uint32_t nosend, uint32_t noreply,
    struct smtp_reply *r)
{
	struct buf d = BUF_INIT;
	enum milter_result res;

	for (size_t i = 0; i < n; i++)
		put_str(&d, args[i]);
	res = run_stage(ms, stage, cmd, d.data, d.len, nosend, noreply, r);
	buf_free(&d);
	return res;
}

enum milter_result
milter_mail(struct milter_set *ms, const char *const *args, size_t n,
    struct smtp_reply *r)
{
	/* A new message: milters that accepted the last one listen again. */
	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].state == M_ACCEPT_MSG)
			ms->m[i].state = M_OPEN;
	return args_stage(ms, MILTER_MAIL, C_MAIL, args, n, P_NOMAIL,
	    P_NR_MAIL, r);
}

enum milter_result
milter_rcpt(struct milter_set *ms, const char *const *args, size_t n,
    struct smtp_reply *r)
{
	return args_stage(ms, MILTER_RCPT, C_RCPT, args, n, P_NORCPT,
	    P_NR_RCPT, r);
}

enum milter_result
milter_data(struct milter_set *ms, struct smtp_reply *r)
{
	/* libmilter before version 4 does not know SMFIC_DATA. */
	enum milter_result res = MILTER_CONTINUE;

	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].state == M_OPEN && ms->m[i].version < 4)
			ms->m[i].proto |= P_NODATA;
	res = run_stage(ms, MILTER_DATA, C_DATA, "", 0, P_NODATA, P_NR_DATA,
	    r);
	return res;
}

void
milter_abort(struct milter_set *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];

		if (m->state != M_OPEN && m->state != M_ACCEPT_MSG)
			continue;
		packet_begin(ms, C_ABORT);
		if (send_packet(ms, m, now_ms() + (int64_t)
		    ms->conf->milter_command_timeout * 1000) < 0)
			(void)milter_fail(ms, m, "abort", "cannot send");
		else
			m->state = M_OPEN;
	}
	milter_message_end(ms);
}

/* --- message content -------------------------------------------------- */

/* A header field name: 1..MILTER_HEADER_NAME_MAX visible characters
 * other than ':'. */
static bool
valid_name(const char *s, size_t n)
{
	if (n == 0 || n > MILTER_HEADER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
		    s[i] == ':')
			return false;
	return true;
}

static void
add_header(struct milter_set *ms, size_t at, char *name, char *value,
    bool added)
{
	struct header *h;

	ms->hdrs = xrealloc(ms->hdrs, (ms->nhdrs + 1) * sizeof(*ms->hdrs));
	if (at > ms->nhdrs)
		at = ms->nhdrs;
	memmove(ms->hdrs + at + 1, ms->hdrs + at,
	    (ms->nhdrs - at) * sizeof(*ms->hdrs));
	h = &ms->hdrs[at];
	h->name = name;
	h->value = value;
	h->deleted = false;
	h->added = added;
	ms->nhdrs++;
}

static int
flush_body(struct milter_set *ms)
{
	struct buf dir = BUF_INIT;
	int rc = 0;

	if (ms->body_fd < 0) {
		spool_path(ms->conf, "tmp", NULL, &dir);
		buf_append_str(&dir, "/milter.XXXXXX");
		ms->body_fd = mkostemp(dir.data, O_CLOEXEC);
		if (ms->body_fd >= 0)
			(void)unlink(dir.data);
	}
	if (ms->body_fd < 0 || write_all(ms->body_fd, ms->body_out.data,
	    ms->body_out.len) < 0) {
		log_error("event=write-failed sid=%s path=%s error=\"%s\"",
		    ms->sid, dir.len ? dir.data : "milter body",
		    strerror(errno));
		ms->write_failed = true;
		rc = -1;
	}
	buf_reset(&ms->body_out);
	buf_free(&dir);
	return rc;
}

/* A header line: a new field, a folded line of the last one, or (not a
 * field) the first body line. true when taken as a header line. */
static bool
header_line(struct milter_set *ms, const char *line, size_t len)
{
	const char *colon;
	struct header *last;
	size_t n, old;

	if (memchr(line, '\0', len) != NULL)
		return false;
	if ((line[0] == ' ' || line[0] == '\t') && ms->nhdrs > 0) {
		last = &ms->hdrs[ms->nhdrs - 1];
		old = strlen(last->value);
		last->value = xrealloc(last->value, old + len + 2);
		last->value[old] = '\n';
		memcpy(last->value + old + 1, line, len);
		last->value[old + 1 + len] = '\0';
		return true;
	}
	colon = memchr(line, ':', len);
	n = colon != NULL ? (size_t)(colon - line) : 0;
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (colon == NULL || !valid_name(line, n))
		return false;
	add_header(ms, ms->nhdrs, xstrndup(line, n), xstrndup(colon + 1,
	    len - (size_t)(colon + 1 - line)), false);
	return true;
}

int
milter_content_line(struct milter_set *ms, const char *line, size_t len)
{
	if (ms->write_failed)
		return -1;
	if (!ms->content_started) {
		ms->content_started = true;
		ms->in_header = true;
	}
	if (ms->in_header) {
		if (len == 0) {
			ms->in_header = false;
			return 0;
		}
		if (header_line(ms, line, len))
			return 0;
		ms->in_header = false;
	}
	buf_append(&ms->body_out, line, len);
	buf_append(&ms->body_out, "\r\n", 2);
	ms->body_len += len + 2;
	if (ms->body_out.len >= IO_CHUNK)
		return flush_body(ms);
	return 0;
}

const struct milter_mods *
milter_mods(const struct milter_set *ms)
{
	return &ms->mods;
}

void
milter_message_end(struct milter_set *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->nhdrs; i++) {
		free(ms->hdrs[i].name);
		free(ms->hdrs[i].value);
	}
	free(ms->hdrs);
	ms->hdrs = NULL;
	ms->nhdrs = 0;
	if (ms->body_fd >= 0)
		close(ms->body_fd);
	ms->body_fd = -1;
	ms->body_len = 0;
	ms->content_started = ms->in_header = ms->write_failed = false;
	buf_free(&ms->body_out);
	buf_free(&ms->new_body);
	ms->body_by = NULL;
	ms->nmods = 0;
	free(ms->mods.sender);
	free(ms->mods.quarantine_reason);
	strlist_free(&ms->mods.add_rcpts);
	strlist_free(&ms->mods.del_rcpts);
	memset(&ms->mods, 0, sizeof(ms->mods));
}

/* --- the end of the message and its modifications --------------------- */

/* A header value from a milter: CRLF or LF between folded lines, each
 * folded line starting with white space, no other control characters
 * but TAB. Into our form (lines joined by LF, a leading space added
 * when it has none). NULL when malformed. */
static char *
clean_value(const char *v)
{
	struct buf b = BUF_INIT;

	if (*v != ' ' && *v != '\t' && *v != '\0')
		buf_append_char(&b, ' ');
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue;
		if (*p == '\n' && p[1] != ' ' && p[1] != '\t') {
			buf_free(&b);
			return NULL;
		}
		if (((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n') ||
		    *p == 0x7f) {
			buf_free(&b);
			return NULL;
		}
		buf_append_char(&b, *p);
	}
	return buf_steal(&b);
}

/* Index of the idx-th (1-based) received field called name, or nhdrs. */
static size_t
find_header(const struct milter_set *ms, const char *name, uint32_t idx)
{
	for (size_t i = 0; i < ms->nhdrs; i++)
		if (!ms->hdrs[i].added && !ms->hdrs[i].deleted &&
		    strcasecmp(ms->hdrs[i].name, name) == 0 && --idx == 0)
			return i;
	return ms->nhdrs;
}

/* ADDHEADER, INSHEADER, CHGHEADER. -1 with why when malformed. */
static int
header_mod(struct milter_set *ms, char cmd, struct cursor *c,
    const char **why)
{
	uint32_t idx = cmd != R_ADDHEADER ? get32(c) : 0;
	const char *name = get_str(c), *value = get_str(c);
	char *clean;
	size_t at;

	if (!cursor_done(c) || !valid_name(name, strlen(name)) ||
	    (clean = clean_value(value)) == NULL) {
		*why = "malformed header change";
		return -1;
	}
	ms->mods.header_changes++;
	if (cmd == R_CHGHEADER) {
		at = find_header(ms, name, idx);
		if (at < ms->nhdrs) {
			if (*value == '\0') {
				ms->hdrs[at].deleted = true;
			} else {
				free(ms->hdrs[at].value);
				ms->hdrs[at].value = clean;
				return 0;
			}
		}
		if (at < ms->nhdrs || *value == '\0') {
			free(clean);
			return 0;
		}
	}
	/* Our Received: field is above them all and counts as index 0. */
	at = cmd == R_INSHEADER ? (idx > 0 ? idx - 1 : 0) : ms->nhdrs;
	add_header(ms, at, xstrdup(name), clean, true);
	return 0;
}

/* An address from a milter, "<a@b>" or "a@b", into out (without <>). */
static bool
milter_address(const char *s, char *out, size_t cap)
{
	struct mailbox mb;
	struct buf b = BUF_INIT;
	bool ok;

	buf_printf(&b, s[0] == '<' ? "%s" : "<%s>", s);
	ok = addr_parse_path(b.data, ADDR_UTF8, &mb, NULL) == ADDR_OK &&
	    strlen(mb.addr) < cap;
	if (ok)
		snprintf(out, cap, "%s", mb.addr);
	buf_free(&b);
	return ok;
}

/* Envelope changes: ADDRCPT(_PAR), DELRCPT, CHGFROM. */
static int
envelope_mod(struct milter_set *ms, char cmd, struct cursor *c,
    const char **why)
{
	char addr[ADDR_PATH_MAX + 1];
	const char *a = get_str(c);

	if ((cmd == R_ADDRCPT_PAR || cmd == R_CHGFROM) && c->p < c->end)
		(void)get_str(c);          /* ESMTP arguments: ignored */
	if (!cursor_done(c) || !milter_address(a, addr, sizeof(addr)) ||
	    (addr[0] == '\0' && cmd != R_CHGFROM)) {
		*why = "malformed envelope change";
		return -1;
	}
	if (cmd == R_CHGFROM) {
		free(ms->mods.sender);
		ms->mods.sender = xstrdup(addr);
	} else {
		strlist_add(cmd == R_DELRCPT ? &ms->mods.del_rcpts :
		    &ms->mods.add_rcpts, addr);
	}
	return 0;
}

/* SMFIR_REPLBODY: the first chunk of a milter starts a new body. */
static int
body_mod(struct milter_set *ms, struct milter *m, const char **why)
{
	if (!ms->mods.body_replaced || ms->body_by != m) {
		buf_reset(&ms->new_body);
		ms->mods.body_replaced = true;
		ms->body_by = m;
	}
	if (ms->new_body.len + ms->in.len - 1 > ms->conf->max_message_size) {
		*why = "replaced body too big";
		return -1;
	}
	buf_append(&ms->new_body, ms->in.data + 1, ms->in.len - 1);
	return 0;
}

/* The action a modification needs (SMFIF_*), 0 when it is none. */
static uint32_t
mod_action(char cmd)
{
	switch (cmd) {
	case R_ADDHEADER: case R_INSHEADER: return F_ADDHDRS;
	case R_CHGHEADER: return F_CHGHDRS;
	case R_REPLBODY: return F_CHGBODY;
	case R_ADDRCPT: return F_ADDRCPT;
	case R_ADDRCPT_PAR: return F_ADDRCPT_PAR;
	case R_DELRCPT: return F_DELRCPT;
	case R_CHGFROM: return F_CHGFROM;
	case R_QUARANTINE: return F_QUARANTINE;
	default: return 0;
	}
}

/* A modification in ms->in: 1 applied, 0 not a modification, -1 bad
 * (malformed, or an action the milter did not negotiate). */
static int
apply_mod(struct milter_set *ms, struct milter *m, const char **why)
{
	struct cursor c = { ms->in.data + 1, ms->in.data + ms->in.len, false };
	char cmd = ms->in.data[0];
	uint32_t need = mod_action(cmd);
	int rc = 0;

	if (need == 0)
		return 0;
	if ((m->actions & need) == 0) {
		*why = "modification not negotiated";
		return -1;
	}
	if (++ms->nmods > MILTER_MODS_MAX) {
		*why = "too many modifications";
		return -1;
	}
	if (cmd == R_ADDHEADER || cmd == R_INSHEADER || cmd == R_CHGHEADER)
		rc = header_mod(ms, cmd, &c, why);
	else if (cmd == R_REPLBODY)
		rc = body_mod(ms, m, why);
	else if (cmd == R_QUARANTINE) {
		const char *reason = get_str(&c);
		if (!cursor_done(&c)) {
			*why = "malformed quarantine";
			return -1;
		}
		ms->mods.quarantine = true;
		free(ms->mods.quarantine_reason);
		ms->mods.quarantine_reason = xstrndup(reason,
		    strnlen(reason, MILTER_REASON_MAX));
		/* it goes into a log line: printable, no quotes */
		for (char *q = ms->mods.quarantine_reason; *q; q++)
			if ((unsigned char)*q < ' ' || *q == '"' || *q == 0x7f)
				*q = '?';
	} else
		rc = envelope_mod(ms, cmd, &c, why);
	return rc < 0 ? -1 : 1;
}

/* Read body bytes at off from the replaced body or the body file. */
static ssize_t
body_read(struct milter_set *ms, uint64_t off, char *to, size_t n)
{
	ssize_t r;

	if (ms->mods.body_replaced) {
		if (off >= ms->new_body.len)
			return 0;
		if (n > ms->new_body.len - off)
			n = ms->new_body.len - off;
		memcpy(to, ms->new_body.data + off, n);
		return (ssize_t)n;
	}
	if (ms->body_fd < 0 || off >= ms->body_len)
		return 0;
	do
		r = pread(ms->body_fd, to, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		log_error("event=read-failed sid=%s path=\"milter body\" "
		    "error=\"%s\"", ms->sid, strerror(errno));
	return r;
}

/* The body in chunks; SMFIR_SKIP ends it early. */
static int
send_body(struct milter_set *ms, struct milter *m, struct smtp_reply *r,
    enum milter_result *res)
{
	char *chunk = xmalloc(MILTER_CHUNK);
	unsigned t = ms->conf->milter_content_timeout;
	uint64_t off = 0;
	ssize_t n;
	int rc = 0;

	while (*res == MILTER_CONTINUE &&
	    (n = body_read(ms, off, chunk, MILTER_CHUNK)) != 0) {
		if (n < 0) {
			*res = MILTER_TEMPFAIL;
			smtp_reply_set(r, 451, "4.3.0", "Local error");
			rc = -1;
			break;
		}
		off += (uint64_t)n;
		const char *why = NULL;

		if (send_cmd(ms, m, MILTER_EOM, C_BODY, chunk, (size_t)n,
		    now_ms() + (int64_t)t * 1000, &why) < 0) {
			*res = milter_fail(ms, m, "body", why);
			*r = m->reply;
			rc = -1;
		} else if ((m->proto & P_NR_BODY) == 0) {
			why = NULL;
			if (read_packet(ms, m, now_ms() + (int64_t)t * 1000,
			    &why) == 0 && ms->in.data[0] == R_SKIP &&
			    ms->in.len == 1)
				break;
			if (why == NULL && verdict_of(ms, m, MILTER_EOM, r,
			    res) < 0)
				why = "unexpected reply";
			if (why != NULL) {
				*res = milter_fail(ms, m, "body", why);
				*r = m->reply;
				rc = -1;
			}
		}
	}
	free(chunk);
	return rc;
}

/* Header fields and end of header to one milter. */
static int
send_headers(struct milter_set *ms, struct milter *m, struct smtp_reply *r,
    enum milter_result *res)
{
	unsigned t = ms->conf->milter_content_timeout;
	struct buf d = BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < ms->nhdrs && (m->proto & P_NOHDRS) == 0 &&
	    *res == MILTER_CONTINUE && rc == 0; i++) {
		const char *v = ms->hdrs[i].value;

		if (ms->hdrs[i].deleted)
			continue;
		if ((m->proto & P_HDR_LEADSPC) == 0 && *v == ' ')
			v++;
		buf_reset(&d);
		put_str(&d, ms->hdrs[i].name);
		put_str(&d, v);
		rc = milter_event(ms, m, MILTER_EOH, C_HEADER, d.data, d.len,
		    (m->proto & P_NR_HDR) != 0, t, r, res);
	}
	buf_free(&d);
	if (rc == 0 && *res == MILTER_CONTINUE && (m->proto & P_NOEOH) == 0)
		rc = milter_event(ms, m, MILTER_EOH, C_EOH, "", 0,
		    (m->proto & P_NR_EOH) != 0, t, r, res);
	return rc;
}

enum milter_result
milter_eom(struct milter_set *ms, struct smtp_reply *r)
{
	enum milter_result res = MILTER_CONTINUE;

	if (!ms->write_failed && ms->body_out.len > 0)
		(void)flush_body(ms);
	if (ms->write_failed) {
		smtp_reply_set(r, 451, "4.3.0", "Local error, try again later");
		return MILTER_TEMPFAIL;
	}
	for (size_t i = 0; i < ms->n && res == MILTER_CONTINUE; i++) {
		struct milter *m = &ms->m[i];

		if (m->state == M_FAILED || m->state == M_REJECT_CON) {
			res = m->verdict;
			*r = m->reply;
			continue;
		}
		if (m->state != M_OPEN)
			continue;
		if (send_headers(ms, m, r, &res) < 0 || res != MILTER_CONTINUE)
			continue;
		if ((m->proto & P_NOBODY) == 0 &&
		    (send_body(ms, m, r, &res) < 0 || res != MILTER_CONTINUE))
			continue;
		(void)milter_event(ms, m, MILTER_EOM, C_BODYEOB, "", 0, false,
		    ms->conf->milter_content_timeout, r, &res);
		if (m->state == M_ACCEPT_MSG)
			m->state = M_OPEN;
	}
	return res;
}

/* --- writing the modified message ------------------------------------- */

static int
write_header(const struct header *h, struct buf *line, milter_line_fn fn,
    void *arg)
{
	const char *v = h->value, *nl;

	buf_reset(line);
	buf_printf(line, "%s:", h->name);
	for (;;) {
		nl = strchr(v, '\n');
		buf_append(line, v, nl != NULL ? (size_t)(nl - v) : strlen(v));
		if (fn(arg, line->data, line->len) < 0)
			return -1;
		if (nl == NULL)
			return 0;
		buf_reset(line);
		v = nl + 1;
	}
}

int
milter_write_message(struct milter_set *ms, milter_line_fn fn, void *arg)
{
	struct buf line = BUF_INIT, chunk = BUF_INIT;
	uint64_t off = 0;
	ssize_t n;
	int rc = 0;

	buf_reserve(&line, 1);
	for (size_t i = 0; i < ms->nhdrs && rc == 0; i++)
		if (!ms->hdrs[i].deleted)
			rc = write_header(&ms->hdrs[i], &line, fn, arg);
	if (rc == 0)
		rc = fn(arg, "", 0);
	buf_reserve(&chunk, IO_CHUNK);
	buf_reserve(&line, 1);
	buf_reset(&line);
	while (rc == 0 && (n = body_read(ms, off, chunk.data, IO_CHUNK)) != 0) {
		const char *p = chunk.data, *end, *nl;

		if (n < 0) {
			rc = -1;
			break;
		}
		off += (uint64_t)n;
		end = p + n;
		while (rc == 0 && (nl = memchr(p, '\n', (size_t)(end - p)))) {
			buf_append(&line, p, (size_t)(nl - p));
			if (line.len > 0 && line.data[line.len - 1] == '\r')
				line.len--;
			rc = fn(arg, line.data, line.len);
			buf_reset(&line);
			p = nl + 1;
		}
		buf_append(&line, p, (size_t)(end - p));
	}
	if (rc == 0 && line.len > 0)
		rc = fn(arg, line.data, line.len);
	buf_free(&line);
	buf_free(&chunk);
	return rc;
}
