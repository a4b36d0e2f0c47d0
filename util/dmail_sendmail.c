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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "queue_info.h"
#include "spool.h"
#include "stream.h"
#include "sys.h"
#include "util.h"

#ifndef DMAIL_SYSCONFDIR
#define DMAIL_SYSCONFDIR "/etc/dmail"
#endif

#define SMTP_TIMEOUT_MS 120000
#define REPLY_LINE_MAX 2048
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

static void
usage(void)
{
	fprintf(stderr, "usage: dmail-sendmail [-C FILE] [-t] [-i] "
	    "[-f FROM] [-F NAME] [RCPT...]\n"
	    "       dmail-sendmail [-C FILE] -bp\n");
	exit(EX_USAGE);
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

/* Read a (multi-line) reply; returns the code, 0 on trouble. */
static int
smtp_reply(struct stream *s, char *text, size_t len)
{
	struct buf line = BUF_INIT;
	enum line_ending e;
	int code = 0;

	text[0] = '\0';
	for (;;) {
		if (stream_read_line(s, &line, REPLY_LINE_MAX, &e) != STREAM_OK ||
		    line.len < 3 || !isdigit((unsigned char)line.data[0])) {
			code = 0;
			break;
		}
		code = atoi(line.data);
		snprintf(text, len, "%s", line.data);
		if (line.len == 3 || line.data[3] != '-')
			break;
	}
	buf_free(&line);
	return code;
}

static int
connect_smtp(const struct dmail_conf *conf)
{
	for (size_t i = 0; i < conf->listen_count; i++) {
		const struct listen_addr *la = &conf->listen[i];
		struct sockaddr_storage ss = la->ss;
		struct timeval tv = { 10, 0 };
		int fd;

		if (la->role != ROLE_SMTP)
			continue;
		/* A wildcard listener is reached on loopback. */
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
				sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
				s6->sin6_addr = in6addr_loopback;
		}
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&ss, la->sslen) == 0)
			return fd;
		close(fd);
	}
	return -1;
}

/*
 * Submit to the local server. Sets each recipient's fate. Returns 0 when
 * the conversation ended normally (some recipients may be left for the
 * maildrop), -1 when the server is unusable (everything not refused goes
 * to the maildrop), -2 when the server refused the message itself
 * (5xx after MAIL or DATA; reply in why).
 */
static int
smtp_submit(const struct dmail_conf *conf, const char *sender,
    const struct buf *msg, bool verbose, char *why, size_t whylen)
{
	struct stream *s;
	char text[REPLY_LINE_MAX + 1];
	size_t accepted = 0;
	int fd, code, rc = -1;

	fd = connect_smtp(conf);
	if (fd < 0)
		return -1;
	s = stream_new(fd, fd);
	stream_set_timeout(s, SMTP_TIMEOUT_MS);
#define EXPECT(cls) do {                                                    \
		code = smtp_reply(s, text, sizeof(text));                   \
		if (verbose)                                                \
			fprintf(stderr, "<<< %s\n", text);                  \
		if (code / 100 != (cls))                                    \
			goto bad_reply;                                     \
	} while (0)
	EXPECT(2);
	stream_printf(s, "EHLO %s\r\n", conf->hostname);
	EXPECT(2);
	stream_printf(s, "MAIL FROM:<%s>\r\n", sender);
	EXPECT(2);
	for (size_t i = 0; i < nrcpts; i++) {
		if (rcpts[i].fate != FATE_NONE)
			continue;
		stream_printf(s, "RCPT TO:<%s>\r\n", rcpts[i].addr);
		code = smtp_reply(s, text, sizeof(text));
		if (verbose)
			fprintf(stderr, "<<< %s\n", text);
		snprintf(rcpts[i].reply, sizeof(rcpts[i].reply), "%.255s", text);
		if (code / 100 == 2) {
			rcpts[i].fate = FATE_SENT;
			accepted++;
		} else if (code / 100 == 5 && strstr(text, "5.7.1") == NULL) {
			rcpts[i].fate = FATE_REFUSED;
		} else if (code == 0) {
			goto bad_reply;
		}
		/* 4xx and relay refusals stay FATE_NONE: maildrop */
	}
	if (accepted == 0) {
		stream_printf(s, "QUIT\r\n");
		stream_flush(s);
		rc = 0;
		goto out;
	}
	stream_printf(s, "DATA\r\n");
	EXPECT(3);
	for (size_t off = 0; off < msg->len;) {
		const char *l = msg->data + off;
		const char *nl = memchr(l, '\n', msg->len - off);
		size_t n = nl != NULL ? (size_t)(nl - l) : msg->len - off;

		if (n > 0 && l[0] == '.')
			stream_write(s, ".", 1);
		stream_write(s, l, n);
		stream_write(s, "\r\n", 2);
		off += n + 1;
	}
	stream_printf(s, ".\r\n");
	EXPECT(2);
	stream_printf(s, "QUIT\r\n");
	stream_flush(s);
	rc = 0;
	goto out;
bad_reply:
	if (code / 100 == 5) {
		snprintf(why, whylen, "%s", text);
		rc = -2;
	} else {
		/* Nothing was accepted for good: the maildrop takes all. */
		for (size_t i = 0; i < nrcpts; i++)
			if (rcpts[i].fate == FATE_SENT)
				rcpts[i].fate = FATE_NONE;
		snprintf(why, whylen, "%s", code ? text : "connection failed");
		rc = -1;
	}
out:
#undef EXPECT
	stream_free(s);
	close(fd);
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

/* --- -bp ------------------------------------------------------------ */

static void
list_dir(const struct dmail_conf *conf, const char *sub, size_t *total,
    int *status)
{
	struct buf dir = BUF_INIT, path = BUF_INIT, err = BUF_INIT;
	struct dirent *de;
	DIR *d;
	time_t now = time(NULL);

	spool_path(conf, sub, NULL, &dir);
	if ((d = opendir(dir.data)) == NULL) {
		if (errno != ENOENT) {
			fprintf(stderr, "dmail-sendmail: %s: %s\n", dir.data,
			    strerror(errno));
			*status = EX_NOPERM;
		}
		buf_free(&dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct spool_envelope env;
		struct qinfo qi;
		struct stat st;
		char when[32];
		time_t arr;
		struct tm tm;

		if (de->d_name[0] == '.')
			continue;
		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir.data, de->d_name);
		buf_reset(&err);
		if (stat(path.data, &st) < 0 ||
		    spool_read(path.data, &env, &err) < 0) {
			fprintf(stderr, "dmail-sendmail: %s\n", err.len ?
			    err.data : strerror(errno));
			continue;
		}
		arr = (time_t)env.arrival;
		localtime_r(&arr, &tm);
		strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
		printf("%-22s%c %9lld  %s  age %llds  %s\n", env.id,
		    strcmp(sub, "maildrop") == 0 ? '!' : ' ',
		    (long long)(st.st_size - env.message_offset), when,
		    (long long)(now - arr), *env.sender ? env.sender : "<>");
		/* The queue manager's side file: last error, hold. */
		if (strcmp(sub, "queue") == 0) {
			spool_path(conf, "defer", env.id, &path);
			(void)qinfo_read(path.data, &qi, env.rcpt_count);
		} else {
			qinfo_init(&qi, env.rcpt_count);
		}
		if (qi.hold)
			printf("%48s(on hold)\n", "");
		for (size_t i = 0; i < env.rcpt_count; i++) {
			const struct qinfo_rcpt *qr = &qi.rcpts[i];

			if (env.rcpts[i].state != SPOOL_PENDING)
				continue;
			printf("%48s%s\n", "", env.rcpts[i].address);
			if (qr->text != NULL)
				printf("%48s  (%s%s%s)\n", "", qr->text,
				    qr->remote ? " from " : "",
				    qr->remote ? qr->remote : "");
		}
		qinfo_free(&qi);
		printf("\n");
		(*total)++;
		spool_envelope_free(&env);
	}
	closedir(d);
	buf_free(&dir);
	buf_free(&path);
	buf_free(&err);
}

static int
list_queue(const struct dmail_conf *conf)
{
	size_t total = 0;
	int status = 0;

	list_dir(conf, "queue", &total, &status);
	list_dir(conf, "maildrop", &total, &status);
	if (total == 0 && status == 0)
		printf("Mail queue is empty\n");
	else if (total > 0)
		printf("-- %zu message%s in the queue ('!': in the maildrop, "
		    "not yet picked up)\n", total, total == 1 ? "" : "s");
	return status;
}

/* --- main ----------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct opts o = { DMAIL_SYSCONFDIR "/dmail.conf", NULL, NULL, false,
		false, false, false };
	struct dmail_conf conf;
	struct buf err = BUF_INIT, msg = BUF_INIT, out = BUF_INIT,
	    sender = BUF_INIT, hdrs = BUF_INIT, date = BUF_INIT;
	struct passwd *pw = getpwuid(getuid());
	const char *login = pw != NULL ? pw->pw_name : "nobody";
	const char *domain;
	char why[REPLY_LINE_MAX + 1] = "", id[SPOOL_ID_MAX];
	size_t hlen, refused = 0, dropped = 0;
	bool blank;
	int first, rc, status = 0;

	log_open("dmail-sendmail", LOG_TO_STDERR, LOG_LEVEL_ERROR);
	sys_fault_init();
	version_option(argc, argv, "dmail-sendmail");
	first = parse_args(argc, argv, &o);
	{
		/* Installed as "mailq": list the queue, as sendmail does. */
		const char *base = strrchr(argv[0], '/');
		base = base != NULL ? base + 1 : argv[0];
		if (strcmp(base, "mailq") == 0)
			o.list_queue = true;
	}
	if (conf_load_file(o.conf_path, &conf, &err) != 0) {
		fprintf(stderr, "dmail-sendmail: %s", err.data);
		buf_free(&err);
		return EX_CONFIG;
	}
	if (o.list_queue) {
		status = list_queue(&conf);
		goto out;
	}
	domain = conf.local_domains.count > 0 ? conf.local_domains.items[0] :
	    conf.hostname;
	default_domain = domain;
	for (int i = first; i < argc; i++)
		parse_address_list(argv[i]);
	if (o.from != NULL) {
		const char *f = o.from;
		size_t n = strlen(f);
		if (n >= 2 && f[0] == '<' && f[n - 1] == '>')
			buf_append(&sender, f + 1, n - 2);
		else
			buf_set(&sender, f);
	} else {
		buf_printf(&sender, "%s@%s", login, domain);
	}
	if (strpbrk(sender.data, "\r\n<> ") != NULL) {
		fprintf(stderr, "dmail-sendmail: bad sender address '%s'\n",
		    sender.data);
		status = EX_USAGE;
		goto out;
	}

	rc = read_message(o.ignore_dots, conf.max_message_size, &msg);
	if (rc == -1) {
		fprintf(stderr, "dmail-sendmail: message larger than "
		    "max_message_size (%llu bytes)\n",
		    (unsigned long long)conf.max_message_size);
		status = EX_DATAERR;
		goto out;
	}
	if (rc == -2) {
		fprintf(stderr, "dmail-sendmail: reading the message: %s\n",
		    strerror(errno));
		status = EX_IOERR;
		goto out;
	}
	/* An mbox "From " line (scripts piping mailbox text) is dropped,
	 * as sendmail does. */
	if (msg.len > 5 && strncmp(msg.data, "From ", 5) == 0) {
		const char *nl = memchr(msg.data, '\n', msg.len);
		buf_consume(&msg, nl != NULL ? (size_t)(nl - msg.data) + 1 :
		    msg.len);
	}
	hlen = header_length(msg.data != NULL ? msg.data : "", msg.len,
	    &blank);
	process_headers(buf_cstr(&msg), hlen, o.extract, &hdrs);
	if (nrcpts == 0) {
		fprintf(stderr, "dmail-sendmail: no recipients given%s\n",
		    o.extract ? " (and none in To/Cc/Bcc)" : "");
		status = EX_USAGE;
		goto out;
	}

	/* The message as submitted: our Received, the client's header,
	 * what was missing, the body. */
	rfc5322_date(time(NULL), false, &date);
	buf_printf(&out, "Received: by %s (dmail-sendmail, from uid %ld);\n"
	    "\t%s\n", conf.hostname, (long)getuid(), date.data);
	buf_append(&out, hdrs.data != NULL ? hdrs.data : "", hdrs.len);
	if (!has_field(buf_cstr(&msg), hlen, "Date"))
		buf_printf(&out, "Date: %s\n", date.data);
	if (!has_field(buf_cstr(&msg), hlen, "Message-ID")) {
		buf_append_str(&out, "Message-ID: ");
		message_id(conf.hostname, &out);
		buf_append_char(&out, '\n');
	}
	if (!has_field(buf_cstr(&msg), hlen, "From")) {
		const char *name = o.full_name;
		char gecos[256] = "";

		if (name == NULL && pw != NULL && pw->pw_gecos != NULL) {
			snprintf(gecos, sizeof(gecos), "%s", pw->pw_gecos);
			gecos[strcspn(gecos, ",")] = '\0';
			name = gecos;
		}
		buf_append_str(&out, "From: ");
		if (name != NULL && *name) {
			append_phrase(&out, name);
			buf_printf(&out, " <%s>\n",
			    *sender.data ? sender.data : "MAILER-DAEMON");
		} else {
			buf_printf(&out, "%s\n", *sender.data ? sender.data :
			    "MAILER-DAEMON");
		}
	}
	buf_append_char(&out, '\n');
	if (msg.len > hlen)
		buf_append(&out, msg.data + hlen + (blank ? 1 : 0),
		    msg.len - hlen - (blank ? 1 : 0));

	rc = smtp_submit(&conf, sender.data, &out, o.verbose, why,
	    sizeof(why));
	if (rc == -2) {
		fprintf(stderr, "dmail-sendmail: the server refused the "
		    "message: %s\n", why);
		status = EX_UNAVAILABLE;
		goto out;
	}
	for (size_t i = 0; i < nrcpts; i++) {
		if (rcpts[i].fate == FATE_REFUSED) {
			fprintf(stderr, "dmail-sendmail: <%s>: %s\n",
			    rcpts[i].addr, rcpts[i].reply);
			refused++;
		} else if (rcpts[i].fate == FATE_NONE) {
			dropped++;
		}
	}
	if (dropped > 0) {
		if (o.verbose)
			fprintf(stderr, "dmail-sendmail: queueing %zu "
			    "recipient(s) in the maildrop (%s)\n", dropped,
			    *why ? why : "deferred by the server");
		if (maildrop_write(&conf, sender.data, &out, id) < 0)
			status = EX_TEMPFAIL;
		else if (o.verbose)
			fprintf(stderr, "dmail-sendmail: queued as %s\n", id);
	}
	if (status == 0 && refused > 0)
		status = EX_NOUSER;
out:
	for (size_t i = 0; i < nrcpts; i++)
		free(rcpts[i].addr);
	free(rcpts);
	conf_free(&conf);
	buf_free(&err);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&sender);
	buf_free(&hdrs);
	buf_free(&date);
	return status;
}
