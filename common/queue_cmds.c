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

static void
age_text(int64_t secs, char *out, size_t len)
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
		const char *state = env->rcpts[i].state == SPOOL_PENDING ?
		    "pending" : env->rcpts[i].state == SPOOL_DELIVERED ?
		    "delivered" : "bounced";

		printf("%37s  %s  %s", "", env->rcpts[i].address, state);
		if (r->text != NULL)
			printf(": %s%s%s", r->text, r->remote ? " from " : "",
			    r->remote ? r->remote : "");
		printf("\n");
	}
}

/* One message of spool sub ("queue" or "maildrop"): its line and its
 * recipients. A file gone meanwhile (delivered) is skipped. */
static void
list_message(const struct dmail_conf *c, const char *sub, const char *id,
    struct listing *l)
{
	bool maildrop = strcmp(sub, "maildrop") == 0;
	struct buf p = BUF_INIT, err = BUF_INIT;
	struct spool_envelope env;
	struct qinfo qi;
	struct stat st;
	char age[32];
	uint64_t size;

	spool_path(c, sub, id, &p);
	if (stat(p.data, &st) < 0 || spool_read(p.data, &env, &err) < 0) {
		buf_free(&p);
		buf_free(&err);
		return;     /* delivered meanwhile, or unreadable */
	}
	size = (uint64_t)st.st_size > (uint64_t)env.message_offset ?
	    (uint64_t)st.st_size - (uint64_t)env.message_offset : 0;
	/* The queue manager's side file: attempts, last errors, hold. */
	spool_path(c, "defer", id, &p);
	if (maildrop)
		qinfo_init(&qi, env.rcpt_count);
	else
		(void)qinfo_read(p.data, &qi, env.rcpt_count);
	age_text(l->now - env.arrival, age, sizeof(age));
	if (l->listed == 0)
		printf("%-24s %10s %6s  %s\n", "QUEUE ID", "SIZE", "AGE",
		    "SENDER / RECIPIENTS");
	printf("%-24s %10llu %6s  <%s>%s%s", env.id, (unsigned long long)size,
	    age, env.sender, qi.hold ? "  (on hold)" : "",
	    maildrop ? "  (maildrop)" : "");
	if (qi.attempts > 0)
		printf("  attempts=%u", qi.attempts);
	printf("\n");
	list_recipients(&env, &qi);
	l->bytes += size;
	l->listed++;
	l->dropped += maildrop;
	spool_envelope_free(&env);
	qinfo_free(&qi);
	buf_free(&p);
	buf_free(&err);
}

/* The queue, then the maildrop (messages not yet picked up by the queue
 * manager), then the quarantine. 1 when a spool cannot be read. */
static int
list_queue(const struct dmail_conf *c)
{
	static const char *const subs[] = { "queue", "maildrop" };
	struct listing l = { 0, 0, 0, (int64_t)time(NULL) };
	int rc = 0;

	for (size_t s = 0; s < sizeof(subs) / sizeof(subs[0]); s++) {
		char **ids;
		size_t n;

		if (spool_ids(c, subs[s], &ids, &n) < 0) {
			rc = 1;
			continue;
		}
		for (size_t k = 0; k < n; k++)
			list_message(c, subs[s], ids[k], &l);
		free_ids(ids, n);
	}
	if (l.listed == 0 && rc == 0)
		printf("Mail queue is empty\n");
	else if (l.listed > 0)
		printf("-- %zu message(s), %llu bytes", l.listed,
		    (unsigned long long)l.bytes);
	if (l.dropped > 0)
		printf("; %zu in the maildrop, not yet picked up by the queue "
		    "manager", l.dropped);
	if (l.listed > 0)
		printf("\n");
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

int
queue_command(const struct dmail_conf *c, int argc, char **argv)
{
	const char *verb = argv[0];

	if (strcmp(verb, "queue") == 0 || strcmp(verb, "mailq") == 0) {
		if (argc != 1)
			goto usage;
		return list_queue(c);
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
	fprintf(stderr, "usage: queue | quarantine | flush | "
	    "delete QUEUEID | hold QUEUEID | release QUEUEID|NAME\n");
	return 2;
}
