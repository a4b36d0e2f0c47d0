/*
 * lists.c - lists.dat parser and its key table (list_keys[]: each key's
 * kind and one line of lists.dat(5)), one value's check, editing blocks,
 * list address recognition and list state paths (see lists.h and
 * lists.dat(5)). Editing the file as a whole is listedit.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lists.h"
#include "log.h"
#include "util.h"

#define LIST_DEFAULT_DIGEST_SIZE (40u * 1024)
#define LIST_DEFAULT_DIGEST_INTERVAL (24u * 3600)
#define LIST_DEFAULT_BOUNCE_THRESHOLD 5
#define LIST_DEFAULT_FILE_MAX_SIZE (1024u * 1024)
#define LIST_DEFAULT_FILES_MAX_SIZE (20u * 1024 * 1024)

/* Keys of a list block; "seen" bits catch keys given twice. */
enum lkey {
	LK_OWNER, LK_MODERATOR, LK_DESCRIPTION, LK_SUBSCRIBE, LK_POST,
	LK_REPLY_TO, LK_SUBJECT_PREFIX, LK_MAX_SIZE, LK_ARCHIVE, LK_DIGEST,
	LK_DIGEST_MAX_SIZE, LK_DIGEST_INTERVAL, LK_HIDDEN, LK_VERP,
	LK_BOUNCE_THRESHOLD, LK_DIGEST_FORMAT, LK_PASSWORD, LK_FILE_MAX_SIZE,
	LK_FILES_MAX_SIZE, LK_COUNT
};

static const char *const sub_names[] = { "open", "confirm", "approve",
	"closed", NULL };
static const char *const post_names[] = { "members", "anyone", "moderated",
	"announce", NULL };
static const char *const reply_names[] = { "list", "sender", "none", NULL };
static const char *const digest_names[] = { "rfc1153", "mime", NULL };

/* In enum lkey order. The doc lines are lists.dat(5) in short; the web
 * manager shows them beside each setting. */
const struct list_key list_keys[LK_COUNT] = {
	{ "owner", LIST_KEY_ADDRESSES, NULL, "Owners (required, blank or "
	    "comma separated): approvals, bounce reports and LIST-owner mail; "
	    "they may change the list." },
	{ "moderator", LIST_KEY_ADDRESSES, NULL, "Moderators approve or "
	    "reject held posts (the owners do when there is none)." },
	{ "description", LIST_KEY_TEXT, NULL, "Shown by the lists and info "
	    "commands and in the List-Id header." },
	{ "subscribe", LIST_KEY_WORD, sub_names, "open: at once; confirm: "
	    "the address confirms (double opt-in); approve: confirmation, "
	    "then an owner; closed: owners only." },
	{ "post", LIST_KEY_WORD, post_names, "Who posts: members (others "
	    "held), anyone, moderated (all held but owners' and moderators'), "
	    "announce (owners and moderators only)." },
	{ "reply_to", LIST_KEY_WORD, reply_names, "list: Reply-To is the "
	    "list; sender and none leave the poster's headers alone." },
	{ "subject_prefix", LIST_KEY_TEXT, NULL, "Added in front of the "
	    "Subject unless already there; default [NAME]; none adds "
	    "nothing." },
	{ "max_size", LIST_KEY_SIZE, NULL, "Largest post in bytes (k, M, "
	    "G); 0: only the server's max_message_size." },
	{ "archive", LIST_KEY_BOOL, NULL, "Keep every distributed post for "
	    "the index and get commands." },
	{ "digest", LIST_KEY_BOOL, NULL, "Members may choose digests." },
	{ "digest_max_size", LIST_KEY_SIZE, NULL, "A digest is sent when "
	    "the waiting posts reach this size..." },
	{ "digest_interval", LIST_KEY_DURATION, NULL, "... or when the "
	    "oldest waiting post is this old (s, m, h, d)." },
	{ "hidden", LIST_KEY_BOOL, NULL, "Not shown by the lists command; "
	    "only owners and moderators see the members." },
	{ "verp", LIST_KEY_BOOL, NULL, "One envelope per remote member, so "
	    "that a bounce names its member; no: one shared queue entry." },
	{ "bounce_threshold", LIST_KEY_NUMBER, NULL, "Bounce score at which "
	    "a member is set to nomail and the owners are told." },
	{ "digest_format", LIST_KEY_WORD, digest_names, "rfc1153: plain text "
	    "digests; mime: a multipart/digest." },
	{ "password", LIST_KEY_HASH, NULL, "The list password owners give in "
	    "mail commands (kept as a crypt(3) hash)." },
	{ "file_max_size", LIST_KEY_SIZE, NULL, "Largest shared file." },
	{ "files_max_size", LIST_KEY_SIZE, NULL, "All shared files of the "
	    "list together." },
};
const size_t list_key_count = LK_COUNT;

struct parser {
	const char *name;
	unsigned line;
	struct buf *err;
	int errors;
};

static void __attribute__((format(printf, 2, 3)))
perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->name != NULL)     /* NULL: one value, no place to name */
		buf_printf(p->err, "%s:%u: ", p->name, p->line);
	va_start(ap, fmt);
	buf_vprintf(p->err, fmt, ap);
	va_end(ap);
	buf_append_char(p->err, '\n');
	p->errors++;
}

bool
list_valid_address(const char *a)
{
	const char *at = strrchr(a, '@');
	size_t len = strlen(a);

	if (len == 0 || len > LIST_ADDRESS_MAX || at == NULL || at == a ||
	    at[1] == '\0' || strchr(at + 1, '.') == NULL)
		return false;
	for (const char *s = a; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' ||
		    c == '"' || c == '\\' || c == '(' || c == ')' || c == ';')
			return false;
	}
	if (strchr(a, '@') != at)
		return false;
	return true;
}

/* A crypt(3) hash as userdb_hash_password() makes: "$id$...", printable,
 * no blanks, short enough for a user_record. */
static bool
list_valid_hash(const char *v)
{
	size_t n = strlen(v);

	if (n < 4 || n >= 256 || v[0] != '$')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
			return false;
	return true;
}

/* A list name: letters, digits, '.', '_', '-'; not one of our suffixes. */
static const char *
list_name_problem(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t n = (size_t)(at - addr);
	static const char *const suffixes[] = { "-request", "-owner",
		"-bounces", NULL };

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return "list name may only hold letters, digits, '.', "
			    "'_' and '-'";
	}
	if (addr[0] == '-' || addr[0] == '.')
		return "list name must start with a letter or digit";
	if (n == strlen(LIST_DLIST_LOCAL) &&
	    strncmp(addr, LIST_DLIST_LOCAL, n) == 0)
		return "'dlist' is reserved for the command address";
	for (int i = 0; suffixes[i] != NULL; i++) {
		size_t sl = strlen(suffixes[i]);
		if (n > sl && strncmp(addr + n - sl, suffixes[i], sl) == 0)
			return "list name may not end in -request, -owner or "
			    "-bounces";
	}
	return NULL;
}

static int
parse_enum(const char *v, const char *const *names)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcasecmp(v, names[i]) == 0)
			return i;
	return -1;
}

static int
parse_bool(const char *v, bool *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "on") == 0) {
		*out = true;
		return 0;
	}
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcasecmp(v, "off") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

static void
enum_error(struct parser *p, const char *key, const char *v,
    const char *const *names)
{
	struct buf b = BUF_INIT;

	for (int i = 0; names[i] != NULL; i++)
		buf_printf(&b, "%s%s", i ? "|" : "", names[i]);
	perr(p, "%s: '%s' is not one of %s", key, v, b.data);
	buf_free(&b);
}

static void
list_def_free(struct list_def *d)
{
	free(d->address);
	free(d->name);
	free(d->domain);
	strlist_free(&d->owners);
	strlist_free(&d->moderators);
	free(d->description);
	free(d->subject_prefix);
	free(d->password);
	memset(d, 0, sizeof(*d));
}

void
lists_free(struct lists *l)
{
	for (size_t i = 0; i < l->count; i++)
		list_def_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static void
list_def_init(struct list_def *d, const char *address, unsigned line)
{
	char *at;

	memset(d, 0, sizeof(*d));
	d->address = str_lower(xstrdup(address));
	at = strchr(d->address, '@');
	d->name = xstrndup(d->address, (size_t)(at - d->address));
	d->domain = xstrdup(at + 1);
	d->description = xstrdup("");
	d->subscribe = LIST_SUB_CONFIRM;
	d->post = LIST_POST_MEMBERS;
	d->reply_to = LIST_REPLY_LIST;
	d->archive = true;
	d->digest = true;
	d->digest_max_size = LIST_DEFAULT_DIGEST_SIZE;
	d->digest_interval = LIST_DEFAULT_DIGEST_INTERVAL;
	d->verp = true;
	d->bounce_threshold = LIST_DEFAULT_BOUNCE_THRESHOLD;
	d->password = xstrdup("");
	d->file_max_size = LIST_DEFAULT_FILE_MAX_SIZE;
	d->files_max_size = LIST_DEFAULT_FILES_MAX_SIZE;
	d->line = line;
}

/* Add the addresses in v (blank or comma separated) to l. */
static void
parse_addresses(struct parser *p, const char *key, char *v,
    struct strlist *l)
{
	char *save = NULL;

	for (char *w = strtok_r(v, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save)) {
		if (!list_valid_address(w)) {
			perr(p, "%s: '%s' is not an address (user@domain)",
			    key, w);
			continue;
		}
		str_lower(w);
		if (!strlist_contains_ci(l, w))
			strlist_add(l, w);
	}
}

static void
parse_password(struct parser *p, struct list_def *d, const char *v)
{
	if (!list_valid_hash(v)) {
		perr(p, "password: not a crypt(3) hash (set it with 'dlist "
		    "passwd')");
		return;
	}
	free(d->password);
	d->password = xstrdup(v);
}

/* Where the value of a size key goes. */
static uint64_t *
size_field(struct list_def *d, enum lkey k)
{
	switch (k) {
	case LK_DIGEST_MAX_SIZE:
		return &d->digest_max_size;
	case LK_FILE_MAX_SIZE:
		return &d->file_max_size;
	case LK_FILES_MAX_SIZE:
		return &d->files_max_size;
	default:
		return &d->max_size;
	}
}

static void
parse_key(struct parser *p, struct list_def *d, unsigned *seen,
    const char *key, char *v)
{
	int k, e;
	uint64_t size;
	unsigned u;

	for (k = 0; k < LK_COUNT; k++)
		if (strcmp(key, list_keys[k].name) == 0)
			break;
	if (k == LK_COUNT) {
		perr(p, "unknown key '%s'", key);
		return;
	}
	if (k != LK_OWNER && k != LK_MODERATOR && (*seen & (1u << k))) {
		perr(p, "'%s' given twice for list %s", key, d->address);
		return;
	}
	*seen |= 1u << k;
	if (*v == '\0' && k != LK_SUBJECT_PREFIX && k != LK_DESCRIPTION) {
		perr(p, "'%s' needs a value", key);
		return;
	}
	switch ((enum lkey)k) {
	case LK_OWNER:
		parse_addresses(p, key, v, &d->owners);
		break;
	case LK_MODERATOR:
		parse_addresses(p, key, v, &d->moderators);
		break;
	case LK_DESCRIPTION:
		free(d->description);
		d->description = xstrdup(v);
		break;
	case LK_SUBSCRIBE:
		if ((e = parse_enum(v, sub_names)) < 0)
			enum_error(p, key, v, sub_names);
		else
			d->subscribe = (enum list_subscribe)e;
		break;
	case LK_POST:
		if ((e = parse_enum(v, post_names)) < 0)
			enum_error(p, key, v, post_names);
		else
			d->post = (enum list_post)e;
		break;
	case LK_REPLY_TO:
		if ((e = parse_enum(v, reply_names)) < 0)
			enum_error(p, key, v, reply_names);
		else
			d->reply_to = (enum list_reply_to)e;
		break;
	case LK_DIGEST_FORMAT:
		if ((e = parse_enum(v, digest_names)) < 0)
			enum_error(p, key, v, digest_names);
		else
			d->digest_mime = e == 1;
		break;
	case LK_SUBJECT_PREFIX:
		free(d->subject_prefix);
		d->subject_prefix = xstrdup(strcasecmp(v, "none") == 0 ? "" : v);
		break;
	case LK_PASSWORD:
		parse_password(p, d, v);
		break;
	case LK_MAX_SIZE:
	case LK_DIGEST_MAX_SIZE:
	case LK_FILE_MAX_SIZE:
	case LK_FILES_MAX_SIZE:
		if (parse_size(v, &size) < 0)
			perr(p, "%s: '%s' is not a size", key, v);
		else
			*size_field(d, (enum lkey)k) = size;
		break;
	case LK_DIGEST_INTERVAL:
		if (parse_duration(v, &u) < 0 || u == 0)
			perr(p, "%s: '%s' is not a duration", key, v);
		else
			d->digest_interval = u;
		break;
	case LK_BOUNCE_THRESHOLD: {
		char *end;
		unsigned long n;

		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno != 0 || *end != '\0' || n == 0 || n > 1000000 ||
		    !isdigit((unsigned char)*v))
			perr(p, "%s: '%s' is not a number from 1 to 1000000",
			    key, v);
		else
			d->bounce_threshold = (unsigned)n;
		break;
	}
	case LK_ARCHIVE:
	case LK_DIGEST:
	case LK_HIDDEN:
	case LK_VERP: {
		bool b;

		if (parse_bool(v, &b) < 0) {
			perr(p, "%s: '%s' is not yes or no", key, v);
			break;
		}
		if (k == LK_ARCHIVE)
			d->archive = b;
		else if (k == LK_DIGEST)
			d->digest = b;
		else if (k == LK_HIDDEN)
			d->hidden = b;
		else
			d->verp = b;
		break;
	}
	case LK_COUNT:
		break;
	}
}

/* Checks at the end of a block. */
static void
finish_list(struct parser *p, struct list_def *d)
{
	unsigned save = p->line;

	if (d->subject_prefix == NULL) {
		struct buf b = BUF_INIT;

		buf_printf(&b, "[%s]", d->name);
		d->subject_prefix = buf_steal(&b);
	}
	p->line = d->line;
	if (d->owners.count == 0)
		perr(p, "list %s has no owner", d->address);
	p->line = save;
}

const struct list_key *
list_key_find(const char *name)
{
	for (size_t k = 0; k < LK_COUNT; k++)
		if (strcmp(name, list_keys[k].name) == 0)
			return &list_keys[k];
	return NULL;
}

/* n with the largest of the suffixes (units[i] times mults[i]) that
 * divides it, e.g. 2097152 as "2M", 86400 as "1d". */
static void
unit_text(uint64_t n, const char *units, const uint64_t *mults,
    struct buf *out)
{
	for (size_t i = 0; units[i] != '\0'; i++)
		if (n != 0 && n % mults[i] == 0) {
			buf_printf(out, "%llu%c", (unsigned long long)(n /
			    mults[i]), units[i]);
			return;
		}
	buf_printf(out, "%llu", (unsigned long long)n);
}

static void
size_text(uint64_t n, struct buf *out)
{
	static const uint64_t m[] = { 1024ull * 1024 * 1024, 1024 * 1024,
		1024 };

	unit_text(n, "GMk", m, out);
}

void
list_key_value(const struct list_def *d, const char *key, struct buf *out)
{
	static const uint64_t dm[] = { 86400, 3600, 60 };
	const struct list_key *lk = list_key_find(key);
	enum lkey k = lk != NULL ? (enum lkey)(lk - list_keys) : LK_COUNT;
	const struct strlist *l = k == LK_OWNER ? &d->owners : &d->moderators;
	bool b = k == LK_ARCHIVE ? d->archive : k == LK_DIGEST ? d->digest :
	    k == LK_HIDDEN ? d->hidden : d->verp;
	uint64_t size = k == LK_DIGEST_MAX_SIZE ? d->digest_max_size :
	    k == LK_FILE_MAX_SIZE ? d->file_max_size :
	    k == LK_FILES_MAX_SIZE ? d->files_max_size : d->max_size;

	buf_reset(out);
	switch (k) {
	case LK_OWNER:
	case LK_MODERATOR:
		for (size_t i = 0; i < l->count; i++)
			buf_printf(out, "%s%s", i > 0 ? ", " : "", l->items[i]);
		break;
	case LK_DESCRIPTION:
		buf_append_str(out, d->description);
		break;
	case LK_SUBSCRIBE:
		buf_append_str(out, sub_names[d->subscribe]);
		break;
	case LK_POST:
		buf_append_str(out, post_names[d->post]);
		break;
	case LK_REPLY_TO:
		buf_append_str(out, reply_names[d->reply_to]);
		break;
	case LK_DIGEST_FORMAT:
		buf_append_str(out, digest_names[d->digest_mime]);
		break;
	case LK_SUBJECT_PREFIX:
		buf_append_str(out, *d->subject_prefix != '\0' ?
		    d->subject_prefix : "none");
		break;
	case LK_PASSWORD:
		buf_append_str(out, d->password);
		break;
	case LK_MAX_SIZE:
	case LK_DIGEST_MAX_SIZE:
	case LK_FILE_MAX_SIZE:
	case LK_FILES_MAX_SIZE:
		size_text(size, out);
		break;
	case LK_DIGEST_INTERVAL:
		unit_text(d->digest_interval, "dhm", dm, out);
		break;
	case LK_BOUNCE_THRESHOLD:
		buf_printf(out, "%u", d->bounce_threshold);
		break;
	case LK_ARCHIVE:
	case LK_DIGEST:
	case LK_HIDDEN:
	case LK_VERP:
		buf_append_str(out, b ? "yes" : "no");
		break;
	case LK_COUNT:
		break;
	}
}

int
list_key_check(const char *key, const char *value, struct buf *norm,
    struct buf *err)
{
	const struct list_key *lk = list_key_find(key);
	struct parser p = { NULL, 0, err, 0 };
	struct list_def d;
	unsigned seen = 0;
	char *copy, *v;

	buf_reset(norm);
	if (lk == NULL) {
		buf_printf(err, "unknown key '%s'", key);
		return -1;
	}
	for (const char *s = value; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f) {
			buf_printf(err, "%s: line breaks and control "
			    "characters are not allowed", key);
			return -1;
		}
	copy = xstrdup(value);
	v = str_trim(copy);
	/* Empty: the key goes (moderator, description), or none. */
	if (*v == '\0' && (lk == &list_keys[LK_MODERATOR] ||
	    lk == &list_keys[LK_DESCRIPTION])) {
		free(copy);
		return 0;
	}
	list_def_init(&d, "check@example.invalid", 0);
	parse_key(&p, &d, &seen, key, v);
	if (p.errors == 0) {
		list_key_value(&d, key, norm);
		if (lk == &list_keys[LK_OWNER] && d.owners.count == 0)
			perr(&p, "owner: at least one address");
	}
	list_def_free(&d);
	free(copy);
	if (p.errors > 0 && err->len > 0 && err->data[err->len - 1] == '\n')
		buf_truncate(err, err->len - 1);
	return p.errors > 0 ? -1 : 0;
}

int
lists_parse(const char *name, const char *text, size_t len,
    struct lists *out, struct buf *err)
{
	struct parser p = { name, 0, err, 0 };
	struct lists l = { NULL, 0 };
	struct list_def *cur = NULL;
	unsigned seen = 0;
	const char *s = text, *end = text + len;
	char *line;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
		char *key, *v;

		p.line++;
		line = xstrndup(s, n);
		s += n + (nl != NULL);
		if (strlen(line) != n) {
			perr(&p, "NUL byte in line");
			free(line);
			continue;
		}
		key = str_trim(line);
		if (*key == '\0' || *key == '#') {
			free(line);
			continue;
		}
		v = key;
		while (*v != '\0' && *v != ' ' && *v != '\t')
			v++;
		if (*v != '\0')
			*v++ = '\0';
		v = str_trim(v);
		if (strcmp(key, "list") == 0) {
			const char *why;

			if (cur != NULL)
				finish_list(&p, cur);
			cur = NULL;
			if (!list_valid_address(v)) {
				perr(&p, "list: '%s' is not an address "
				    "(name@domain)", v);
			} else if ((why = list_name_problem(v)) != NULL) {
				perr(&p, "list %s: %s", v, why);
			} else if (lists_find(&l, v) != NULL &&
			    strchr(v, '@') != NULL) {
				perr(&p, "list %s defined twice (first on line "
				    "%u)", v, lists_find(&l, v)->line);
			} else {
				l.items = xrealloc(l.items,
				    (l.count + 1) * sizeof(*l.items));
				cur = &l.items[l.count++];
				list_def_init(cur, v, p.line);
				seen = 0;
				free(line);
				continue;
			}
			/* Skip the keys of a bad block without more noise. */
			cur = NULL;
			seen = ~0u;
			free(line);
			continue;
		}
		if (cur == NULL) {
			if (seen != ~0u)
				perr(&p, "'%s' outside a list block (a block "
				    "starts with 'list NAME@DOMAIN')", key);
			free(line);
			continue;
		}
		parse_key(&p, cur, &seen, key, v);
		free(line);
	}
	if (cur != NULL)
		finish_list(&p, cur);
	if (p.errors > 0) {
		lists_free(&l);
		return -1;
	}
	lists_free(out);
	*out = l;
	return 0;
}

int
lists_load(const char *path, struct lists *out, struct buf *err)
{
	struct buf text = BUF_INIT;
	int r;

	if (read_file(path, &text, LISTS_FILE_MAX) < 0) {
		if (errno == ENOENT) {
			lists_free(out);
			buf_free(&text);
			return 0;
		}
		buf_printf(err, "%s: cannot read: %s\n", path, strerror(errno));
		buf_free(&text);
		return -1;
	}
	r = lists_parse(path, text.data != NULL ? text.data : "", text.len,
	    out, err);
	buf_free(&text);
	return r;
}

const struct list_def *
lists_find(const struct lists *l, const char *addr)
{
	const struct list_def *hit = NULL;
	size_t hits = 0;

	for (size_t i = 0; i < l->count; i++) {
		if (strcasecmp(l->items[i].address, addr) == 0)
			return &l->items[i];
		if (strchr(addr, '@') == NULL &&
		    strcasecmp(l->items[i].name, addr) == 0) {
			hit = &l->items[i];
			hits++;
		}
	}
	return hits == 1 ? hit : NULL;
}

/* Decode the VERP part "bob=x.test" into "bob@x.test". */
static bool
verp_decode(const char *s, size_t n, char *out, size_t outlen)
{
	const char *eq = NULL;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '=')
			eq = s + i;
	if (eq == NULL || eq == s || (size_t)(eq - s) + 1 >= n ||
	    n + 1 > outlen)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	out[eq - s] = '@';
	str_lower(out);
	return list_valid_address(out);
}

enum list_addr_kind
lists_match(const struct lists *l, const char *address,
    const struct list_def **list, char *member, size_t memberlen)
{
	const char *at = strrchr(address, '@');
	const char *domain;
	size_t llen;
	bool domain_has_list = false;

	*list = NULL;
	if (memberlen > 0)
		member[0] = '\0';
	if (at == NULL)
		return LIST_ADDR_NONE;
	domain = at + 1;
	llen = (size_t)(at - address);
	for (size_t i = 0; i < l->count; i++) {
		const struct list_def *d = &l->items[i];
		size_t nl = strlen(d->name);
		const char *rest;

		if (strcasecmp(d->domain, domain) != 0)
			continue;
		domain_has_list = true;
		if (llen < nl || strncasecmp(address, d->name, nl) != 0)
			continue;
		rest = address + nl;
		*list = d;
		if (rest == at)
			return LIST_ADDR_POST;
		if ((size_t)(at - rest) == 8 &&
		    strncasecmp(rest, "-request", 8) == 0)
			return LIST_ADDR_REQUEST;
		if ((size_t)(at - rest) == 6 &&
		    strncasecmp(rest, "-owner", 6) == 0)
			return LIST_ADDR_OWNER;
		if ((size_t)(at - rest) == 8 &&
		    strncasecmp(rest, "-bounces", 8) == 0)
			return LIST_ADDR_BOUNCES;
		if ((size_t)(at - rest) > 9 &&
		    strncasecmp(rest, "-bounces+", 9) == 0 &&
		    verp_decode(rest + 9, (size_t)(at - rest) - 9, member,
		    memberlen))
			return LIST_ADDR_BOUNCES;
		*list = NULL;
	}
	if (domain_has_list && llen == strlen(LIST_DLIST_LOCAL) &&
	    strncasecmp(address, LIST_DLIST_LOCAL, llen) == 0)
		return LIST_ADDR_DLIST;
	return LIST_ADDR_NONE;
}

bool
list_is_owner(const struct list_def *d, const char *address)
{
	return strlist_contains_ci(&d->owners, address);
}

bool
list_is_moderator(const struct list_def *d, const char *address)
{
	return strlist_contains_ci(&d->owners, address) ||
	    strlist_contains_ci(&d->moderators, address);
}

void
list_addr(const struct list_def *d, const char *suffix, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s%s@%s", d->name, suffix, d->domain);
}

void
list_verp_addr(const struct list_def *d, const char *member,
    struct buf *out)
{
	const char *at = strrchr(member, '@');

	buf_reset(out);
	if (at == NULL) {
		list_addr(d, "-bounces", out);
		return;
	}
	buf_printf(out, "%s-bounces+%.*s=%s@%s", d->name,
	    (int)(at - member), member, at + 1, d->domain);
}

void
list_id(const struct list_def *d, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s.%s", d->name, d->domain);
}

void
list_state_path(const struct dmail_conf *conf, const struct list_def *d,
    const char *sub, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/lists/%s", conf->state_dir, d->address);
	if (sub != NULL && *sub != '\0')
		buf_printf(out, "/%s", sub);
}

void
lists_block_format(const char *address, const struct strlist *owners,
    const char *description, struct buf *out)
{
	buf_printf(out, "\nlist %s\n", address);
	for (size_t i = 0; i < owners->count; i++)
		buf_printf(out, "\towner %s\n", owners->items[i]);
	if (description != NULL && *description != '\0')
		buf_printf(out, "\tdescription %s\n", description);
	buf_append_str(out, "\tsubscribe confirm\n\tpost members\n");
}

/* The blanks str_trim() drops around a lists.dat key and value. */
static bool
is_trimmed(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Does the line at s (length n) open the block of address? Any "list"
 * line when address is NULL. Blanks are skipped exactly as lists_parse()
 * skips them, or a block could be missed or run into the next one. */
static bool
is_list_line(const char *s, size_t n, const char *address)
{
	size_t i = 0, al;

	while (i < n && is_trimmed(s[i]))
		i++;
	if (n - i < 5 || strncmp(s + i, "list", 4) != 0 ||
	    (s[i + 4] != ' ' && s[i + 4] != '\t'))
		return false;
	if (address == NULL)
		return true;
	i += 5;
	while (i < n && is_trimmed(s[i]))
		i++;
	al = strlen(address);
	while (n > i && is_trimmed(s[n - 1]))
		n--;
	return n - i == al && strncasecmp(s + i, address, al) == 0;
}

int
lists_block_find(const char *text, size_t len, const char *address,
    size_t *start, size_t *stop)
{
	size_t pos = 0;

	*start = SIZE_MAX;
	*stop = len;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

		if (*start == SIZE_MAX) {
			if (is_list_line(text + pos, n, address))
				*start = pos;
		} else if (is_list_line(text + pos, n, NULL)) {
			*stop = pos;
			break;
		}
		pos += n + (nl != NULL);
	}
	return *start != SIZE_MAX;
}

int
lists_block_remove(struct buf *text, const char *address)
{
	size_t start, stop;

	if (!lists_block_find(text->data, text->len, address, &start, &stop))
		return 0;
	/* Take the blank line before the block with it. */
	if (start >= 2 && text->data[start - 1] == '\n' &&
	    text->data[start - 2] == '\n')
		start--;
	memmove(text->data + start, text->data + stop, text->len - stop);
	buf_truncate(text, text->len - (stop - start));
	return 1;
}

int
lists_block_check(const char *address, const char *block, size_t len,
    struct buf *err)
{
	struct lists l = { NULL, 0 };
	int r = -1;

	if (lists_parse("block", block, len, &l, err) < 0)
		return -1;
	if (l.count != 1)
		buf_printf(err, "block: %zu lists; it must hold exactly one, "
		    "opened by 'list %s'\n", l.count, address);
	else if (strcasecmp(l.items[0].address, address) != 0)
		buf_printf(err, "block: it opens list %s, not %s (a list "
		    "cannot be renamed or added this way)\n",
		    l.items[0].address, address);
	else
		r = 0;
	lists_free(&l);
	return r;
}

int
lists_block_replace(struct buf *text, const char *address,
    const char *block, size_t len)
{
	struct buf out = BUF_INIT;
	size_t start, stop;

	if (!lists_block_find(text->data, text->len, address, &start, &stop))
		return 0;
	buf_append(&out, text->data, start);
	buf_append(&out, block, len);
	if (len > 0 && block[len - 1] != '\n')
		buf_append_char(&out, '\n');
	buf_append(&out, text->data + stop, text->len - stop);
	buf_reset(text);
	buf_append(text, out.data, out.len);
	buf_free(&out);
	return 1;
}

/* Is the line at s (n bytes) "KEY value" (blanks around allowed)? */
static bool
is_key_line(const char *s, size_t n, const char *key)
{
	size_t i = 0, kl = strlen(key);

	while (i < n && is_trimmed(s[i]))
		i++;
	return n - i >= kl && strncmp(s + i, key, kl) == 0 &&
	    (n - i == kl || is_trimmed(s[i + kl]));
}

int
lists_block_set_key(struct buf *text, const char *address, const char *key,
    const char *value)
{
	struct buf block = BUF_INIT, rest = BUF_INIT;
	size_t start, stop, pos;
	bool done = false;
	int r;

	if (!lists_block_find(text->data, text->len, address, &start, &stop))
		return 0;
	for (pos = start; pos < stop;) {
		const char *ln = text->data + pos;
		const char *nl = memchr(ln, '\n', stop - pos);
		size_t n = nl != NULL ? (size_t)(nl - ln) : stop - pos, ind = 0;
		bool head = pos == start;

		pos += n + (nl != NULL);
		if (head || !is_key_line(ln, n, key)) {
			buf_append(head ? &block : &rest, ln, n);
			buf_append_char(head ? &block : &rest, '\n');
			continue;
		}
		/* The first KEY line becomes the new one, indented alike. */
		while (ind < n && (ln[ind] == ' ' || ln[ind] == '\t'))
			ind++;
		if (!done && value != NULL) {
			buf_append(&rest, ln, ind);
			buf_printf(&rest, "%s %s\n", key, value);
		}
		done = true;
	}
	/* A new key follows the "list" line. */
	if (!done && value != NULL)
		buf_printf(&block, "\t%s %s\n", key, value);
	buf_append(&block, rest.data, rest.len);
	r = lists_block_replace(text, address, block.data, block.len);
	buf_free(&block);
	buf_free(&rest);
	return r;
}

int
lists_file_lock(const char *lists_file, struct buf *err)
{
	struct buf p = BUF_INIT;
	int fd;

	buf_printf(&p, "%s.lock", lists_file);
	/* Read-only and world-readable: root's dlist and the list worker
	 * (run_as) lock the same file; flock needs no write access. */
	fd = open(p.data, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0 && geteuid() == 0)
		(void)fchmod(fd, 0644);          /* 0600 from older dlist */
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		buf_printf(err, "cannot lock %s: %s", p.data, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	buf_free(&p);
	return fd;
}

int
lists_file_write(const char *lists_file, const char *text, size_t len,
    struct buf *err)
{
	struct lists check = { NULL, 0 };
	struct stat st;
	mode_t mode = 0644;

	if (lists_parse(lists_file, text, len, &check, err) < 0)
		return -1;
	lists_free(&check);
	if (stat(lists_file, &st) == 0)
		mode = st.st_mode & 07777;
	if (write_file_durable(lists_file, text, len, mode) < 0) {
		buf_printf(err, "cannot write %s: %s\n", lists_file,
		    strerror(errno));
		return -2;
	}
	return 0;
}

void
lists_cache_init(struct lists_cache *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->path = path != NULL ? xstrdup(path) : NULL;
}

void
lists_cache_free(struct lists_cache *c)
{
	lists_free(&c->lists);
	free(c->path);
	free(c->fallback);
	memset(c, 0, sizeof(*c));
}

void
lists_cache_fallback(struct lists_cache *c, const char *path)
{
	free(c->fallback);
	c->fallback = path != NULL ? xstrdup(path) : NULL;
}

void
lists_fallback_path(const struct dmail_conf *conf, struct buf *out)
{
	conf_state_path(conf, "lists/lists.dat.good", out);
}

/* After a good load: make the fallback copy equal to the file. Failures
 * (e.g. no permission) only cost the fallback. */
static void
save_good(struct lists_cache *c)
{
	struct buf now = BUF_INIT, old = BUF_INIT;

	if (c->fallback == NULL || c->path == NULL)
		return;
	if (read_file(c->path, &now, LISTS_FILE_MAX) < 0)
		goto out;
	if (read_file(c->fallback, &old, LISTS_FILE_MAX) == 0 &&
	    old.len == now.len && memcmp(buf_cstr(&old), buf_cstr(&now),
	    now.len) == 0)
		goto out;
	{
		char *dir = xstrdup(c->fallback), *slash = strrchr(dir, '/');

		if (slash != NULL && slash != dir) {
			*slash = '\0';
			(void)mkdir_p(dir, 0700);
		}
		free(dir);
	}
	if (write_file_durable(c->fallback, buf_cstr(&now), now.len,
	    0600) < 0)
		log_debug("event=write-failed path=%s error=\"%s\"",
		    c->fallback, strerror(errno));
out:
	buf_free(&now);
	buf_free(&old);
}

/* Never had a good version: try the fallback copy. */
static void
load_fallback(struct lists_cache *c)
{
	struct buf err = BUF_INIT;

	if (c->had_good || c->fallback == NULL)
		return;
	if (lists_load(c->fallback, &c->lists, &err) == 0 &&
	    c->lists.count > 0) {
		c->had_good = true;
		log_warn("event=lists-fallback path=%s reason=\"serving the "
		    "last good copy until %s is fixed\"", c->fallback, c->path);
	}
	buf_free(&err);
}

const struct lists *
lists_cache_get(struct lists_cache *c, bool *ok)
{
	struct stat st;
	struct buf err = BUF_INIT;
	bool good = true;

	if (c->path == NULL) {
		if (ok != NULL)
			*ok = true;
		return &c->lists;
	}
	if (stat(c->path, &st) < 0) {
		if (errno != ENOENT) {
			log_error("event=lists-failed path=%s error=\"%s\"",
			    c->path, strerror(errno));
			good = false;
		} else if (!c->loaded || c->ino != 0) {
			lists_free(&c->lists);
			c->loaded = true;
			c->had_good = true;
			c->bad = false;
			c->ino = 0;
			c->dev = 0;
			c->size = 0;
		}
		if (ok != NULL)
			*ok = good;
		return &c->lists;
	}
	if (c->loaded && st.st_ino == c->ino && st.st_dev == c->dev &&
	    st.st_size == c->size &&
	    st.st_mtim.tv_sec == c->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->mtime.tv_nsec) {
		if (ok != NULL)
			*ok = !c->bad;
		return &c->lists;
	}
	if (lists_load(c->path, &c->lists, &err) < 0) {
		/* One log line: the errors separated by "; ". */
		while (err.len > 0 && err.data[err.len - 1] == '\n')
			buf_truncate(&err, err.len - 1);
		for (size_t i = 0; i < err.len; i++)
			if (err.data[i] == '\n')
				err.data[i] = ';';
		log_error("event=lists-invalid path=%s reason=\"not loaded, "
		    "keeping the previous lists: %s\"", c->path,
		    buf_cstr(&err));
		good = false;
		load_fallback(c);
	} else {
		c->had_good = true;
		save_good(c);
		log_debug("event=lists-loaded path=%s count=%zu", c->path,
		    c->lists.count);
	}
	/* Remember the version even when bad, to log each bad edit once. */
	c->loaded = true;
	c->bad = !good;
	c->ino = st.st_ino;
	c->dev = st.st_dev;
	c->size = st.st_size;
	c->mtime = st.st_mtim;
	buf_free(&err);
	if (ok != NULL)
		*ok = good;
	return &c->lists;
}

/* mkdir -p, then give it to run_as when we are root. */
static int
prepare_dir(const struct dmail_conf *conf, const char *path, struct buf *err)
{
	uid_t uid;
	gid_t gid;

	if (mkdir_p(path, 0700) < 0) {
		buf_printf(err, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (geteuid() == 0 && conf->run_as != NULL &&
	    user_ids(conf->run_as, &uid, &gid) == 0 &&
	    chown(path, uid, gid) < 0) {
		buf_printf(err, "cannot chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
lists_prepare_dirs(const struct dmail_conf *conf, struct buf *err)
{
	static const char *const subs[] = { "lists", "lists/spool",
		"lists/spool/tmp", "lists/spool/new", NULL };
	struct buf path = BUF_INIT;
	int r = 0;

	for (int i = 0; subs[i] != NULL && r == 0; i++) {
		conf_state_path(conf, subs[i], &path);
		r = prepare_dir(conf, path.data, err);
	}
	buf_free(&path);
	return r;
}

int
list_prepare_dir(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *err)
{
	struct buf path = BUF_INIT;
	int r;

	if (lists_prepare_dirs(conf, err) < 0)
		return -1;
	list_state_path(conf, d, NULL, &path);
	r = prepare_dir(conf, path.data, err);
	buf_free(&path);
	return r;
}

/* Read the list's secret, creating it (race-free: link(2) of a complete
 * file) when missing. */
static int
list_secret(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *out)
{
	struct buf path = BUF_INIT, tmp = BUF_INIT;
	unsigned char raw[32];
	char hex[65];
	size_t got = 0;
	int r = -1;

	list_state_path(conf, d, "secret", &path);
	if (read_file(path.data, out, 1024) == 0 && out->len >= 32) {
		r = 0;
		goto done;
	}
	if (errno != ENOENT && out->len < 32)
		goto done;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno != EINTR)
			goto done;
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	buf_printf(&tmp, "%s.tmp.%ld", path.data, (long)getpid());
	if (write_file_durable(tmp.data, hex, 64, 0600) < 0)
		goto done;
	if (link(tmp.data, path.data) < 0 && errno != EEXIST) {
		unlink(tmp.data);
		goto done;
	}
	unlink(tmp.data);
	(void)fsync_dir_of(path.data);
	if (read_file(path.data, out, 1024) == 0 && out->len >= 32)
		r = 0;
done:
	buf_free(&path);
	buf_free(&tmp);
	return r;
}

int
list_unsub_token(const struct dmail_conf *conf, const struct list_def *d,
    const char *member, char *out)
{
	struct buf secret = BUF_INIT;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *m;

	if (list_secret(conf, d, &secret) < 0) {
		buf_free(&secret);
		return -1;
	}
	m = str_lower(xstrdup(member));
	if (HMAC(EVP_sha256(), secret.data, (int)secret.len,
	    (const unsigned char *)m, strlen(m), mac, &maclen) == NULL ||
	    maclen * 2 < LIST_UNSUB_TOKEN_LEN) {
		free(m);
		buf_free(&secret);
		errno = EINVAL;
		return -1;
	}
	for (unsigned i = 0; i < LIST_UNSUB_TOKEN_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	out[LIST_UNSUB_TOKEN_LEN] = '\0';
	free(m);
	buf_free(&secret);
	return 0;
}

int
list_lock(const struct dmail_conf *conf, const struct list_def *d)
{
	struct buf p = BUF_INIT, err = BUF_INIT;
	int fd;

	if (list_prepare_dir(conf, d, &err) < 0)
		log_error("event=mkdir-failed list=%s reason=\"%s\"",
		    d->address, err.data);
	list_state_path(conf, d, "lock", &p);
	fd = open(p.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		log_error("event=open-failed path=%s error=\"%s\"", p.data,
		    strerror(errno));
	else
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	buf_free(&p);
	buf_free(&err);
	return fd;
}

void
list_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
