/*
 * dmail_sendmail.c - dmail-sendmail: the sendmail(8)-compatible mail
 * injector for cron, PHP mail() and scripts. Needs no privileges.
 *
 *     dmail-sendmail [-C FILE] [-t] [-i|-oi] [-f FROM] [-F NAME] [RCPT...]
 *     dmail-sendmail -bp            (list the queue; also when run
 *                                    under the name "mailq")
 *
 * The message is read from standard input (a line with a single "." ends
 * it unless -i/-oi), completed (Date, Message-ID and From added when
 * missing, Bcc removed, lines over 990 octets split, a Received: line
 * naming the submitting uid) and
 * submitted over SMTP to the local DMail: the first smtp_listen address
 * of the configuration (a wildcard address is reached through loopback).
 *
 * If the server cannot be reached, or answers with a temporary failure,
 * or refuses to relay for a recipient (a local user may send anywhere,
 * as with any sendmail), the message is written durably to the maildrop
 * directory state_dir/spool/maildrop/ (mode 1733; format in spool.h:
 * written as .ID.tmp, fsync'd, renamed, directory fsync'd) for the queue
 * manager to pick up, so it is never lost. Only then is success
 * reported.
 *
 * Unknown sendmail options are accepted and ignored as sendmail does:
 * -o*, -B TYPE, -N DSN, -R RET, -V ENVID, -X LOG, -L TAG, -h N, -v, -m,
 * -n, -U, -G, -A*, -q*, -bm. -r is an old name of -f.
 *
 * Exit status (sysexits.h): 0 sent or queued, 64 usage, 65 bad input
 * (too large), 67 a recipient was refused as unknown, 69 the server
 * refused the message, 75 could neither submit nor queue (try again),
 * 78 configuration unreadable.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "queue_cmds.h"
#include "smtp_client.h"
#include "spool.h"
#include "sys.h"
#include "tool.h"
#include "util.h"

#define SMTP_TIMEOUT_MS 120000   /* each wait of the SMTP dialogue */
#define CONNECT_TIMEOUT_MS 10000
#define LINE_SPLIT 990           /* longer input lines are split */

enum rcpt_fate { FATE_NONE = 0, FATE_SENT, FATE_DROP, FATE_REFUSED };

struct rcpt {
	char *addr;
	enum rcpt_fate fate;
	char reply[256];
};

struct opts {
	const char *conf_path;
	const char *from;
	const char *full_name;
	bool extract;            /* -t */
	bool ignore_dots;        /* -i, -oi */
	bool list_queue;         /* -bp */
	bool verbose;
};

static struct rcpt *rcpts;
static size_t nrcpts;
static const char *default_domain = "localhost";

static const char *const usage_lines[] = {
	"[-C FILE] [-t] [-i] [-f FROM] [-F NAME] [RCPT...]",
	"[-C FILE] -bp",
	NULL };

static struct tool tool = {
	.name = "dmail-sendmail",
	.usage = usage_lines,
	.usage_status = EX_USAGE,
	.conf_status = EX_CONFIG,
	.log_level = LOG_LEVEL_ERROR,
};

static void __attribute__((noreturn))
usage(void)
{
	tool_usage(&tool);
}

static void
add_rcpt(const char *addr)
{
	for (size_t i = 0; i < nrcpts; i++)
		if (strcasecmp(rcpts[i].addr, addr) == 0)
			return;
	rcpts = xrealloc(rcpts, (nrcpts + 1) * sizeof(*rcpts));
	memset(&rcpts[nrcpts], 0, sizeof(*rcpts));
	rcpts[nrcpts++].addr = xstrdup(addr);
}

/* Options that take an argument (attached or as the next word). */
static const char *
opt_value(char **argv, int *i, const char *rest)
{
	if (*rest != '\0')
		return rest;
	if (argv[*i + 1] == NULL)
		usage();
	return argv[++*i];
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		switch (a[1]) {
		case 'C':
			o->conf_path = opt_value(argv, &i, a + 2);
			break;
		case 'f':
		case 'r':
			o->from = opt_value(argv, &i, a + 2);
			break;
		case 'F':
			o->full_name = opt_value(argv, &i, a + 2);
			break;
		case 't':
			o->extract = true;
			break;
		case 'i':
			o->ignore_dots = true;
			break;
		case 'o':
			if (a[2] == 'i' && a[3] == '\0')
				o->ignore_dots = true;
			else if (a[2] == '\0' && argv[i + 1] != NULL)
				i++;        /* Postfix style "-o name=value" */
			break;
		case 'b':
			if (strcmp(a, "-bp") == 0)
				o->list_queue = true;
			else if (strcmp(a, "-bm") != 0) {
				fprintf(stderr, "dmail-sendmail: mode %s is not "
				    "supported (use -bm or -bp; aliases are "
				    "rebuilt with dmail-newaliases)\n", a);
				exit(EX_USAGE);
			}
			break;
		case 'B': case 'N': case 'R': case 'V': case 'X': case 'L':
		case 'h':
			(void)opt_value(argv, &i, a + 2);
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'I':
			fprintf(stderr, "dmail-sendmail: use dmail-newaliases "
			    "to rebuild the aliases database\n");
			exit(EX_USAGE);
		default:
			/* -m -n -U -G -A* -q* -c -e* -s ...: ignored as
			 * sendmail ignores obsolete flags. */
			break;
		}
	}
	return i;
}

/* --- the message ---------------------------------------------------- */

/* Read stdin into msg with LF line ends. -1 too large, -2 I/O error. */
static int
read_message(bool ignore_dots, uint64_t max, struct buf *msg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool in_header = true;
	int rc = 0;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (!ignore_dots && n == 1 && line[0] == '.')
			break;
		if (msg->len + (size_t)n + 1 + (size_t)n / LINE_SPLIT > max) {
			rc = -1;
			break;
		}
		/* SMTP allows 998 octets a line; scripts write longer ones.
		 * Split them (a header line continues with a blank). */
		for (ssize_t off = 0; off < n || off == 0; off += LINE_SPLIT) {
			ssize_t k = n - off > LINE_SPLIT ? LINE_SPLIT : n - off;
			if (off > 0 && in_header)
				buf_append_char(msg, ' ');
			buf_append(msg, line + off, (size_t)k);
			buf_append_char(msg, '\n');
			if (n == 0)
				break;
		}
		if (n == 0)
			in_header = false;
	}
	if (ferror(stdin))
		rc = -2;
	free(line);
	return rc;
}

/* Length of the header section of msg (up to and including the empty
 * line, or up to the first line that is not a header field). *blank is
 * set when an empty separator line is there. */
static size_t
header_length(const char *msg, size_t len, bool *blank)
{
	size_t off = 0;

	*blank = false;
	while (off < len) {
		const char *l = msg + off, *nl = memchr(l, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
		size_t k = 0;

		if (n == 0) {
			*blank = true;
			return off;
		}
		if (l[0] != ' ' && l[0] != '\t') {
			while (k < n && l[k] > 32 && l[k] < 127 && l[k] != ':')
				k++;
			if (k == 0 || k == n || l[k] != ':')
				return off;    /* not a header field */
		} else if (off == 0) {
			return 0;
		}
		off += n + (nl != NULL);
	}
	return off;
}

/* Is there a field called name in the header section? */
static bool
has_field(const char *h, size_t hlen, const char *name)
{
	size_t nlen = strlen(name);

	for (size_t off = 0; off < hlen;) {
		const char *nl = memchr(h + off, '\n', hlen - off);
		if (hlen - off > nlen && strncasecmp(h + off, name, nlen) == 0 &&
		    h[off + nlen] == ':')
			return true;
		if (nl == NULL)
			break;
		off = (size_t)(nl - h) + 1;
	}
	return false;
}

/* Split an RFC 5322 address list into addr-specs. */
static void
parse_address_list(const char *s)
{
	struct buf elem = BUF_INIT, angle = BUF_INIT;
	bool in_quote = false, in_angle = false, had_angle = false;
	int comment = 0;

	for (const char *p = s;; p++) {
		char c = *p;

		if (c == '\0' || (!in_quote && !in_angle && comment == 0 &&
		    (c == ',' || c == ';' || c == ':'))) {
			if (c == ':') {          /* group name: forget it */
				buf_reset(&elem);
				continue;
			}
			const char *a = had_angle ? angle.data : elem.data;
			char *t = xstrdup(a != NULL ? a : "");
			char *tt = str_trim(t);
			char *colon;

			/* source route "@a,@b:user@dom" */
			if (*tt == '@' && (colon = strchr(tt, ':')) != NULL)
				tt = colon + 1;
			if (*tt == '\0') {
				/* empty element */
			} else if (strchr(tt, ' ') != NULL && *tt != '"') {
				fprintf(stderr, "dmail-sendmail: ignoring "
				    "'%s': not an address\n", tt);
			} else if (strchr(tt, '@') != NULL) {
				add_rcpt(tt);
			} else {
				/* a local user name, as sendmail allows */
				struct buf full = BUF_INIT;
				buf_printf(&full, "%s@%s", tt, default_domain);
				add_rcpt(full.data);
				buf_free(&full);
			}
			free(t);
			buf_reset(&elem);
			buf_reset(&angle);
			had_angle = false;
			if (c == '\0')
				break;
			continue;
		}
		if (comment > 0) {
			if (c == '\\' && p[1] != '\0')
				p++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (in_quote) {
			if (c == '\\' && p[1] != '\0') {
				buf_append_char(in_angle ? &angle : &elem, c);
				c = *++p;
			} else if (c == '"') {
				in_quote = false;
			}
			buf_append_char(in_angle ? &angle : &elem, c);
			continue;
		}
		if (c == '"') {
			in_quote = true;
			buf_append_char(in_angle ? &angle : &elem, c);
		} else if (c == '(') {
			comment = 1;
		} else if (c == '<' && !in_angle) {
			in_angle = true;
			had_angle = true;
			buf_reset(&angle);
		} else if (c == '>' && in_angle) {
			in_angle = false;
		} else if (c != '\n' && c != '\r' && c != ' ' && c != '\t') {
			buf_append_char(in_angle ? &angle : &elem, c);
		} else if (!in_angle && elem.len > 0) {
			/* blanks between display-name words: keep a space so
			 * "John Doe" never looks like an address */
			buf_append_char(&elem, ' ');
		}
	}
	buf_free(&elem);
	buf_free(&angle);
}

/*
 * Walk the header section: collect To/Cc/Bcc recipients (with -t) and
 * drop Bcc fields. Returns the new header section in out.
 */
static void
process_headers(const char *h, size_t hlen, bool extract, struct buf *out)
{
	size_t off = 0;

	while (off < hlen) {
		size_t start = off, end;
		const char *nl;
		bool bcc, addr_field;

		/* one field with its continuation lines */
		do {
			nl = memchr(h + off, '\n', hlen - off);
			off = nl != NULL ? (size_t)(nl - h) + 1 : hlen;
		} while (off < hlen && (h[off] == ' ' || h[off] == '\t'));
		end = off;
		bcc = strncasecmp(h + start, "Bcc:", 4) == 0;
		addr_field = bcc || strncasecmp(h + start, "To:", 3) == 0 ||
		    strncasecmp(h + start, "Cc:", 3) == 0;
		if (extract && addr_field) {
			char *v = xstrndup(h + start, end - start);
			parse_address_list(strchr(v, ':') + 1);
			free(v);
		}
		if (!bcc)
			buf_append(out, h + start, end - start);
	}
}

/* A display name, quoted when it has specials. */
static void
append_phrase(struct buf *b, const char *name)
{
	bool plain = true;

	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr(" !#$%&'*+-/=?^_`{|}~",
		    *p) == NULL)
			plain = false;
	if (plain) {
		buf_append_str(b, name);
		return;
	}
	buf_append_char(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '\r' || *p == '\n')
			continue;
		if (*p == '"' || *p == '\\')
			buf_append_char(b, '\\');
		buf_append_char(b, *p);
	}
	buf_append_char(b, '"');
}

/* --- submission over SMTP ------------------------------------------- */

/* -v: the SMTP dialogue on stderr. */
static void
trace_stderr(bool sent, const char *line, size_t len)
{
	fprintf(stderr, "%s %.*s\n", sent ? ">>>" : "<<<", (int)len, line);
}

/* The address of a listener: a wildcard one is reached on loopback. */
static void
listener_addr(const struct listen_addr *la, struct dns_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->ss = la->ss;
	a->len = la->sslen;
	if (a->ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (a->ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
	}
}

/* A session with the first smtp_listen address that greets us; NULL
 * with the last failure in *err. */
static struct smtpc *
open_local(const struct dmail_conf *conf, const struct smtpc_conf *cc,
    struct smtpc_reply *err)
{
	err->code = 0;
	err->at = SMTPC_AT_SESSION;
	snprintf(err->text, sizeof(err->text), "no smtp_listen address");
	for (size_t i = 0; i < conf->listen_count; i++) {
		struct dns_addr a;
		struct smtpc *c;

		if (conf->listen[i].role != ROLE_SMTP)
			continue;
		listener_addr(&conf->listen[i], &a);
		c = smtpc_open(cc, &a, "localhost", err);
		if (c != NULL || err->code / 100 == 5)
			return c;
	}
	return NULL;
}

/* The message in a memory file for smtpc_send(); -1 with errno. */
static int
message_memfd(const struct buf *msg)
{
	int fd = memfd_create("dmail-sendmail", MFD_CLOEXEC);

	if (fd >= 0 && write_all(fd, msg->data != NULL ? msg->data : "",
	    msg->len) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * A recipient's fate from its final reply. The message itself refused
 * (5xx to MAIL, DATA or the final dot) returns true with the reply in
 * why. A recipient refused as unknown is FATE_REFUSED; one refused for
 * relaying (5.7.1: a local user may send anywhere, the queue manager
 * takes it) or answered 4xx or not at all stays FATE_NONE, for the
 * maildrop.
 */
static bool
rcpt_fate(struct rcpt *r, const struct smtpc_reply *res, char *why,
    size_t whylen)
{
	snprintf(r->reply, sizeof(r->reply), "%.255s", res->text);
	if (res->code / 100 == 2) {
		r->fate = FATE_SENT;
	} else if (res->code / 100 == 5 && res->at != SMTPC_AT_RCPT) {
		snprintf(why, whylen, "%s", res->text);
		return true;
	} else if (res->code / 100 == 5 && strstr(res->text, "5.7.1") ==
	    NULL) {
		r->fate = FATE_REFUSED;
	} else if (res->code == 0) {
		snprintf(why, whylen, "%s", res->text);
	}
	return false;
}

/*
 * Submit to the local server through the SMTP client (smtp_client.h).
 * Sets each recipient's fate. Returns 0 when the conversation ended
 * normally (some recipients may be left for the maildrop), -1 when the
 * server is unusable (everything not refused goes to the maildrop; the
 * reason in why), -2 when the server refused the message itself (5xx to
 * the greeting, EHLO, MAIL, DATA or the final dot; the reply in why).
 */
static int
smtp_submit(const struct dmail_conf *conf, const char *sender,
    const struct buf *msg, bool verbose, char *why, size_t whylen)
{
	struct smtpc_conf cc = {
		.helo = conf->hostname,
		.connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.timeout_cap_ms = SMTP_TIMEOUT_MS,
		.peer_is_self = true,
		.trace = verbose ? trace_stderr : NULL,
	};
	const char **to = xcalloc(nrcpts + 1, sizeof(*to));
	struct smtpc_reply err, *res = xcalloc(nrcpts + 1, sizeof(*res));
	size_t *idx = xcalloc(nrcpts + 1, sizeof(*idx)), n = 0;
	struct smtpc *c = open_local(conf, &cc, &err);
	int fd = -1, rc = -1;

	if (c == NULL) {
		snprintf(why, whylen, "%s", err.text);
		rc = err.code / 100 == 5 ? -2 : -1;
		goto out;
	}
	if ((fd = message_memfd(msg)) < 0) {
		snprintf(why, whylen, "memfd: %s", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < nrcpts; i++)
		if (rcpts[i].fate == FATE_NONE) {
			idx[n] = i;
			to[n++] = rcpts[i].addr;
		}
	rc = smtpc_send(c, sender, to, n, fd, 0, NULL, res) < 0 ? -1 : 0;
	for (size_t k = 0; k < n; k++)
		if (rcpt_fate(&rcpts[idx[k]], &res[k], why, whylen))
			rc = -2;
out:
	if (c != NULL)
		smtpc_close(c, true);
	if (fd >= 0)
		close(fd);
	free(to);
	free(res);
	free(idx);
	return rc;
}

/* --- maildrop ------------------------------------------------------- */

static int
maildrop_write(const struct dmail_conf *conf, const char *sender,
    const struct buf *msg, char *id_out)
{
	struct spool_envelope env;
	struct buf dir = BUF_INIT, tmp = BUF_INIT, dst = BUF_INIT,
	    head = BUF_INIT, err = BUF_INIT;
	int fd = -1, saved;

	spool_envelope_init(&env);
	spool_new_id(env.id);
	env.arrival = time(NULL);
	env.sender = xstrdup(sender);
	env.uid = (long)getuid();
	for (size_t i = 0; i < nrcpts; i++)
		if (rcpts[i].fate == FATE_NONE)
			spool_envelope_add_rcpt(&env, rcpts[i].addr, NULL);
	spool_path(conf, "maildrop", NULL, &dir);
	if (access(dir.data, W_OK | X_OK) < 0)
		(void)spool_dirs(conf, &err);
	buf_printf(&tmp, "%s/.%s.tmp", dir.data, env.id);
	buf_printf(&dst, "%s/%s", dir.data, env.id);
	spool_envelope_format(&env, &head);
	fd = sys_open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	fchmod(fd, 0644);   /* readable by the queue manager's user */
	if (write_all(fd, head.data, head.len) < 0 ||
	    write_all(fd, msg->data, msg->len) < 0)
		goto fail_unlink;
	/* The maildrop is not readable for ordinary users (mode 1733):
	 * durable_publish() then makes the rename durable by syncfs(). */
	if (durable_publish(fd, tmp.data, dst.data, false) < 0) {
		fd = -1;            /* closed, nothing left behind */
		goto fail;
	}
	snprintf(id_out, SPOOL_ID_MAX, "%s", env.id);
	spool_wakeup(conf);
	spool_envelope_free(&env);
	buf_free(&dir);
	buf_free(&tmp);
	buf_free(&dst);
	buf_free(&head);
	buf_free(&err);
	return 0;
fail_unlink:
	saved = errno;
	unlink(tmp.data);
	errno = saved;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	fprintf(stderr, "dmail-sendmail: cannot queue in %s: %s\n", dir.data,
	    strerror(saved));
	spool_envelope_free(&env);
	buf_free(&dir);
	buf_free(&tmp);
	buf_free(&dst);
	buf_free(&head);
	buf_free(&err);
	return -1;
}

/* --- main ----------------------------------------------------------- */

/* -bp, or run as "mailq": the listing of tellsmtp queue (queue_cmds.h). */
static int
list_queue(const struct dmail_conf *conf)
{
	char *args[] = { (char *)"mailq", NULL };

	return queue_command(conf, 1, args) == 0 ? 0 : EX_NOPERM;
}

/* The envelope sender: -f (angle brackets taken off; a bare name gets
 * @domain) or login@domain.
 * -1 (said why) when it cannot be an address. */
static int
envelope_sender(const struct opts *o, const char *login, const char *domain,
    struct buf *sender)
{
	if (o->from != NULL) {
		const char *f = o->from;
		size_t n = strlen(f);
		if (n >= 2 && f[0] == '<' && f[n - 1] == '>')
			buf_append(sender, f + 1, n - 2);
		else
			buf_set(sender, f);
		/* A bare local name ("-f root", as cron gives) is qualified
		 * with the first local domain, as sendmail and Postfix do. */
		if (sender->len > 0 && strchr(sender->data, '@') == NULL)
			buf_printf(sender, "@%s", domain);
	} else {
		buf_printf(sender, "%s@%s", login, domain);
	}
	if (strpbrk(sender->data, "\r\n<> ") != NULL) {
		tool_error(&tool, "bad sender address '%s'", sender->data);
		return -1;
	}
	return 0;
}

/* Read the message from stdin into msg; 0 or an exit status (said
 * why). */
static int
read_input(const struct opts *o, const struct dmail_conf *conf,
    struct buf *msg)
{
	int rc = read_message(o->ignore_dots, conf->max_message_size, msg);

	if (rc == -1) {
		tool_error(&tool, "message larger than max_message_size (%llu "
		    "bytes)", (unsigned long long)conf->max_message_size);
		return EX_DATAERR;
	}
	if (rc == -2) {
		tool_error(&tool, "reading the message: %s", strerror(errno));
		return EX_IOERR;
	}
	/* An mbox "From " line (scripts piping mailbox text) is dropped,
	 * as sendmail does. */
	if (msg->len > 5 && strncmp(msg->data, "From ", 5) == 0) {
		const char *nl = memchr(msg->data, '\n', msg->len);
		buf_consume(msg, nl != NULL ? (size_t)(nl - msg->data) + 1 :
		    msg->len);
	}
	return 0;
}

/* The From: field when the message has none: the -F name, else the
 * GECOS name, and the sender. */
static void
add_from(struct buf *out, const struct opts *o, const struct passwd *pw,
    const char *sender)
{
	const char *name = o->full_name;
	char gecos[256] = "";

	if (name == NULL && pw != NULL && pw->pw_gecos != NULL) {
		snprintf(gecos, sizeof(gecos), "%s", pw->pw_gecos);
		gecos[strcspn(gecos, ",")] = '\0';
		name = gecos;
	}
	buf_append_str(out, "From: ");
	if (name != NULL && *name) {
		append_phrase(out, name);
		buf_printf(out, " <%s>\n", *sender ? sender : "MAILER-DAEMON");
	} else {
		buf_printf(out, "%s\n", *sender ? sender : "MAILER-DAEMON");
	}
}

/*
 * The message as submitted into out: our Received, the client's header
 * (hdrs: Bcc gone), what was missing (Date, Message-ID, From), the body
 * of msg (whose header section is hlen octets, then a blank line when
 * blank).
 */
static void
compose(const struct dmail_conf *conf, const struct opts *o,
    const struct passwd *pw, const char *sender, const struct buf *msg,
    size_t hlen, bool blank, const struct buf *hdrs, struct buf *out)
{
	struct buf date = BUF_INIT;

	rfc5322_date(time(NULL), false, &date);
	buf_printf(out, "Received: by %s (dmail-sendmail, from uid %ld);\n"
	    "\t%s\n", conf->hostname, (long)getuid(), date.data);
	buf_append(out, hdrs->data != NULL ? hdrs->data : "", hdrs->len);
	if (!has_field(buf_cstr(msg), hlen, "Date"))
		buf_printf(out, "Date: %s\n", date.data);
	if (!has_field(buf_cstr(msg), hlen, "Message-ID")) {
		buf_append_str(out, "Message-ID: ");
		message_id(conf->hostname, out);
		buf_append_char(out, '\n');
	}
	if (!has_field(buf_cstr(msg), hlen, "From"))
		add_from(out, o, pw, sender);
	buf_append_char(out, '\n');
	if (msg->len > hlen)
		buf_append(out, msg->data + hlen + (blank ? 1 : 0),
		    msg->len - hlen - (blank ? 1 : 0));
	buf_free(&date);
}

/* Submit, report refused recipients, queue the rest in the maildrop.
 * Returns the exit status. */
static int
submit(const struct dmail_conf *conf, const struct opts *o,
    const char *sender, const struct buf *out)
{
	char why[SMTPC_TEXT_MAX] = "", id[SPOOL_ID_MAX];
	size_t refused = 0, dropped = 0;
	int status = 0;

	if (smtp_submit(conf, sender, out, o->verbose, why, sizeof(why)) ==
	    -2) {
		tool_error(&tool, "the server refused the message: %s", why);
		return EX_UNAVAILABLE;
	}
	for (size_t i = 0; i < nrcpts; i++) {
		if (rcpts[i].fate == FATE_REFUSED) {
			tool_error(&tool, "<%s>: %s", rcpts[i].addr,
			    rcpts[i].reply);
			refused++;
		} else if (rcpts[i].fate == FATE_NONE) {
			dropped++;
		}
	}
	if (dropped > 0) {
		if (o->verbose)
			tool_error(&tool, "queueing %zu recipient(s) in the "
			    "maildrop (%s)", dropped,
			    *why ? why : "deferred by the server");
		if (maildrop_write(conf, sender, out, id) < 0)
			status = EX_TEMPFAIL;
		else if (o->verbose)
			tool_error(&tool, "queued as %s", id);
	}
	if (status == 0 && refused > 0)
		status = EX_NOUSER;
	return status;
}

/* Recipients, sender and message; then submit. The exit status. */
static int
sendmail(const struct dmail_conf *conf, const struct opts *o, int argc,
    char **argv, int first)
{
	struct buf msg = BUF_INIT, out = BUF_INIT, sender = BUF_INIT,
	    hdrs = BUF_INIT;
	struct passwd *pw = getpwuid(getuid());
	const char *domain = conf->local_domains.count > 0 ?
	    conf->local_domains.items[0] : conf->hostname;
	size_t hlen;
	bool blank;
	int status;

	default_domain = domain;
	for (int i = first; i < argc; i++)
		parse_address_list(argv[i]);
	if (envelope_sender(o, pw != NULL ? pw->pw_name : "nobody", domain,
	    &sender) < 0) {
		status = EX_USAGE;
		goto out;
	}
	if ((status = read_input(o, conf, &msg)) != 0)
		goto out;
	hlen = header_length(msg.data != NULL ? msg.data : "", msg.len,
	    &blank);
	process_headers(buf_cstr(&msg), hlen, o->extract, &hdrs);
	if (nrcpts == 0) {
		tool_error(&tool, "no recipients given%s", o->extract ?
		    " (and none in To/Cc/Bcc)" : "");
		status = EX_USAGE;
		goto out;
	}
	compose(conf, o, pw, sender.data, &msg, hlen, blank, &hdrs, &out);
	status = submit(conf, o, sender.data, &out);
out:
	buf_free(&msg);
	buf_free(&out);
	buf_free(&sender);
	buf_free(&hdrs);
	return status;
}

int
main(int argc, char **argv)
{
	struct opts o = { TOOL_CONF_PATH, NULL, NULL, false, false, false,
		false };
	struct dmail_conf conf;
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	int first, status;

	tool_start(&tool, argc, argv);
	first = parse_args(argc, argv, &o);
	/* Installed as "mailq": list the queue, as sendmail does. */
	base = base != NULL ? base + 1 : argc > 0 ? argv[0] : "";
	if (strcmp(base, "mailq") == 0)
		o.list_queue = true;
	tool_conf_load(&tool, o.conf_path, &conf);
	if (o.list_queue)
		status = list_queue(&conf);
	else
		status = sendmail(&conf, &o, argc, argv, first);
	for (size_t i = 0; i < nrcpts; i++)
		free(rcpts[i].addr);
	free(rcpts);
	conf_free(&conf);
	return status;
}
