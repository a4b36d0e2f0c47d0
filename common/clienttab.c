/*
 * clienttab.c - the per-client table shared by every SMTP and POP3 worker
 * (see clienttab.h for what it counts and the policy).
 *
 * File layout: a CT_HEADER_SIZE header (magic, version, size, the
 * SipHash key, the robust process-shared mutex), then nslots struct
 * ct_slot of 64 bytes. The file is fully allocated when it is made
 * (posix_fallocate): a store through the mapping never needs a new disk
 * block, so a full disk cannot turn it into SIGBUS.
 *
 * A slot holds one key (kind + 16 bytes): a client address (IPv4 as
 * ::ffff:a.b.c.d, IPv6 cut to its /64) or an account (128 bits of keyed
 * SipHash of the normalised login address). The same slot of an address
 * holds its failure count and its connection bucket. Mail sent by an
 * authenticated client counts in slots of their own kinds (CT_SEND_IP,
 * CT_SEND_ACCOUNT), whose conn_tat and rcpt_tat are the buckets of
 * messages and recipients; their logins in CT_LOGIN_IP and
 * CT_LOGIN_ACCOUNT slots, in conn_tat.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clienttab.h"
#include "log.h"
#include "util.h"

#define CT_MAGIC 0x54434d44u         /* "DMCT" */
#define CT_VERSION 1
#define CT_HEADER_SIZE 256
/* Bounds on what is read back from the shared file. */
#define CT_FAILURES_MAX (1u << 20)

enum ct_kind { CT_FREE = 0, CT_IP = 1, CT_ACCOUNT = 2, CT_SEND_IP = 3,
	CT_SEND_ACCOUNT = 4, CT_LOGIN_IP = 5, CT_LOGIN_ACCOUNT = 6 };

struct ct_header {
	uint32_t magic;
	uint32_t version;
	uint32_t nslots;
	uint32_t slot_size;
	uint64_t sipkey[2];       /* random, chosen by the creator */
	uint64_t recovered;       /* locks taken over from dead holders */
	uint64_t evicted;         /* live entries pushed out by new keys */
	pthread_mutex_t lock;     /* robust, process-shared */
};

struct ct_slot {
	uint8_t kind;             /* enum ct_kind */
	uint8_t pad[3];
	uint32_t failures;
	uint8_t key[16];
	int64_t last_failure;     /* ms, wall clock */
	int64_t conn_tat;         /* us: the bucket's next free time */
	int64_t used;             /* ms: last count or connection */
	uint32_t refused;         /* connections refused in a row */
	uint32_t pad2;
	int64_t rcpt_tat;         /* us: CT_SEND_*: recipients' bucket
	                           * (conn_tat is the messages' bucket) */
};

_Static_assert(sizeof(struct ct_header) <= CT_HEADER_SIZE,
    "clienttab header too large");
_Static_assert(sizeof(struct ct_slot) == 64, "clienttab slot is 64 bytes");

struct clienttab {
	void *map;
	size_t size;
	struct ct_header *hdr;
	struct ct_slot *slots;
	uint32_t nslots;
	uint32_t probe;
	bool lock_broken_logged;
};

/* ---- hashing (SipHash-2-4) ---------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
	do {                                                            \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                  \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                  \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t
siphash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | in[i + (size_t)j];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- keys ---------------------------------------------------------- */

/* The 16-byte key of a client address; false when not IP. */
static bool
ip_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(key, in6->sin6_addr.s6_addr, 16);
		else
			memcpy(key, in6->sin6_addr.s6_addr, 8);   /* /64 */
		return true;
	}
	return false;
}

static void
account_key(const struct clienttab *t, const char *account, uint8_t key[16])
{
	const uint64_t *k = t->hdr->sipkey;
	size_t len = strlen(account);
	uint64_t h[2];

	h[0] = siphash(k[0], k[1], (const uint8_t *)account, len);
	h[1] = siphash(k[1], k[0] ^ 0x6163636f756e74ULL,
	    (const uint8_t *)account, len);
	memcpy(key, h, 16);
}

/* ---- the file ------------------------------------------------------ */

static size_t
table_size(uint32_t nslots)
{
	return CT_HEADER_SIZE + (size_t)nslots * sizeof(struct ct_slot);
}

/* Make a new table file and put it at path: link() when none is there
 * (a concurrent creator's wins), rename() over one of another layout.
 * 0, or -1 with err. */
static int
create_file(const char *path, uint32_t nslots, const char *run_as,
    bool replace, struct buf *err)
{
	size_t size = table_size(nslots);
	struct buf tmp = BUF_INIT;
	pthread_mutexattr_t attr;
	struct ct_header *hdr;
	void *map;
	int fd, rc = -1, e;
	uid_t uid;
	gid_t gid;

	buf_printf(&tmp, "%s.%ld.tmp", path, (long)getpid());
	(void)unlink(tmp.data);
	fd = open(tmp.data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		buf_printf(err, "%s: %s", tmp.data, strerror(errno));
		buf_free(&tmp);
		return -1;
	}
	if ((e = posix_fallocate(fd, 0, (off_t)size)) != 0) {
		buf_printf(err, "%s: allocate %zu bytes: %s", tmp.data, size,
		    strerror(e));
		goto out;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		buf_printf(err, "%s: mmap: %s", tmp.data, strerror(errno));
		goto out;
	}
	hdr = map;
	memset(map, 0, size);
	if (getrandom(hdr->sipkey, sizeof(hdr->sipkey), 0) !=
	    (ssize_t)sizeof(hdr->sipkey)) {
		/* Not secret then, but still a working table. */
		hdr->sipkey[0] = (uint64_t)clienttab_now() ^
		    ((uint64_t)getpid() << 32);
		hdr->sipkey[1] = ~hdr->sipkey[0];
	}
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	e = pthread_mutex_init(&hdr->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	hdr->nslots = nslots;
	hdr->slot_size = sizeof(struct ct_slot);
	hdr->version = CT_VERSION;
	hdr->magic = CT_MAGIC;
	munmap(map, size);
	if (e != 0) {
		buf_printf(err, "%s: mutex: %s", tmp.data, strerror(e));
		goto out;
	}
	if (geteuid() == 0 && run_as != NULL &&
	    user_ids(run_as, &uid, &gid) == 0 && fchown(fd, uid, gid) < 0) {
		buf_printf(err, "%s: chown: %s", tmp.data, strerror(errno));
		goto out;
	}
	if (replace) {
		if (rename(tmp.data, path) < 0) {
			buf_printf(err, "%s: rename: %s", path,
			    strerror(errno));
			goto out;
		}
	} else if (link(tmp.data, path) < 0 && errno != EEXIST) {
		buf_printf(err, "%s: link: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	(void)unlink(tmp.data);
	buf_free(&tmp);
	return rc;
}

/* Map an open table file. 1: done; 0: another layout (replace it);
 * -1: error in err. Closes fd. */
static int
map_file(int fd, const char *path, uint32_t nslots, struct clienttab **out,
    struct buf *err)
{
	size_t size = table_size(nslots);
	struct clienttab *t;
	struct ct_header *hdr;
	struct stat st;
	void *map;

	if (fstat(fd, &st) < 0) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_printf(err, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size != (uint64_t)size) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		buf_printf(err, "%s: mmap: %s", path, strerror(errno));
		return -1;
	}
	hdr = map;
	if (hdr->magic != CT_MAGIC || hdr->version != CT_VERSION ||
	    hdr->nslots != nslots || hdr->slot_size != sizeof(struct ct_slot)) {
		munmap(map, size);
		return 0;
	}
	t = xcalloc(1, sizeof(*t));
	t->map = map;
	t->size = size;
	t->hdr = hdr;
	t->slots = (struct ct_slot *)((char *)map + CT_HEADER_SIZE);
	t->nslots = nslots;
	t->probe = nslots < CLIENTTAB_PROBE ? nslots : CLIENTTAB_PROBE;
	*out = t;
	return 1;
}

struct clienttab *
clienttab_open(const char *path, uint32_t nslots, const char *run_as,
    struct buf *err)
{
	struct clienttab *t = NULL;
	int fd, r;

	if (nslots == 0) {
		buf_printf(err, "%s: no slots", path);
		return NULL;
	}
	/* A few rounds: another process may be creating or replacing the
	 * file at the same time; whatever is at path at the end is used. */
	for (int round = 0; round < 4; round++) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			r = map_file(fd, path, nslots, &t, err);
			if (r != 0)
				return r > 0 ? t : NULL;
			log_info("event=clienttab-replaced path=%s "
			    "reason=\"another layout\"", path);
			if (create_file(path, nslots, run_as, true, err) < 0)
				return NULL;
			continue;
		}
		if (errno != ENOENT) {
			buf_printf(err, "%s: %s", path, strerror(errno));
			return NULL;
		}
		if (create_file(path, nslots, run_as, false, err) < 0)
			return NULL;
	}
	buf_printf(err, "%s: keeps changing under us", path);
	return NULL;
}

void
clienttab_close(struct clienttab *t)
{
	if (t == NULL)
		return;
	munmap(t->map, t->size);
	free(t);
}

/* ---- locking --------------------------------------------------------- */

static bool
ct_lock(struct clienttab *t)
{
	int r = pthread_mutex_lock(&t->hdr->lock);

	if (r == EOWNERDEAD) {
		/* The holder died mid-update: at worst that update is lost
		 * or half made, and every value is bounded when read. */
		pthread_mutex_consistent(&t->hdr->lock);
		t->hdr->recovered++;
		log_warn("event=clienttab-recovered reason=\"a process died "
		    "holding the lock\"");
		return true;
	}
	if (r != 0) {
		if (!t->lock_broken_logged)
			log_error("event=clienttab-failed error=\"lock: %s\" "
			    "reason=\"logins and connections are not "
			    "limited\"", strerror(r));
		t->lock_broken_logged = true;
		return false;
	}
	return true;
}

static void
ct_unlock(struct clienttab *t)
{
	pthread_mutex_unlock(&t->hdr->lock);
}

void
clienttab_hold_lock_for_test(struct clienttab *t)
{
	(void)ct_lock(t);
}

/* ---- slots ----------------------------------------------------------- */

int64_t
clienttab_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Failures that still count: forgotten CLIENTTAB_FORGET_MS after the
 * last one (or when that time is absurdly in the future: the clock was
 * set back). */
static unsigned
live_failures(const struct ct_slot *s, int64_t now)
{
	int64_t age;

	if (s == NULL || s->failures == 0)
		return 0;
	age = now - s->last_failure;
	if (age >= CLIENTTAB_FORGET_MS || age <= -CLIENTTAB_FORGET_MS)
		return 0;
	return s->failures < CT_FAILURES_MAX ? s->failures : CT_FAILURES_MAX;
}

/* A slot a new key may take without losing anything. */
static bool
slot_idle(const struct ct_slot *s, int64_t now)
{
	int64_t age = now - s->used;

	if (s->kind == CT_FREE)
		return true;
	return (age >= CLIENTTAB_FORGET_MS || age <= -CLIENTTAB_FORGET_MS) &&
	    s->conn_tat <= now * 1000 && s->rcpt_tat <= now * 1000;
}

/* The slot of a key, or NULL; with create, a slot is made for it (free,
 * forgotten, or else the least recently used of its window). */
static struct ct_slot *
find(struct clienttab *t, enum ct_kind kind, const uint8_t key[16],
    int64_t now, bool create)
{
	const uint64_t *k = t->hdr->sipkey;
	uint8_t in[17];
	uint32_t first;
	struct ct_slot *idle = NULL, *oldest = NULL, *s;

	in[0] = (uint8_t)kind;
	memcpy(in + 1, key, 16);
	first = (uint32_t)(siphash(k[0], k[1], in, sizeof(in)) % t->nslots);
	for (uint32_t i = 0; i < t->probe; i++) {
		s = &t->slots[(first + i) % t->nslots];
		if (s->kind == kind && memcmp(s->key, key, 16) == 0)
			return s;
		if (idle == NULL && slot_idle(s, now))
			idle = s;
		if (oldest == NULL || s->used < oldest->used)
			oldest = s;
	}
	if (!create)
		return NULL;
	s = idle;
	if (s == NULL) {
		s = oldest;
		t->hdr->evicted++;
	}
	memset(s, 0, sizeof(*s));
	memcpy(s->key, key, 16);
	s->used = now;
	s->kind = (uint8_t)kind;
	return s;
}

/* Milliseconds a slot is still blocked for under threshold thr. */
static int64_t
blocked_ms(const struct ct_slot *s, unsigned thr, unsigned max_delay,
    int64_t now)
{
	unsigned f = live_failures(s, now), over;
	int64_t delay, until;

	if (thr == 0 || max_delay == 0 || f < thr)
		return 0;
	over = f - thr;
	delay = over >= 31 || (1u << over) > max_delay ? max_delay :
	    (1u << over);
	delay *= 1000;
	until = s->last_failure + delay;
	if (until <= now)
		return 0;
	/* Never longer than one delay, even if the clock went back. */
	return until - now < delay ? until - now : delay;
}

/* Count one failure on a slot. */
static void
count_failure(struct ct_slot *s, int64_t now)
{
	s->failures = live_failures(s, now) + 1;
	s->last_failure = now;
	s->used = now;
}

/* ---- the penalty ----------------------------------------------------- */

void
clienttab_policy(const struct dmail_conf *conf, struct clienttab_policy *pol)
{
	pol->ip_failures = conf->auth_throttle_failures;
	pol->account_failures = conf->auth_throttle_account_failures;
	pol->max_delay = conf->auth_throttle_max_delay;
}

bool
clienttab_exempt(const struct dmail_conf *conf, const struct sockaddr *peer)
{
	for (size_t i = 0; i < conf->client_limit_exempt_count; i++)
		if (cidr_match(&conf->client_limit_exempt[i], peer))
			return true;
	return false;
}

enum clienttab_block
clienttab_auth_begin(struct clienttab *t, const struct clienttab_policy *pol,
    const struct sockaddr *ip, const char *account, int64_t now,
    struct clienttab_attempt *a, unsigned *retry)
{
	uint8_t ipk[16], ack[16];
	bool has_ip = ip_key(ip, ipk), has_acct = account != NULL;
	int64_t ip_ms = 0, acct_ms = 0;

	memset(a, 0, sizeof(*a));
	a->at = now;
	*retry = 0;
	if (t == NULL || !ct_lock(t))
		return CLIENTTAB_OK;
	if (has_acct)
		account_key(t, account, ack);
	if (has_ip)
		ip_ms = blocked_ms(find(t, CT_IP, ipk, now, false),
		    pol->ip_failures, pol->max_delay, now);
	if (has_acct)
		acct_ms = blocked_ms(find(t, CT_ACCOUNT, ack, now, false),
		    pol->account_failures, pol->max_delay, now);
	if (ip_ms > 0 || acct_ms > 0) {
		ct_unlock(t);
		*retry = (unsigned)(((ip_ms > acct_ms ? ip_ms : acct_ms) +
		    999) / 1000);
		return ip_ms > 0 ? CLIENTTAB_BLOCKED_IP :
		    CLIENTTAB_BLOCKED_ACCOUNT;
	}
	ct_unlock(t);
	if (has_ip && pol->ip_failures > 0) {
		memcpy(a->ip_key, ipk, 16);
		a->ip_counted = true;
	}
	if (has_acct && pol->account_failures > 0) {
		memcpy(a->acct_key, ack, 16);
		a->acct_counted = true;
	}
	return CLIENTTAB_OK;
}

enum clienttab_block
clienttab_login_begin(struct clienttab *t, const struct dmail_conf *conf,
    const struct sockaddr *peer, const char *account,
    struct clienttab_attempt *a, unsigned *retry)
{
	struct clienttab_policy pol;

	clienttab_policy(conf, &pol);
	if (peer != NULL && clienttab_exempt(conf, peer))
		peer = NULL;
	return clienttab_auth_begin(t, &pol, peer, account, clienttab_now(),
	    a, retry);
}

void
clienttab_auth_failure(struct clienttab *t, const struct clienttab_attempt *a)
{
	if (t == NULL || (!a->ip_counted && !a->acct_counted) || !ct_lock(t))
		return;
	if (a->ip_counted)
		count_failure(find(t, CT_IP, a->ip_key, a->at, true), a->at);
	if (a->acct_counted)
		count_failure(find(t, CT_ACCOUNT, a->acct_key, a->at, true),
		    a->at);
	ct_unlock(t);
}

void
clienttab_auth_success(struct clienttab *t, const struct clienttab_attempt *a)
{
	struct ct_slot *s;

	if (t == NULL || !a->acct_counted || !ct_lock(t))
		return;
	s = find(t, CT_ACCOUNT, a->acct_key, a->at, false);
	if (s != NULL)
		memset(s, 0, sizeof(*s));
	ct_unlock(t);
}

unsigned
clienttab_failures(struct clienttab *t, const struct sockaddr *ip,
    const char *account, int64_t now)
{
	uint8_t key[16];
	unsigned n = 0;

	if (t == NULL || !ct_lock(t))
		return 0;
	if (account != NULL) {
		account_key(t, account, key);
		n = live_failures(find(t, CT_ACCOUNT, key, now, false), now);
	} else if (ip_key(ip, key)) {
		n = live_failures(find(t, CT_IP, key, now, false), now);
	}
	ct_unlock(t);
	return n;
}

/* ---- new connections and mail sent ---------------------------------- */

/* Take a token of the bucket whose next free time is *tat_field
 * (per_minute tokens a minute, a minute's worth at once). True when one
 * was left. */
static bool
bucket_take(int64_t *tat_field, unsigned per_minute, int64_t now)
{
	const int64_t window = 60 * 1000000LL;     /* us */
	int64_t interval, tat, now_us = now * 1000;

	interval = window / per_minute;
	if (interval < 1)
		interval = 1;
	/* Bounded: a torn or future value allows at most one window. */
	tat = *tat_field;
	if (tat < now_us || tat > now_us + window)
		tat = now_us;
	if (tat + interval - now_us > window)
		return false;
	*tat_field = tat + interval;
	return true;
}

bool
clienttab_send(struct clienttab *t, const struct sockaddr *ip,
    const char *account, enum clienttab_send_what what, unsigned per_minute,
    int64_t now)
{
	uint8_t key[16];
	struct ct_slot *s;
	bool ok;

	if (t == NULL || per_minute == 0)
		return true;
	if (account != NULL)
		account_key(t, account, key);
	else if (!ip_key(ip, key))
		return true;
	if (!ct_lock(t))
		return true;
	if (what == CLIENTTAB_SEND_LOGIN)
		s = find(t, account != NULL ? CT_LOGIN_ACCOUNT : CT_LOGIN_IP,
		    key, now, true);
	else
		s = find(t, account != NULL ? CT_SEND_ACCOUNT : CT_SEND_IP,
		    key, now, true);
	ok = bucket_take(what == CLIENTTAB_SEND_RCPT ? &s->rcpt_tat :
	    &s->conn_tat, per_minute, now);
	s->used = now;
	ct_unlock(t);
	return ok;
}

bool
clienttab_connection(struct clienttab *t, const struct sockaddr *ip,
    unsigned per_minute, int64_t now, unsigned *refused)
{
	uint8_t key[16];
	struct ct_slot *s;
	bool ok;

	if (refused != NULL)
		*refused = 0;
	if (t == NULL || per_minute == 0 || !ip_key(ip, key) || !ct_lock(t))
		return true;
	s = find(t, CT_IP, key, now, true);
	ok = bucket_take(&s->conn_tat, per_minute, now);
	if (ok) {
		s->refused = 0;
	} else if (s->refused < UINT32_MAX) {
		s->refused++;
	}
	s->used = now;
	if (refused != NULL)
		*refused = s->refused;
	ct_unlock(t);
	return ok;
}
