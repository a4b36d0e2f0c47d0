/*
 * lists.h - DList list definitions: the lists.dat file, recognising list
 * addresses, and where a list keeps its state.
 *
 * lists.dat (path from lists_file in dmail.conf; format in lists.dat(5))
 * holds one block per list, opened by a "list ADDRESS" line and holding
 * "key value" lines until the next "list" line:
 *
 *     list club@example.test
 *         owner alice@example.test
 *         subscribe confirm
 *         post members
 *
 * list_keys[] names every key with its kind and one line of lists.dat(5)
 * (the web manager's settings form shows them); list_key_check() checks
 * one value with the parser's own rules. Changing the file goes through
 * listedit.h (dlist, the web manager).
 *
 * lists_parse() builds a complete struct lists or fails; every error is
 * appended to err as "FILE:LINE: message", one per line. A missing file
 * is an empty set of lists (a fresh installation has none).
 *
 * struct lists_cache re-reads the file when its mtime, size or inode
 * changes (lists_cache_get()), so editing lists.dat or running dlist
 * takes effect without any reload. If the new text is invalid the cache
 * logs the errors once and keeps serving the last valid set. With a
 * fallback file (lists_cache_fallback(): state_dir/lists/lists.dat.good)
 * every process that reads a valid lists.dat keeps a copy there, and a
 * process that never saw a valid one (a worker started after a bad
 * edit) serves that copy instead of nothing.
 *
 * Addresses a list owns (lists_match()), for list "club@example.test":
 *     club@example.test                posts
 *     club-request@example.test        commands and confirmations
 *     club-owner@example.test          mail for the owners
 *     club-bounces@example.test        bounces (member from the DSN)
 *     club-bounces+bob=x.test@example.test  VERP bounce for bob@x.test
 * and, per domain with at least one list, dlist@DOMAIN (commands).
 *
 * State of a list lives in state_dir/lists/LIST@DOMAIN/ (members
 * database, tokens, held posts, archive, digest); the spool shared with
 * DSMTP in state_dir/lists/spool/ (see listspool.h).
 */
#ifndef DMAIL_LISTS_H
#define DMAIL_LISTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "conf.h"

#define LIST_ADDRESS_MAX 320
#define LISTS_FILE_MAX (16u * 1024 * 1024)
#define LIST_DLIST_LOCAL "dlist"

enum list_subscribe { LIST_SUB_OPEN = 0, LIST_SUB_CONFIRM, LIST_SUB_APPROVE,
	LIST_SUB_CLOSED };
enum list_post { LIST_POST_MEMBERS = 0, LIST_POST_ANYONE,
	LIST_POST_MODERATED, LIST_POST_ANNOUNCE };
enum list_reply_to { LIST_REPLY_LIST = 0, LIST_REPLY_SENDER,
	LIST_REPLY_NONE };

struct list_def {
	char *address;            /* "club@example.test", lower case */
	char *name;               /* "club" */
	char *domain;             /* "example.test" */
	struct strlist owners;    /* lower case */
	struct strlist moderators;
	char *description;        /* "" when not given */
	enum list_subscribe subscribe;
	enum list_post post;
	enum list_reply_to reply_to;
	char *subject_prefix;     /* "" disables; default "[NAME]" */
	uint64_t max_size;        /* bytes, 0 = no limit of its own */
	bool archive;
	bool digest;
	uint64_t digest_max_size; /* send a digest when it reaches this */
	unsigned digest_interval; /* ... or when its oldest post is this old */
	bool digest_mime;         /* MIME multipart/digest, else RFC 1153 */
	bool hidden;              /* not shown by "lists" */
	bool verp;                /* one envelope per remote member */
	unsigned bounce_threshold;/* bounce score that sets nomail */
	char *password;           /* owner password, crypt(3); "" = none */
	uint64_t file_max_size;   /* largest shared file (putfile) */
	uint64_t files_max_size;  /* all shared files of the list */
	unsigned line;            /* line of its "list" line in lists.dat */
};

/* The keys of a list block, for editors (dlist, the web manager): what
 * kind of value each takes and one line of lists.dat(5) about it. */
enum list_key_kind {
	LIST_KEY_TEXT,            /* description, subject_prefix */
	LIST_KEY_ADDRESSES,       /* owner, moderator */
	LIST_KEY_WORD,            /* one of words[] */
	LIST_KEY_BOOL,            /* yes|no */
	LIST_KEY_SIZE,            /* bytes, k/M/G */
	LIST_KEY_DURATION,        /* seconds, s/m/h/d */
	LIST_KEY_NUMBER,
	LIST_KEY_HASH,            /* password: a crypt(3) hash */
};

struct list_key {
	const char *name;
	enum list_key_kind kind;
	const char *const *words; /* LIST_KEY_WORD: NULL-terminated */
	const char *doc;
};

/* Every key, in the order of lists.dat(5). */
extern const struct list_key list_keys[];
extern const size_t list_key_count;
const struct list_key *list_key_find(const char *name);
/* The value of key in d as lists.dat spells it ("2M", "1d", "yes",
 * "a@x.test, b@x.test"; subject_prefix "" as "none"). */
void list_key_value(const struct list_def *d, const char *key,
    struct buf *out);
/* Is value (blanks around it ignored) a valid value of key, as the
 * parser reads it? 0 with its normal form (list_key_value()'s spelling)
 * in norm, "" meaning "no such line" (an empty moderator or
 * description); -1 with the reason in err ("KEY: ...", no newline).
 * Control characters (CR, LF) are refused: they would end the line. */
int list_key_check(const char *key, const char *value, struct buf *norm,
    struct buf *err);

struct lists {
	struct list_def *items;
	size_t count;
};

enum list_addr_kind {
	LIST_ADDR_NONE = 0,
	LIST_ADDR_POST,
	LIST_ADDR_REQUEST,
	LIST_ADDR_OWNER,
	LIST_ADDR_BOUNCES,        /* member filled when VERP-encoded */
	LIST_ADDR_DLIST,          /* dlist@DOMAIN; list is NULL */
};

/* Parse lists.dat text; name is used in messages. 0, or -1 with every
 * error in err ("NAME:LINE: message\n") and *out untouched. */
int lists_parse(const char *name, const char *text, size_t len,
    struct lists *out, struct buf *err);
/* Read and parse path; a missing file gives an empty set. */
int lists_load(const char *path, struct lists *out, struct buf *err);
void lists_free(struct lists *l);

/* The list with this address (case-insensitive), or NULL. Accepts a
 * bare name when it is unique ("club"). */
const struct list_def *lists_find(const struct lists *l, const char *addr);

/* Which list address this is. Fills *list (NULL for dlist@ and NONE) and
 * member (the decoded VERP member, "" otherwise; memberlen bytes). */
enum list_addr_kind lists_match(const struct lists *l, const char *address,
    const struct list_def **list, char *member, size_t memberlen);

/* Is address one of d's owners (case-insensitive)? One of its owners
 * or moderators (who may approve held posts and read the member list)? */
bool list_is_owner(const struct list_def *d, const char *address);
bool list_is_moderator(const struct list_def *d, const char *address);

/* "club-request@example.test" and friends into out (reset first).
 * suffix is "", "-request", "-owner" or "-bounces". */
void list_addr(const struct list_def *d, const char *suffix, struct buf *out);
/* VERP sender for member: club-bounces+bob=x.test@example.test. */
void list_verp_addr(const struct list_def *d, const char *member,
    struct buf *out);
/* RFC 2919 list identifier "club.example.test". */
void list_id(const struct list_def *d, struct buf *out);
/* state_dir/lists/LIST@DOMAIN[/SUB] */
void list_state_path(const struct dmail_conf *conf, const struct list_def *d,
    const char *sub, struct buf *out);

/* Append a block for a new list to lists.dat text, or remove one. Used
 * by dlist; the file is rewritten durably by the caller. */
void lists_block_format(const char *address, const struct strlist *owners,
    const char *description, struct buf *out);
/* Remove the block of address from text (in place). 1 removed, 0 none. */
int lists_block_remove(struct buf *text, const char *address);
/* Where the block of address is in text: from its "list" line (*start)
 * to the next "list" line or the end (*stop). 1 found, 0 none. */
int lists_block_find(const char *text, size_t len, const char *address,
    size_t *start, size_t *stop);
/* Is block (len bytes) a valid lists.dat block of exactly the list
 * address? 0, or -1 with the reasons appended to err (lines "block:LINE:
 * message"). Used before a block sent by mail (newconfig) replaces one. */
int lists_block_check(const char *address, const char *block, size_t len,
    struct buf *err);
/* Replace the block of address in text by block. 1 done, 0 no block. */
int lists_block_replace(struct buf *text, const char *address,
    const char *block, size_t len);
/* Set "KEY VALUE" in the block of address: the first KEY line becomes
 * the new one (its indentation kept), later KEY lines go; with no KEY
 * line the new one follows the "list" line. value NULL removes every
 * KEY line. 1 done, 0 no block. */
int lists_block_set_key(struct buf *text, const char *address,
    const char *key, const char *value);
/* Take the lock that serialises editors of lists.dat (LISTS_FILE.lock,
 * flock): the fd to close when done, or -1 with err filled. */
int lists_file_lock(const char *lists_file, struct buf *err);
/* Replace lists.dat durably (write_file_durable(), the file's mode kept)
 * with text, only when it parses. 0; -1 when it does not parse, -2 when
 * it cannot be written; the reasons in err. */
int lists_file_write(const char *lists_file, const char *text, size_t len,
    struct buf *err);

/* Lists cache that follows changes of the file (see above). */
struct lists_cache {
	char *path;
	char *fallback;           /* last good copy, or NULL */
	bool had_good;            /* lists hold a good version */
	struct lists lists;
	bool loaded;
	bool bad;                 /* the file as last seen did not parse */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

void lists_cache_init(struct lists_cache *c, const char *path);
void lists_cache_free(struct lists_cache *c);
/* Keep the last valid lists.dat in path and fall back to it. */
void lists_cache_fallback(struct lists_cache *c, const char *path);
/* state_dir/lists/lists.dat.good into out. */
void lists_fallback_path(const struct dmail_conf *conf, struct buf *out);
/* Current lists (re-read if the file changed). Never NULL. When the
 * file cannot be read or parsed, the last good set (maybe empty) and
 * *ok = false (ok may be NULL). */
const struct lists *lists_cache_get(struct lists_cache *c, bool *ok);

/* Create state_dir/lists and state_dir/lists/spool/{tmp,new} and, when
 * running as root with run_as set, hand them to run_as. -1 + err. */
int lists_prepare_dirs(const struct dmail_conf *conf, struct buf *err);
/* The same for one list's directory. */
int list_prepare_dir(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *err);
/* Take the list's lock, state_dir/lists/LIST/lock (flock, exclusive,
 * waiting), for the duration of work on the list: returns the fd to
 * hand to list_unlock(), or -1 (logged; the caller works unlocked). */
int list_lock(const struct dmail_conf *conf, const struct list_def *d);
void list_unlock(int fd);

/* RFC 8058 one-click unsubscribe: the token of member on list d is
 * HMAC-SHA256(list secret, lower-cased member), the first
 * LIST_UNSUB_TOKEN_LEN hex digits. The secret is 32 random bytes in
 * state_dir/lists/LIST/secret, created on first use. 0, or -1 with
 * errno when the secret cannot be read or created. */
#define LIST_UNSUB_TOKEN_LEN 32
int list_unsub_token(const struct dmail_conf *conf, const struct list_def *d,
    const char *member, char *out);

/* Is address syntactically usable as a member/list address (local@domain,
 * no blanks or control characters, <= LIST_ADDRESS_MAX)? */
bool list_valid_address(const char *address);

#endif
