/*
 * aliases.c - alias and forward expansion, the aliases text format and
 * its Berkeley DB compilation (see aliases.h and aliases(5)).
 *
 * The .db file is a plain DB_HASH database without an environment: it is
 * only ever replaced as a whole by rename(2), never updated in place, so
 * readers need no locking; they notice a replacement by the inode number
 * and open the new file. Keys are the lower-cased alias names without a
 * trailing NUL, values the normalised target list "a, b, c".
 * Aliases in a directory server (userdb_alias_lookup(), common/userdb.h)
 * come after both files; the directory also says which domains are local.
 */
#include "config.h"

#include <ctype.h>
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aliases.h"
#include "log.h"
#include "sys.h"
#include "userdb.h"
#include "util.h"

struct aliases {
	const struct dmail_conf *conf;
	char *db_path;           /* NULL when no aliases_file */
	DB *db;
	dev_t dev;
	ino_t ino;
	struct userdb *udb;      /* directory aliases and domains, or NULL */
};

struct aliases *
aliases_new(const struct dmail_conf *conf)
{
	struct aliases *a = xcalloc(1, sizeof(*a));

	a->conf = conf;
	if (conf->aliases_file != NULL) {
		struct buf b = BUF_INIT;
		buf_printf(&b, "%s.db", conf->aliases_file);
		a->db_path = buf_steal(&b);
	}
	return a;
}

void
aliases_set_userdb(struct aliases *a, struct userdb *udb)
{
	a->udb = udb;
}

static void
db_drop(struct aliases *a)
{
	if (a->db != NULL)
		a->db->close(a->db, 0);
	a->db = NULL;
}

void
aliases_free(struct aliases *a)
{
	if (a == NULL)
		return;
	db_drop(a);
	free(a->db_path);
	free(a);
}

/* Make sure a->db is the current file. 0 or -1 (err filled). */
static int
db_refresh(struct aliases *a, struct buf *err)
{
	struct stat st;
	int rc;

	if (stat(a->db_path, &st) < 0) {
		buf_printf(err, "aliases database %s: %s", a->db_path,
		    strerror(errno));
		db_drop(a);
		return -1;
	}
	if (a->db != NULL && st.st_dev == a->dev && st.st_ino == a->ino)
		return 0;
	db_drop(a);
	if ((rc = db_create(&a->db, NULL, 0)) != 0) {
		buf_printf(err, "db_create: %s", db_strerror(rc));
		a->db = NULL;
		return -1;
	}
	rc = a->db->open(a->db, NULL, a->db_path, NULL, DB_HASH, DB_RDONLY,
	    0);
	if (rc != 0) {
		buf_printf(err, "aliases database %s: %s", a->db_path,
		    db_strerror(rc));
		db_drop(a);
		return -1;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	return 0;
}

static int
db_get(struct aliases *a, const char *key, struct buf *value,
    struct buf *err)
{
	DBT k, v;
	int rc;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	rc = a->db->get(a->db, NULL, &k, &v, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0) {
		buf_printf(err, "aliases database %s: %s", a->db_path,
		    db_strerror(rc));
		return -1;
	}
	buf_reset(value);
	buf_append(value, v.data, v.size);
	return 1;
}

static const char *
pair_get(const struct pairlist *l, const char *key)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcasecmp(l->items[i].key, key) == 0)
			return l->items[i].value;
	return NULL;
}

/* Steps 4-6 of the lookup (aliases.h): the .db file, then the
 * directory; key lower case, local its local part. */
static int
lookup_tables(struct aliases *a, const char *key, const char *local,
    bool local_domain, struct buf *value, struct buf *err)
{
	int rc;

	if (a->db_path != NULL) {
		if (db_refresh(a, err) < 0)
			return -1;
		if ((rc = db_get(a, key, value, err)) != 0)
			return rc;
		if (local_domain && (rc = db_get(a, local, value, err)) != 0)
			return rc;
	}
	if (!local_domain || a->udb == NULL)
		return 0;
	if ((rc = userdb_alias_lookup(a->udb, key, value)) < 0)
		buf_printf(err, "directory: alias lookup of %s failed", key);
	return rc;
}

int
aliases_lookup(struct aliases *a, const char *address, struct buf *value,
    struct buf *err)
{
	char key[1024], local[1024];
	const char *at, *v;
	int local_domain = 0;

	if (strlen(address) >= sizeof(key))
		return 0;
	strcpy(key, address);
	str_lower(key);
	at = strrchr(key, '@');
	local[0] = '\0';
	if (at != NULL) {
		memcpy(local, key, (size_t)(at - key));
		local[at - key] = '\0';
	}

	if ((v = pair_get(&a->conf->forwards, key)) != NULL ||
	    (v = pair_get(&a->conf->aliases, key)) != NULL) {
		buf_set(value, v);
		return 1;
	}
	if (at != NULL &&
	    (local_domain = userdb_local_domain(a->udb, a->conf, at + 1)) < 0) {
		buf_printf(err, "directory: local domain lookup of %s failed",
		    at + 1);
		return -1;
	}
	if (local_domain && (v = pair_get(&a->conf->aliases, local)) != NULL) {
		buf_set(value, v);
		return 1;
	}
	return lookup_tables(a, key, local, local_domain == 1, value, err);
}

void
alias_result_free(struct alias_result *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->targets[i]);
	free(r->targets);
	memset(r, 0, sizeof(*r));
}

static bool
result_has(const struct alias_result *r, const char *addr)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcasecmp(r->targets[i], addr) == 0)
			return true;
	return false;
}

struct expand_state {
	struct aliases *a;
	struct alias_result *out;
	const char *chain[ALIAS_DEPTH_MAX + 1];
	unsigned depth;
	struct buf *err;
};

static int
expand_one(struct expand_state *st, const char *address)
{
	struct buf value = BUF_INIT, target = BUF_INIT;
	const char *at = strrchr(address, '@');
	char *save = NULL;
	int rc = 0;

	for (unsigned i = 0; i < st->depth; i++) {
		if (strcasecmp(st->chain[i], address) == 0)
			goto literal;   /* self-reference: the account */
	}
	if (st->depth >= ALIAS_DEPTH_MAX) {
		buf_printf(st->err, "alias nesting deeper than %d at %s",
		    ALIAS_DEPTH_MAX, address);
		return -2;
	}
	rc = aliases_lookup(st->a, address, &value, st->err);
	if (rc < 0)
		goto out;
	if (rc == 0)
		goto literal;
	st->out->rewritten = true;
	st->chain[st->depth++] = address;
	rc = 0;
	for (char *t = strtok_r(value.data, ",", &save); t != NULL && rc == 0;
	     t = strtok_r(NULL, ",", &save)) {
		size_t n;

		t = str_trim(t);
		n = strlen(t);
		if (n >= 2 && t[0] == '<' && t[n - 1] == '>') {
			t[n - 1] = '\0';
			t++;
		}
		if (*t == '\0')
			continue;
		buf_set(&target, t);
		if (strchr(t, '@') == NULL && at != NULL)
			buf_append_str(&target, at);
		rc = expand_one(st, target.data);
	}
	st->depth--;
	goto out;
literal:
	if (!result_has(st->out, address)) {
		if (st->out->count >= ALIAS_TARGETS_MAX) {
			buf_printf(st->err, "alias expansion gives more than "
			    "%d addresses", ALIAS_TARGETS_MAX);
			rc = -2;
			goto out;
		}
		st->out->targets = xrealloc(st->out->targets,
		    (st->out->count + 1) * sizeof(char *));
		st->out->targets[st->out->count++] = xstrdup(address);
	}
	rc = 0;
out:
	buf_free(&value);
	buf_free(&target);
	return rc;
}

int
aliases_expand(struct aliases *a, const char *address,
    struct alias_result *out, struct buf *err)
{
	struct expand_state st;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.a = a;
	st.out = out;
	st.err = err;
	rc = expand_one(&st, address);
	if (rc < 0)
		alias_result_free(out);
	return rc;
}

/* --- text format --------------------------------------------------- */

static int
finish_entry(const char *name, struct buf *entry, unsigned line,
    int (*fn)(const char *, const char *, unsigned, void *), void *arg,
    struct buf *err, int *stop)
{
	struct buf norm = BUF_INIT;
	char *colon, *alias, *save = NULL;
	int rc = 0;

	colon = strchr(entry->data, ':');
	if (colon == NULL) {
		buf_printf(err, "%s:%u: missing ':' after the alias name\n",
		    name, line);
		return -1;
	}
	*colon = '\0';
	alias = str_lower(str_trim(entry->data));
	if (*alias == '\0' || strpbrk(alias, " \t,") != NULL) {
		buf_printf(err, "%s:%u: bad alias name '%s'\n", name, line,
		    alias);
		return -1;
	}
	for (char *t = strtok_r(colon + 1, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		t = str_trim(t);
		if (*t == '\0')
			continue;
		if (strpbrk(t, " \t") != NULL && t[0] != '"') {
			buf_printf(err, "%s:%u: alias '%s': target '%s' "
			    "contains blanks (missing comma?)\n", name, line,
			    alias, t);
			buf_free(&norm);
			return -1;
		}
		if (norm.len > 0)
			buf_append_str(&norm, ", ");
		buf_append_str(&norm, t);
	}
	if (norm.len == 0) {
		buf_printf(err, "%s:%u: alias '%s' has no targets\n", name,
		    line, alias);
		rc = -1;
	} else if (norm.len > ALIAS_LINE_MAX) {
		buf_printf(err, "%s:%u: alias '%s' is too long\n", name, line,
		    alias);
		rc = -1;
	} else if (fn(alias, norm.data, line, arg) != 0) {
		*stop = 1;
	}
	buf_free(&norm);
	return rc;
}

int
aliases_parse_text(const char *name, const char *text, size_t len,
    int (*fn)(const char *alias, const char *targets, unsigned line,
    void *arg), void *arg, struct buf *err)
{
	struct buf entry = BUF_INIT;
	const char *p = text, *end = text + len;
	unsigned lineno = 0, entry_line = 0;
	int rc = 0, stop = 0;

	while (p < end && !stop) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		size_t n = (size_t)(le - p);
		const char *q = p;

		lineno++;
		while (q < le && (*q == ' ' || *q == '\t'))
			q++;
		if (memchr(p, '\0', n) != NULL) {
			buf_printf(err, "%s:%u: NUL byte\n", name, lineno);
			rc = -1;
		} else if (q == le || *q == '#' || (q == le - 1 && *q == '\r')) {
			/* blank or comment: does not end a continuation */
		} else if (q != p) {
			if (entry.len == 0) {
				buf_printf(err, "%s:%u: continuation line "
				    "without an alias\n", name, lineno);
				rc = -1;
			} else {
				buf_append_char(&entry, ' ');
				buf_append(&entry, q, (size_t)(le - q));
			}
		} else {
			if (entry.len > 0 && finish_entry(name, &entry,
			    entry_line, fn, arg, err, &stop) < 0)
				rc = -1;
			buf_reset(&entry);
			buf_append(&entry, p, n);
			entry_line = lineno;
		}
		if (entry.len > ALIAS_LINE_MAX + 1024) {
			buf_printf(err, "%s:%u: entry too long\n", name,
			    entry_line);
			rc = -1;
			buf_reset(&entry);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (entry.len > 0 && !stop && finish_entry(name, &entry, entry_line,
	    fn, arg, err, &stop) < 0)
		rc = -1;
	buf_free(&entry);
	return rc;
}

/* --- compilation ---------------------------------------------------- */

struct compile_state {
	DB *db;
	size_t count;
	const char *source;
	struct buf *err;
	int failed;
};

static int
compile_put(const char *alias, const char *targets, unsigned line,
    void *arg)
{
	struct compile_state *cs = arg;
	DBT k, v;
	int rc;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)alias;
	k.size = (u_int32_t)strlen(alias);
	v.data = (void *)targets;
	v.size = (u_int32_t)strlen(targets);
	rc = cs->db->put(cs->db, NULL, &k, &v, DB_NOOVERWRITE);
	if (rc == DB_KEYEXIST) {
		buf_printf(cs->err, "%s:%u: alias '%s' defined twice\n",
		    cs->source, line, alias);
		cs->failed = 1;
		return 0;
	}
	if (rc != 0) {
		buf_printf(cs->err, "%s: %s\n", cs->source, db_strerror(rc));
		cs->failed = 1;
		return 1;
	}
	cs->count++;
	return 0;
}

int
aliases_compile(const char *source, const char *dest, size_t *count,
    struct buf *err)
{
	struct buf text = BUF_INIT, tmp = BUF_INIT;
	struct compile_state cs;
	int rc, fd;

	*count = 0;
	if (read_file(source, &text, 256UL * 1024 * 1024) < 0) {
		buf_printf(err, "%s: %s\n", source, strerror(errno));
		buf_free(&text);
		return -1;
	}
	buf_printf(&tmp, "%s.tmp.%ld", dest, (long)getpid());
	unlink(tmp.data);
	memset(&cs, 0, sizeof(cs));
	cs.source = source;
	cs.err = err;
	if ((rc = db_create(&cs.db, NULL, 0)) != 0) {
		buf_printf(err, "db_create: %s\n", db_strerror(rc));
		goto fail;
	}
	rc = cs.db->open(cs.db, NULL, tmp.data, NULL, DB_HASH,
	    DB_CREATE | DB_EXCL, 0644);
	if (rc != 0) {
		buf_printf(err, "%s: %s\n", tmp.data, db_strerror(rc));
		cs.db->close(cs.db, 0);
		goto fail;
	}
	if (aliases_parse_text(source, text.data, text.len, compile_put, &cs,
	    err) < 0)
		cs.failed = 1;
	rc = cs.db->close(cs.db, 0);   /* flushes the file */
	if (rc != 0) {
		buf_printf(err, "%s: %s\n", tmp.data, db_strerror(rc));
		cs.failed = 1;
	}
	if (cs.failed)
		goto fail_unlink;
	/* Durable before it replaces the old one (durable_publish()). */
	fd = sys_open(tmp.data, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		buf_printf(err, "%s: %s\n", tmp.data, strerror(errno));
		goto fail_unlink;
	}
	/* Readable by the workers' user whatever the umask was. */
	(void)fchmod(fd, 0644);
	if (durable_publish(fd, tmp.data, dest, true) < 0) {
		buf_printf(err, "%s: %s\n", dest, strerror(errno));
		goto fail;
	}
	*count = cs.count;
	buf_free(&text);
	buf_free(&tmp);
	return 0;
fail_unlink:
	unlink(tmp.data);
fail:
	buf_free(&text);
	buf_free(&tmp);
	return -1;
}
