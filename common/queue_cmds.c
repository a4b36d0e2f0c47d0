/*
 * queue_cmds.c - list and manage the outbound queue and the quarantine
 * of poison messages (see queue_cmds.h).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "poison.h"
#include "queue_cmds.h"
#include "queue_info.h"
#include "spool.h"
#include "util.h"

#define WAIT_MS 5000

static int list_quarantine(const struct dmail_conf *c, bool always);
static bool valid_id(const char *id);
static int send_control(const struct dmail_conf *c, const char *line);

bool
queue_command_known(const char *name)
{
	static const char *const names[] = { "queue", "mailq", "flush",
		"delete", "hold", "release", "quarantine" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static bool
valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= SPOOL_ID_MAX)
		return false;
	for (; *id; id++)
		if (!isalnum((unsigned char)*id))
			return false;
	return true;
}

void
queue_age_text(int64_t secs, char *out, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(out, len, "%llds", (long long)secs);
	else if (secs < 7200)
		snprintf(out, len, "%lldm", (long long)secs / 60);
	else if (secs < 172800)
		snprintf(out, len, "%lldh", (long long)secs / 3600);
	else
		snprintf(out, len, "%lldd", (long long)secs / 86400);
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_ids(char **ids, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(ids[k]);
	free(ids);
}

/* The message ids in spool directory sub, sorted. A missing directory
 * has none; -1 (message on stderr) when it cannot be read. */
static int
spool_ids(const struct dmail_conf *c, const char *sub, char ***ids,
    size_t *n)
{
	struct buf dir = BUF_INIT;
	struct dirent *de;
	DIR *d;

	*ids = NULL;
	*n = 0;
	spool_path(c, sub, NULL, &dir);
	d = opendir(dir.data);
	if (d == NULL) {
		int rc = errno == ENOENT ? 0 : -1;

		if (rc < 0)
			fprintf(stderr, "%s: %s\n", dir.data, strerror(errno));
		buf_free(&dir);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !valid_id(de->d_name))
			continue;
		*ids = xrealloc(*ids, (*n + 1) * sizeof(**ids));
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*ids, *n, sizeof(**ids), id_cmp);
	buf_free(&dir);
	return 0;
}

/* --- reading the queue (queue_select(), queue_entry_load()) ---------- */

const char *
queue_rcpt_state(char state)
{
	return state == SPOOL_PENDING ? "pending" :
	    state == SPOOL_DELIVERED ? "delivered" : "bounced";
}

static const char *const state_names[] = { "any", "active", "deferred",
	"held" };

const char *
queue_state_name(enum queue_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "?";
}

bool
queue_state_parse(const char *s, enum queue_state *out)
{
	for (unsigned i = 0; i < 4; i++)
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum queue_state)i;
			return true;
		}
	return false;
}

bool
queue_valid_id(const char *id)
{
	return id != NULL && valid_id(id);
}

/* One message of spool sub into e: 0, or -1 when it is gone (delivered
 * meanwhile) or unreadable. */
static int
entry_read(const struct dmail_conf *c, const char *sub, const char *id,
    struct queue_entry *e)
{
	struct buf p = BUF_INIT, err = BUF_INIT;
	struct stat st;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	spool_path(c, sub, id, &p);
	if (stat(p.data, &st) == 0 && spool_read(p.data, &e->env, &err) == 0) {
		uint64_t off = (uint64_t)e->env.message_offset;

		snprintf(e->id, sizeof(e->id), "%s", id);
		e->maildrop = strcmp(sub, "maildrop") == 0;
		e->size = (uint64_t)st.st_size > off ?
		    (uint64_t)st.st_size - off : 0;
		/* The queue manager's side file: attempts, errors, hold. */
		spool_path(c, "defer", id, &p);
		if (e->maildrop)
			qinfo_init(&e->qi, e->env.rcpt_count);
		else
			(void)qinfo_read(p.data, &e->qi, e->env.rcpt_count);
		e->state = e->qi.hold ? QUEUE_HELD : e->qi.attempts > 0 ?
		    QUEUE_DEFERRED : QUEUE_ACTIVE;
		rc = 0;
	}
	buf_free(&p);
	buf_free(&err);
	return rc;
}

int
queue_entry_load(const struct dmail_conf *c, const char *id,
    struct queue_entry *e)
{
	if (!queue_valid_id(id))
		return -1;
	if (entry_read(c, "queue", id, e) == 0)
		return 0;
	return entry_read(c, "maildrop", id, e);
}

void
queue_entry_free(struct queue_entry *e)
{
	spool_envelope_free(&e->env);
	qinfo_free(&e->qi);
}

int
queue_entry_headers(const struct dmail_conf *c, const struct queue_entry *e,
    struct buf *out)
{
	struct buf p = BUF_INIT;
	char *chunk = xmalloc(QUEUE_HEADERS_MAX);
	ssize_t n = -1;
	int fd;

	buf_reset(out);
	spool_path(c, e->maildrop ? "maildrop" : "queue", e->id, &p);
	fd = open(p.data, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = pread(fd, chunk, QUEUE_HEADERS_MAX, e->env.message_offset);
		close(fd);
	}
	if (n >= 0) {
		size_t len = (size_t)n;

		for (size_t i = 0; i + 1 < len; i++)
			if (chunk[i] == '\n' && (chunk[i + 1] == '\n' ||
			    (chunk[i + 1] == '\r' && i + 2 < len &&
			    chunk[i + 2] == '\n'))) {
				len = i + 1;
				break;
			}
		buf_append(out, chunk, len);
	}
	free(chunk);
	buf_free(&p);
	return n >= 0 ? 0 : -1;
}

/* Case-insensitive substring; an empty or NULL needle matches. */
static bool
contains(const char *hay, const char *needle)
{
	size_t n = needle != NULL ? strlen(needle) : 0;

	if (n == 0)
		return true;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static bool
in_domain(const char *addr, const char *domain)
{
	const char *at = strrchr(addr, '@');

	return at != NULL && strcasecmp(at + 1, domain) == 0;
}

static bool
entry_matches(const struct queue_entry *e, const struct queue_filter *f,
    int64_t now)
{
	bool rcpt = f->rcpt == NULL || *f->rcpt == '\0';
	bool domain = f->domain == NULL || *f->domain == '\0' ||
	    in_domain(e->env.sender, f->domain);

	if (f->state != QUEUE_ANY && e->state != f->state)
		return false;
	if (f->min_age > 0 && now - e->env.arrival < f->min_age)
		return false;
	if (!contains(e->env.sender, f->sender))
		return false;
	for (size_t i = 0; i < e->env.rcpt_count; i++) {
		rcpt = rcpt || contains(e->env.rcpts[i].address, f->rcpt);
		domain = domain || in_domain(e->env.rcpts[i].address,
		    f->domain);
	}
	return rcpt && domain;
}

long
queue_select(const struct dmail_conf *c, const struct queue_filter *f,
    queue_visit_fn *fn, void *arg)
{
	static const char *const subs[] = { "queue", "maildrop" };
	int64_t now = (int64_t)time(NULL);
	long matched = 0;
	bool failed = false;

	for (size_t s = 0; s < sizeof(subs) / sizeof(subs[0]); s++) {
		char **ids;
		size_t n;

		if (spool_ids(c, subs[s], &ids, &n) < 0) {
			failed = true;
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			struct queue_entry e;

			if (entry_read(c, subs[s], ids[k], &e) < 0)
				continue;
			if (entry_matches(&e, f, now)) {
				if ((size_t)matched >= f->offset &&
				    (f->limit == 0 ||
				    (size_t)matched < f->offset + f->limit))
					fn(&e, arg);
				matched++;
			}
			queue_entry_free(&e);
		}
		free_ids(ids, n);
	}
	return failed ? -1 : matched;
}

/* --- the listing ----------------------------------------------------- */

/* What the listing has printed so far. */
struct listing {
	size_t listed;              /* messages */
	size_t dropped;             /* of them in the maildrop */
	uint64_t bytes;
	int64_t now;
};

static void
list_recipients(const struct spool_envelope *env, const struct qinfo *qi)
{
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct qinfo_rcpt *r = &qi->rcpts[i];

		printf("%37s  %s  %s", "", env->rcpts[i].address,
		    queue_rcpt_state(env->rcpts[i].state));
		if (r->text != NULL)
			printf(": %s%s%s", r->text, r->remote ? " from " : "",
			    r->remote ? r->remote : "");
		printf("\n");
	}
}

/* One message: its line and its recipients. */
static void
list_message(const struct queue_entry *e, void *arg)
{
	struct listing *l = arg;
	char age[32];

	queue_age_text(l->now - e->env.arrival, age, sizeof(age));
	if (l->listed == 0)
		printf("%-24s %10s %6s  %s\n", "QUEUE ID", "SIZE", "AGE",
		    "SENDER / RECIPIENTS");
	printf("%-24s %10llu %6s  <%s>%s%s", e->env.id,
	    (unsigned long long)e->size, age, e->env.sender,
	    e->qi.hold ? "  (on hold)" : "",
	    e->maildrop ? "  (maildrop)" : "");
	if (e->qi.attempts > 0)
		printf("  attempts=%u", e->qi.attempts);
	printf("\n");
	list_recipients(&e->env, &e->qi);
	l->bytes += e->size;
	l->listed++;
	l->dropped += e->maildrop;
}

/* The queue, then the maildrop (messages not yet picked up by the queue
 * manager), then the quarantine (not with a filter). 1 when a spool
 * cannot be read. */
static int
list_queue(const struct dmail_conf *c, const struct queue_filter *f,
    bool filtered)
{
	struct listing l = { 0, 0, 0, (int64_t)time(NULL) };
	long matched = queue_select(c, f, list_message, &l);
	int rc = matched < 0;

	if (l.listed == 0 && rc == 0)
		printf(filtered ? "No message matches\n" :
		    "Mail queue is empty\n");
	else if (l.listed > 0)
		printf("-- %zu message(s), %llu bytes", l.listed,
		    (unsigned long long)l.bytes);
	if (l.listed > 0 && filtered && matched >= 0 &&
	    (size_t)matched != l.listed)
		printf(" (of %ld matching)", matched);
	if (l.dropped > 0)
		printf("; %zu in the maildrop, not yet picked up by the queue "
		    "manager", l.dropped);
	if (l.listed > 0)
		printf("\n");
	if (!filtered)
		(void)list_quarantine(c, false);
	return rc;
}

/* The quarantined files of every spool (poison.h), after the queue. */
static int
list_quarantine(const struct dmail_conf *c, bool always)
{
	struct buf dir = BUF_INIT, qdir = BUF_INIT;
	size_t listed = 0;
	int rc = 0;

	for (int s = 0; s < POISON_SPOOLS; s++) {
		struct poison_item *items;
		size_t n;

		poison_paths(c, (enum poison_spool_id)s, &dir, &qdir);
		if (poison_list(qdir.data, &items, &n) < 0) {
			fprintf(stderr, "%s: %s\n", qdir.data, strerror(errno));
			rc = 1;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (listed++ == 0)
				printf("\nQuarantined (poison messages; "
				    "\"release NAME\" puts one back):\n"
				    "%-9s %-32s %s\n", "SPOOL", "NAME",
				    "REASON");
			printf("%-9s %-32s %s\n", poison_spool_name(
			    (enum poison_spool_id)s), items[i].name,
			    items[i].reason);
		}
		poison_list_free(items, n);
	}
	if (listed == 0 && always)
		printf("Nothing is quarantined\n");
	buf_free(&dir);
	buf_free(&qdir);
	return rc;
}

void
queue_quarantine_summary(const struct dmail_conf *c)
{
	struct buf dir = BUF_INIT, qdir = BUF_INIT;

	printf("quarantined");
	for (int s = 0; s < POISON_SPOOLS; s++) {
		struct poison_item *items;
		size_t n = 0;

		poison_paths(c, (enum poison_spool_id)s, &dir, &qdir);
		if (poison_list(qdir.data, &items, &n) == 0)
			poison_list_free(items, n);
		printf(" %s=%zu", poison_spool_name((enum poison_spool_id)s),
		    n);
	}
	printf("\n");
	buf_free(&dir);
	buf_free(&qdir);
}

/* "release NAME" of a quarantined file: 0 released, 1 failed, -1 not
 * quarantined anywhere. */
static int
release_quarantined(const struct dmail_conf *c, const char *name)
{
	struct buf dir = BUF_INIT, qdir = BUF_INIT, err = BUF_INIT;
	int rc = -1;

	for (int s = 0; s < POISON_SPOOLS && rc < 0; s++) {
		int r;

		poison_paths(c, (enum poison_spool_id)s, &dir, &qdir);
		r = poison_release(dir.data, qdir.data, name, &err);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", name, buf_cstr(&err));
			rc = 1;
		} else if (r == 1) {
			printf("%s: released from quarantine into %s\n", name,
			    dir.data);
			rc = 0;
		}
	}
	if (rc == 0)
		spool_wakeup(c);        /* the queue manager rescans */
	buf_free(&dir);
	buf_free(&qdir);
	buf_free(&err);
	return rc;
}

/* Send one line to the queue manager: 0 sent, -1 not running. */
static int
send_control(const struct dmail_conf *c, const char *line)
{
	struct buf p = BUF_INIT;
	struct stat st;
	int fd, rc = -1;

	spool_path(c, "control", NULL, &p);
	fd = open(p.data, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
		    write_all(fd, line, strlen(line)) == 0)
			rc = 0;
		close(fd);
	}
	buf_free(&p);
	return rc;
}

static bool
queue_file_exists(const struct dmail_conf *c, const char *id)
{
	struct buf p = BUF_INIT;
	bool yes;

	spool_path(c, "queue", id, &p);
	yes = access(p.data, F_OK) == 0;
	buf_free(&p);
	return yes;
}

static int
read_hold(const struct dmail_conf *c, const char *id)
{
	struct buf p = BUF_INIT;
	struct qinfo qi;
	int h;

	spool_path(c, "defer", id, &p);
	if (qinfo_read(p.data, &qi, 0) < 0)
		h = -1;
	else
		h = qi.hold;
	qinfo_free(&qi);
	buf_free(&p);
	return h;
}

/* Without a queue manager: change the files ourselves. */
static int
direct(const struct dmail_conf *c, const char *verb, const char *id)
{
	struct buf qp = BUF_INIT, dp = BUF_INIT, err = BUF_INIT;
	struct spool_envelope env;
	struct qinfo qi;
	struct stat st;
	int rc = 1;

	spool_path(c, "queue", id, &qp);
	spool_path(c, "defer", id, &dp);
	if (strcmp(verb, "delete") == 0) {
		if (unlink(qp.data) < 0) {
			fprintf(stderr, "%s: %s\n", id, strerror(errno));
			goto out;
		}
		(void)unlink(dp.data);
		(void)fsync_dir_of(qp.data);
		printf("%s: deleted\n", id);
		rc = 0;
		goto out;
	}
	if (stat(qp.data, &st) < 0 || spool_read(qp.data, &env, &err) < 0) {
		fprintf(stderr, "%s: no such message\n", id);
		goto out;
	}
	if (qinfo_read(dp.data, &qi, env.rcpt_count) < 0) {
		fprintf(stderr, "%s: %s\n", dp.data, strerror(errno));
		spool_envelope_free(&env);
		goto out;
	}
	qi.hold = strcmp(verb, "hold") == 0;
	if (!qi.hold)
		qi.next = 0;
	if (qinfo_write(dp.data, &qi) < 0) {
		fprintf(stderr, "%s: %s\n", dp.data, strerror(errno));
	} else {
		/* Keep it readable by the queue manager's user. */
		if (geteuid() == 0 &&
		    chown(dp.data, st.st_uid, st.st_gid) < 0)
			fprintf(stderr, "%s: chown: %s\n", dp.data,
			    strerror(errno));
		printf("%s: %s\n", id, qi.hold ? "on hold" : "released");
		rc = 0;
	}
	qinfo_free(&qi);
	spool_envelope_free(&env);
out:
	buf_free(&qp);
	buf_free(&dp);
	buf_free(&err);
	return rc;
}

static int
by_manager(const struct dmail_conf *c, const char *verb, const char *id)
{
	struct buf line = BUF_INIT;
	int64_t deadline;
	int rc;

	if (!queue_file_exists(c, id)) {
		fprintf(stderr, "%s: no such message\n", id);
		return 1;
	}
	buf_printf(&line, "%s %s\n", verb, id);
	rc = send_control(c, line.data);
	buf_free(&line);
	if (rc < 0)
		return direct(c, verb, id);
	/* Wait until the change shows on disk. */
	deadline = now_ms() + WAIT_MS;
	while (now_ms() < deadline) {
		bool done;
		if (strcmp(verb, "delete") == 0)
			done = !queue_file_exists(c, id);
		else if (strcmp(verb, "hold") == 0)
			done = read_hold(c, id) == 1;
		else
			done = read_hold(c, id) != 1;
		if (done) {
			printf("%s: %s\n", id, strcmp(verb, "delete") == 0 ?
			    "deleted" : strcmp(verb, "hold") == 0 ?
			    "on hold" : "released");
			return 0;
		}
		usleep(50 * 1000);
	}
	printf("%s: %s requested; it takes effect when the delivery attempt "
	    "in progress ends\n", id, verb);
	return 0;
}

void
queue_time_text(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(out, len, "-");
}

/* "queue show ID": everything about one message. */
static int
show_message(const struct dmail_conf *c, const char *id)
{
	struct queue_entry e;
	struct buf headers = BUF_INIT;
	char when[64], age[32];

	if (queue_entry_load(c, id, &e) < 0) {
		fprintf(stderr, "%s: no such message\n", id);
		return 1;
	}
	queue_time_text(e.env.arrival, when, sizeof(when));
	queue_age_text((int64_t)time(NULL) - e.env.arrival, age, sizeof(age));
	printf("queue id:   %s%s\nsender:     <%s>\narrival:    %s (%s "
	    "ago)\nsize:       %llu bytes\nstatus:     %s\nattempts:   %u\n",
	    e.id, e.maildrop ? " (maildrop)" : "", e.env.sender, when, age,
	    (unsigned long long)e.size, queue_state_name(e.state),
	    e.qi.attempts);
	queue_time_text(e.qi.next, when, sizeof(when));
	printf("next retry: %s\n", e.qi.next > 0 ? when : "now");
	if (e.env.client != NULL)
		printf("client:     %s\n", e.env.client);
	if (e.env.auth != NULL)
		printf("auth:       %s\n", e.env.auth);
	printf("recipients:\n");
	list_recipients(&e.env, &e.qi);
	if (queue_entry_headers(c, &e, &headers) == 0)
		printf("headers:\n%s", buf_cstr(&headers));
	buf_free(&headers);
	queue_entry_free(&e);
	return 0;
}

/* queue [--sender S] [--rcpt R] [--domain D] [--min-age SECS]
 * [--status S] [--offset N] [--limit N]: 0 parsed, -1 usage. */
static int
parse_filter(int argc, char **argv, struct queue_filter *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		unsigned long long n;
		bool num;

		if (v == NULL)
			return -1;
		errno = 0;
		n = strtoull(v, &end, 10);
		num = errno == 0 && *v != '\0' && *end == '\0' &&
		    n <= 1000000000ULL;
		if (strcmp(o, "--sender") == 0)
			f->sender = v;
		else if (strcmp(o, "--rcpt") == 0)
			f->rcpt = v;
		else if (strcmp(o, "--domain") == 0)
			f->domain = v;
		else if (strcmp(o, "--min-age") == 0 && num)
			f->min_age = (int64_t)n;
		else if (strcmp(o, "--offset") == 0 && num)
			f->offset = (size_t)n;
		else if (strcmp(o, "--limit") == 0 && num)
			f->limit = (size_t)n;
		else if (strcmp(o, "--status") != 0 ||
		    !queue_state_parse(v, &f->state))
			return -1;
	}
	return 0;
}

int
queue_command(const struct dmail_conf *c, int argc, char **argv)
{
	const char *verb = argv[0];
	struct queue_filter f;

	if (strcmp(verb, "queue") == 0 && argc == 3 &&
	    strcmp(argv[1], "show") == 0) {
		if (!valid_id(argv[2])) {
			fprintf(stderr, "%s: not a queue id\n", argv[2]);
			return 2;
		}
		return show_message(c, argv[2]);
	}
	if (strcmp(verb, "queue") == 0 || strcmp(verb, "mailq") == 0) {
		if ((strcmp(verb, "mailq") == 0 && argc != 1) ||
		    parse_filter(argc, argv, &f) < 0)
			goto usage;
		return list_queue(c, &f, argc > 1);
	}
	if (strcmp(verb, "flush") == 0) {
		if (argc != 1)
			goto usage;
		if (send_control(c, "flush\n") < 0) {
			fprintf(stderr, "flush: the queue manager is not "
			    "running\n");
			return 1;
		}
		printf("flush requested\n");
		return 0;
	}
	if (strcmp(verb, "quarantine") == 0) {
		if (argc != 1)
			goto usage;
		return list_quarantine(c, true);
	}
	if (strcmp(verb, "release") == 0 && argc == 2) {
		int r = release_quarantined(c, argv[1]);

		if (r >= 0)
			return r;
	}
	if (strcmp(verb, "delete") == 0 || strcmp(verb, "hold") == 0 ||
	    strcmp(verb, "release") == 0) {
		if (argc != 2)
			goto usage;
		if (!valid_id(argv[1])) {
			fprintf(stderr, "%s: not a queue id\n", argv[1]);
			return 2;
		}
		return by_manager(c, verb, argv[1]);
	}
usage:
	fprintf(stderr, "usage: queue [--sender TEXT] [--rcpt TEXT] "
	    "[--domain DOMAIN] [--min-age SECONDS] "
	    "[--status active|deferred|held] [--offset N] [--limit N] | "
	    "queue show QUEUEID | quarantine | flush | delete QUEUEID | "
	    "hold QUEUEID | release QUEUEID|NAME\n");
	return 2;
}
