/*
 * poison.c - quarantine of spool files that kill their worker (contract
 * and file layout in poison.h).
 *
 * Exports: poison_spool_name, poison_paths, poison_open, poison_close,
 * poison_begin, poison_arm, poison_end,
 * poison_current, poison_quarantine, poison_report, poison_list,
 * poison_list_free, poison_release.
 *
 * The armed item lives in static memory (one per process: a worker
 * processes one spool file at a time), with every name the signal
 * handler needs built beforehand, so that the handler only calls
 * async-signal-safe functions. Nothing here is fatal: a failure to
 * quarantine is logged (or, in the handler, leaves the file where it
 * was, for the start counter to catch).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "listspool.h"
#include "log.h"
#include "poison.h"
#include "spool.h"
#include "util.h"

#define POISON_AUX_MAX 24          /* ".r-" + 16 hex + NUL, and room */
#define POISON_REASON_MAX 512
#define POISON_STACK_SIZE (64 * 1024)

static const struct {
	int sig;
	const char *name;
} fatal_signals[] = {
	{ SIGSEGV, "SIGSEGV" },
	{ SIGBUS, "SIGBUS" },
	{ SIGABRT, "SIGABRT" },
	{ SIGFPE, "SIGFPE" },
	{ SIGILL, "SIGILL" },
};
#define NFATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

/* The armed item, for the signal handler. */
static struct {
	volatile sig_atomic_t on;
	pid_t pid;
	int dirfd, qdirfd;
	unsigned current;
	char name[NAME_MAX + 1];
	char pending[POISON_AUX_MAX];      /* .c-HASH */
	char tries[POISON_AUX_MAX];        /* .t-HASH */
	char prefix[POISON_REASON_MAX];    /* "spool=S file=NAME" */
} armed = { .dirfd = -1, .qdirfd = -1 };

/* ".X-" and 16 hex digits of the FNV-1a hash of name. */
static void
aux_name(const char *name, char kind, char *out)
{
	snprintf(out, POISON_AUX_MAX, ".%c-%016llx", kind,
	    (unsigned long long)fnv1a64(name));
}

/* --- the signal handler (async-signal-safe code only) ------------------- */

static size_t
sa_append(char *buf, size_t len, size_t cap, const char *s)
{
	while (*s != '\0' && len + 1 < cap)
		buf[len++] = *s++;
	buf[len] = '\0';
	return len;
}

static size_t
sa_append_num(char *buf, size_t len, size_t cap, unsigned long long v)
{
	char digits[24];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0 && len + 1 < cap)
		buf[len++] = digits[--n];
	buf[len] = '\0';
	return len;
}

static void
on_fatal(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno;
	pid_t self = getpid();
	struct sigaction dfl;
	sigset_t set;

	(void)ctx;
	/* Raised by this process (a fault, abort(), raise()), not sent by
	 * another one: only then is the armed item to blame. */
	if (armed.on && armed.pid == self &&
	    (si == NULL || si->si_code > 0 || si->si_pid == self)) {
		armed.on = 0;
		if (renameat(armed.dirfd, armed.name, armed.qdirfd,
		    armed.name) == 0) {
			char line[POISON_REASON_MAX + 128];
			const char *sname = "signal";
			struct timespec ts;
			size_t len = 0;
			int fd;

			for (size_t i = 0; i < NFATAL; i++)
				if (fatal_signals[i].sig == sig)
					sname = fatal_signals[i].name;
			clock_gettime(CLOCK_REALTIME, &ts);
			len = sa_append(line, len, sizeof(line), armed.prefix);
			len = sa_append(line, len, sizeof(line), " signal=");
			len = sa_append(line, len, sizeof(line), sname);
			len = sa_append(line, len, sizeof(line), " attempts=");
			len = sa_append_num(line, len, sizeof(line),
			    armed.current);
			len = sa_append(line, len, sizeof(line), " time=");
			len = sa_append_num(line, len, sizeof(line),
			    (unsigned long long)ts.tv_sec);
			len = sa_append(line, len, sizeof(line), "\n");
			fd = openat(armed.qdirfd, armed.pending,
			    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd >= 0) {
				(void)!write(fd, line, len);
				(void)fsync(fd);
				close(fd);
			}
			if (armed.tries[0] != '\0')
				(void)unlinkat(armed.qdirfd, armed.tries, 0);
			(void)fsync(armed.qdirfd);
			(void)fsync(armed.dirfd);
		}
	}
	/* Die of the same signal, as if there had been no handler. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	errno = saved;
}

static int
install_handlers(struct buf *err)
{
	static char stack[POISON_STACK_SIZE];
	stack_t ss;
	struct sigaction sa;

	/* Every time, not once: a library (or a test framework) may have
	 * replaced them since. */
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = stack;
	ss.ss_size = sizeof(stack);
	if (sigaltstack(&ss, NULL) < 0) {
		buf_printf(err, "sigaltstack: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFATAL; i++)
		if (sigaction(fatal_signals[i].sig, &sa, NULL) < 0) {
			buf_printf(err, "sigaction: %s", strerror(errno));
			return -1;
		}
	return 0;
}

/* --- ordinary code -------------------------------------------------------- */

static const char *const spool_names[POISON_SPOOLS] = { "list", "queue",
	"maildrop" };

const char *
poison_spool_name(enum poison_spool_id id)
{
	return (unsigned)id < POISON_SPOOLS ? spool_names[id] : "?";
}

void
poison_paths(const struct dmail_conf *conf, enum poison_spool_id id,
    struct buf *dir, struct buf *qdir)
{
	if (id == POISON_LIST) {
		listspool_dir(conf, "new", dir);
		listspool_dir(conf, "quarantine", qdir);
		return;
	}
	spool_path(conf, spool_names[id], NULL, dir);
	spool_path(conf, "quarantine", spool_names[id], qdir);
}

int
poison_open(struct poison_spool *ps, const char *spool, const char *dir,
    const char *qdir, unsigned attempts, struct buf *err)
{
	memset(ps, 0, sizeof(*ps));
	ps->dirfd = ps->qdirfd = -1;
	snprintf(ps->spool, sizeof(ps->spool), "%s", spool);
	ps->attempts = attempts > 0 ? attempts : 1;
	ps->dir = xstrdup(dir);
	ps->qdir = xstrdup(qdir);
	if (mkdir_p(qdir, 0700) < 0) {
		buf_printf(err, "cannot create %s: %s", qdir, strerror(errno));
		goto fail;
	}
	ps->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ps->qdirfd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ps->dirfd < 0 || ps->qdirfd < 0) {
		buf_printf(err, "cannot open %s: %s", ps->dirfd < 0 ? dir :
		    qdir, strerror(errno));
		goto fail;
	}
	if (install_handlers(err) < 0)
		goto fail;
	return 0;
fail:
	poison_close(ps);
	return -1;
}

void
poison_close(struct poison_spool *ps)
{
	if (armed.on && armed.dirfd == ps->dirfd)
		armed.on = 0;
	if (ps->dirfd >= 0)
		close(ps->dirfd);
	if (ps->qdirfd >= 0)
		close(ps->qdirfd);
	free(ps->dir);
	free(ps->qdir);
	ps->dir = ps->qdir = NULL;
	ps->dirfd = ps->qdirfd = -1;
}

/* Printable form of a name for a log line (names in the maildrop come
 * from any local user). */
static void
clean_name(const char *name, char *out, size_t cap)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < cap; i++)
		out[i] = name[i] > ' ' && name[i] < 0x7f ? name[i] : '?';
	out[i] = '\0';
}

static void
log_quarantined(const char *reason)
{
	char line[POISON_REASON_MAX + 128];
	size_t n = strcspn(reason, "\n");

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, reason, n);
	line[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = '?';
	log_warn("action=quarantine %s", line);
}

int
poison_note(const char *qdir, const char *name, const char *reason)
{
	char aux[POISON_AUX_MAX];
	struct buf path = BUF_INIT, text = BUF_INIT;
	int rc;

	buf_printf(&text, "%s time=%lld\n", reason, (long long)time(NULL));
	aux_name(name, 'r', aux);
	buf_printf(&path, "%s/%s", qdir, aux);
	rc = write_file_durable(path.data, text.data, text.len, 0600);
	if (rc < 0)
		log_error("event=write-failed path=%s error=\"%s\"", path.data,
		    strerror(errno));
	buf_free(&path);
	buf_free(&text);
	return rc;
}

int
poison_quarantine(struct poison_spool *ps, const char *name,
    const char *reason)
{
	char aux[POISON_AUX_MAX], clean[NAME_MAX + 1];
	struct buf text = BUF_INIT;
	int rc = -1;

	clean_name(name, clean, sizeof(clean));
	if (renameat(ps->dirfd, name, ps->qdirfd, name) < 0) {
		log_error("event=quarantine-failed spool=%s file=%s path=%s "
		    "error=\"%s\"", ps->spool, clean, ps->qdir,
		    strerror(errno));
		goto out;
	}
	if (fsync(ps->qdirfd) < 0 || fsync(ps->dirfd) < 0)
		log_error("event=quarantine-failed spool=%s path=%s "
		    "error=\"fsync: %s\"", ps->spool, ps->qdir,
		    strerror(errno));
	buf_printf(&text, "spool=%s file=%s %s", ps->spool, name, reason);
	(void)poison_note(ps->qdir, name, text.data);
	aux_name(name, 't', aux);
	(void)unlinkat(ps->qdirfd, aux, 0);
	log_quarantined(text.data);
	rc = 0;
out:
	buf_free(&text);
	return rc;
}

/* Starts of name so far that never finished, and count this one. */
static unsigned
count_start(struct poison_spool *ps, const char *tries)
{
	char text[24];
	unsigned n = 0;
	ssize_t got;
	int fd;

	fd = openat(ps->qdirfd, tries, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("event=poison-count-failed spool=%s path=%s/%s "
		    "error=\"%s\"", ps->spool, ps->qdir, tries,
		    strerror(errno));
		return 0;
	}
	got = pread(fd, text, sizeof(text) - 1, 0);
	if (got > 0) {
		text[got] = '\0';
		n = (unsigned)strtoul(text, NULL, 10);
	}
	if (n < ps->attempts) {
		int len = snprintf(text, sizeof(text), "%10u\n", n + 1);
		if (pwrite(fd, text, (size_t)len, 0) != len)
			log_warn("event=poison-count-failed spool=%s "
			    "path=%s/%s error=\"%s\"", ps->spool, ps->qdir,
			    tries, strerror(errno));
	}
	close(fd);
	return n;
}

/* Fill in everything the handler needs, then switch it on. */
static void
arm(struct poison_spool *ps, const char *name, unsigned current)
{
	memcpy(armed.name, name, strlen(name) + 1);
	aux_name(name, 'c', armed.pending);
	snprintf(armed.prefix, sizeof(armed.prefix), "spool=%s file=%s",
	    ps->spool, name);
	armed.dirfd = ps->dirfd;
	armed.qdirfd = ps->qdirfd;
	armed.current = current;
	armed.pid = getpid();
	ps->current = current;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	armed.on = 1;
}

int
poison_begin(struct poison_spool *ps, const char *name)
{
	unsigned before;

	armed.on = 0;
	if (ps->qdirfd < 0 || strlen(name) > NAME_MAX)
		return 0;
	aux_name(name, 't', armed.tries);
	before = count_start(ps, armed.tries);
	if (before >= ps->attempts) {
		char reason[64];

		snprintf(reason, sizeof(reason), "signal=none attempts=%u",
		    before);
		return poison_quarantine(ps, name, reason) == 0 ? 1 : 0;
	}
	arm(ps, name, before + 1);
	return 0;
}

void
poison_arm(struct poison_spool *ps, const char *name)
{
	armed.on = 0;
	if (ps->qdirfd < 0 || strlen(name) > NAME_MAX)
		return;
	armed.tries[0] = '\0';
	arm(ps, name, 1);
}

void
poison_end(struct poison_spool *ps)
{
	bool was = armed.on && armed.dirfd == ps->dirfd;

	armed.on = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (was && armed.tries[0] != '\0')
		(void)unlinkat(ps->qdirfd, armed.tries, 0);
	ps->current = 0;
}

unsigned
poison_current(const struct poison_spool *ps)
{
	return ps->current;
}

void
poison_report(struct poison_spool *ps)
{
	struct buf text = BUF_INIT, from = BUF_INIT, to = BUF_INIT;
	struct dirent *de;
	DIR *dp;

	if (ps->qdir == NULL || (dp = opendir(ps->qdir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, ".c-", 3) != 0 ||
		    strlen(de->d_name) != 19)
			continue;
		buf_reset(&from);
		buf_printf(&from, "%s/%s", ps->qdir, de->d_name);
		buf_reset(&to);
		buf_printf(&to, "%s/.r-%s", ps->qdir, de->d_name + 3);
		if (read_file(from.data, &text, POISON_REASON_MAX * 2) < 0)
			continue;
		/* Whoever renames it logs it: once, however many workers
		 * look at the same time. */
		if (rename(from.data, to.data) == 0)
			log_quarantined(buf_cstr(&text));
	}
	closedir(dp);
	buf_free(&text);
	buf_free(&from);
	buf_free(&to);
}

/* --- operator side -------------------------------------------------------- */

static int
item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct poison_item *)a)->name,
	    ((const struct poison_item *)b)->name);
}

int
poison_list(const char *qdir, struct poison_item **items, size_t *n)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	struct dirent *de;
	DIR *dp;

	*items = NULL;
	*n = 0;
	if ((dp = opendir(qdir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(dp)) != NULL) {
		char aux[POISON_AUX_MAX];
		struct poison_item *it;

		if (de->d_name[0] == '.')
			continue;
		*items = xrealloc(*items, (*n + 1) * sizeof(**items));
		it = &(*items)[(*n)++];
		it->name = xstrdup(de->d_name);
		buf_reset(&text);
		for (const char *k = "rc"; *k != '\0'; k++) {
			aux_name(de->d_name, *k, aux);
			buf_reset(&path);
			buf_printf(&path, "%s/%s", qdir, aux);
			if (read_file(path.data, &text, POISON_REASON_MAX * 2)
			    == 0)
				break;
		}
		text.len = strcspn(buf_cstr(&text), "\n");
		it->reason = xstrndup(buf_cstr(&text), text.len);
	}
	closedir(dp);
	if (*n > 1)
		qsort(*items, *n, sizeof(**items), item_cmp);
	buf_free(&path);
	buf_free(&text);
	return 0;
}

void
poison_list_free(struct poison_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].name);
		free(items[i].reason);
	}
	free(items);
}

int
poison_release(const char *dir, const char *qdir, const char *name,
    struct buf *err)
{
	struct buf from = BUF_INIT, to = BUF_INIT;
	char aux[POISON_AUX_MAX];
	int rc = -1;

	if (*name == '\0' || *name == '.' || strchr(name, '/') != NULL ||
	    strlen(name) > NAME_MAX) {
		buf_printf(err, "'%s' is not a spool file name", name);
		return -1;
	}
	buf_printf(&from, "%s/%s", qdir, name);
	buf_printf(&to, "%s/%s", dir, name);
	if (access(from.data, F_OK) < 0) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc < 0)
			buf_printf(err, "%s: %s", from.data, strerror(errno));
		goto out;
	}
	/* Its reason and counter first: the moment the file is back, a
	 * worker may take it (and count, or quarantine it again). */
	for (const char *k = "rct"; *k != '\0'; k++) {
		struct buf aux_path = BUF_INIT;

		aux_name(name, *k, aux);
		buf_printf(&aux_path, "%s/%s", qdir, aux);
		(void)unlink(aux_path.data);
		buf_free(&aux_path);
	}
	/* One atomic move that never replaces a file of the same name. */
	if (renameat2(AT_FDCWD, from.data, AT_FDCWD, to.data,
	    RENAME_NOREPLACE) < 0) {
		if (errno == EINVAL || errno == ENOSYS) {
			struct stat st;

			if (lstat(to.data, &st) == 0)
				errno = EEXIST;
			else if (rename(from.data, to.data) == 0)
				goto moved;
		}
		buf_printf(err, "cannot move %s to %s: %s", from.data, dir,
		    strerror(errno));
		goto out;
	}
moved:
	if (fsync_dir(dir) < 0 || fsync_dir(qdir) < 0) {
		buf_printf(err, "fsync %s: %s", dir, strerror(errno));
		goto out;
	}
	rc = 1;
out:
	buf_free(&from);
	buf_free(&to);
	return rc;
}
