/*
 * token.c - confirmation and approval tokens of a list.
 *
 * A token is LISTD_TOKEN_LEN lower-case hex digits from getrandom(2)
 * (96 bits): unguessable, so whoever quotes it back is the one who got
 * the mail that carried it. Each token is one small text file
 * state_dir/lists/LIST/tokens/ID written durably:
 *
 *     action subscribe|unsubscribe|sub-approve|post|unsub-approve
 *     address bob@example.org
 *     expires 1732412345
 *
 * A held post's message is kept beside it in held/ID. Expired tokens are
 * removed when looked up and by token_expire_all() (periodic), which
 * names the posters of expired held posts to its caller (post.c tells
 * them). This file sends no mail: it is below send.c.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "listd.h"
#include "log.h"
#include "util.h"

static const char *const action_names[] = { "subscribe", "unsubscribe",
	"sub-approve", "post", "unsub-approve" };
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *
token_action_name(enum token_action a)
{
	return (unsigned)a < NACTIONS ? action_names[a] : "?";
}

void
token_generate(char *out)
{
	unsigned char raw[LISTD_TOKEN_LEN / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	out[LISTD_TOKEN_LEN] = '\0';
}

bool
token_valid_id(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return i == LISTD_TOKEN_LEN;
}

void
token_format(const struct token *t, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "action %s\naddress %s\nexpires %" PRId64 "\n",
	    token_action_name(t->action), t->address, t->expires);
}

int
token_parse(const char *text, size_t len, struct token *t)
{
	const char *s = text, *end = text + len;
	unsigned have = 0;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
		char line[LIST_ADDRESS_MAX + 32];

		if (n >= sizeof(line))
			return -1;
		memcpy(line, s, n);
		line[n] = '\0';
		s += n + (nl != NULL);
		if (strncmp(line, "action ", 7) == 0) {
			unsigned a;
			for (a = 0; a < NACTIONS; a++)
				if (strcmp(line + 7, action_names[a]) == 0)
					break;
			if (a == NACTIONS)
				return -1;
			t->action = (enum token_action)a;
			have |= 1;
		} else if (strncmp(line, "address ", 8) == 0) {
			if (strlen(line + 8) > LIST_ADDRESS_MAX)
				return -1;
			snprintf(t->address, sizeof(t->address), "%s", line + 8);
			have |= 2;
		} else if (strncmp(line, "expires ", 8) == 0) {
			char *e;
			long long v;

			errno = 0;
			v = strtoll(line + 8, &e, 10);
			if (errno != 0 || *e != '\0' || e == line + 8)
				return -1;
			t->expires = v;
			have |= 4;
		} else if (n != 0) {
			return -1;
		}
	}
	return have == 7 ? 0 : -1;
}

bool
token_expired(const struct token *t, int64_t now)
{
	return now >= t->expires;
}

static void
token_path(struct listd *ld, const struct list_def *d, const char *id,
    struct buf *out)
{
	list_state_path(ld->conf, d, "tokens", out);
	if (id != NULL)
		buf_printf(out, "/%s", id);
}

void
held_path(struct listd *ld, const struct list_def *d, const char *id,
    struct buf *out)
{
	list_state_path(ld->conf, d, "held", out);
	if (id != NULL)
		buf_printf(out, "/%s", id);
}

int
token_create(struct listd *ld, const struct list_def *d,
    enum token_action action, const char *address, int64_t ttl,
    struct token *out)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	int r = 0;

	memset(out, 0, sizeof(*out));
	token_generate(out->id);
	out->action = action;
	snprintf(out->address, sizeof(out->address), "%s", address);
	out->expires = (int64_t)time(NULL) + ttl;
	token_path(ld, d, NULL, &path);
	if (mkdir_p(path.data, 0700) < 0) {
		log_error("event=create-failed list=%s path=%s error=\"%s\"",
		    d->address, path.data, strerror(errno));
		r = -1;
		goto out;
	}
	buf_printf(&path, "/%s", out->id);
	token_format(out, &text);
	if (write_file_durable(path.data, text.data, text.len, 0600) < 0) {
		log_error("event=write-failed list=%s path=%s error=\"%s\"",
		    d->address, path.data, strerror(errno));
		r = -1;
	}
out:
	buf_free(&path);
	buf_free(&text);
	return r;
}

void
token_remove(struct listd *ld, const struct list_def *d, const char *id)
{
	struct buf path = BUF_INIT;

	held_path(ld, d, id, &path);
	unlink(path.data);
	token_path(ld, d, id, &path);
	unlink(path.data);
	fsync_dir_of(path.data);
	buf_free(&path);
}

int
token_load(struct listd *ld, const struct list_def *d, const char *id,
    int64_t now, struct token *out)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	int r;

	if (!token_valid_id(id))
		return 0;
	token_path(ld, d, id, &path);
	if (read_file(path.data, &text, 4096) < 0) {
		r = errno == ENOENT ? 0 : -1;
		if (r < 0)
			log_error("event=read-failed path=%s error=\"%s\"",
			    path.data, strerror(errno));
		goto out;
	}
	memset(out, 0, sizeof(*out));
	if (token_parse(buf_cstr(&text), text.len, out) < 0) {
		log_warn("event=token-damaged path=%s status=removed",
		    path.data);
		token_remove(ld, d, id);
		r = 0;
		goto out;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	if (token_expired(out, now)) {
		log_info("action=expire list=%s token=%s command=%s",
		    d->address, id, token_action_name(out->action));
		token_remove(ld, d, id);
		r = 0;
		goto out;
	}
	r = 1;
out:
	buf_free(&path);
	buf_free(&text);
	return r;
}

unsigned
token_expire_all(struct listd *ld, const struct list_def *d, int64_t now,
    struct strlist *held_posters)
{
	struct buf dir = BUF_INIT;
	struct dirent *de;
	unsigned n = 0;
	DIR *dp;

	token_path(ld, d, NULL, &dir);
	if ((dp = opendir(dir.data)) == NULL) {
		buf_free(&dir);
		return 0;
	}
	while ((de = readdir(dp)) != NULL) {
		struct buf p = BUF_INIT, text = BUF_INIT;
		struct token t;

		if (!token_valid_id(de->d_name))
			continue;
		memset(&t, 0, sizeof(t));
		buf_printf(&p, "%s/%s", dir.data, de->d_name);
		/* A held post that nobody approved: its poster is told. */
		if (read_file(p.data, &text, 4096) == 0 &&
		    token_parse(buf_cstr(&text), text.len, &t) == 0 &&
		    token_expired(&t, now) && t.action == TOKEN_POST &&
		    *t.address != '\0' && held_posters != NULL)
			strlist_add(held_posters, t.address);
		if (token_load(ld, d, de->d_name, now, &t) == 0)
			n++;
		buf_free(&p);
		buf_free(&text);
	}
	closedir(dp);
	buf_free(&dir);
	return n;
}
