/*
 * dmail_user.c - dmail-user, the account administration tool: add, del,
 * passwd, apop, quota, list, show, disable, enable and import accounts
 * in the user database (common/userdb.c), and import-mbox, the move of
 * mbox spools into accounts' Maildirs (util/mbox.c). See
 * man/dmail-user.8. "token create" makes the web manager's API tokens
 * (common/webtoken.h).
 *
 * Passwords and APOP secrets are read from standard input (one line), so
 * they never appear in a process listing. When run as root with run_as
 * configured, the tool creates state_dir/db and state_dir/mail owned by
 * that user and then drops to it, so database files and Maildirs always
 * belong to the worker user.
 *
 * Exit status: 0 success, 1 database or system failure, 2 usage error,
 * 3 no such account, 4 account already exists, 5 invalid input (address,
 * hash, password, import file).
 */
#include "config.h"

#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "mbox.h"
#include "tool.h"
#include "userdb.h"
#include "util.h"
#include "vacation.h"
#include "webtoken.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_NOUSER 3
#define EXIT_EXISTS 4
#define EXIT_INVALID 5

static const char *const usage_lines[] = {
	"[-c FILE] COMMAND ...",
	"  add USER@DOMAIN [--hash HASH] [--quota-bytes N] "
	    "[--quota-messages N] [--force]",
	"  passwd USER@DOMAIN [--hash HASH]",
	"  apop USER@DOMAIN          (secret from stdin, empty clears)",
	"  quota USER@DOMAIN [--quota-bytes N] [--quota-messages N]",
	"  del | show | disable | enable USER@DOMAIN",
	"  list",
	"  token create --admin | --list LIST@DOMAIN  (web API token)",
	"  import FILE               (lines user@domain:hash)",
	"  export                    (passwd-file lines, see dmail-user(8))",
	"  import-mbox USER@DOMAIN FILE",
	"  import-mbox --all DIR [--domain DOMAIN]",
	"  vacation USER@DOMAIN [on --file FILE [--subject TEXT] [--days N] "
	    "| off]",
	NULL };

/* No fault injection: DMAIL_FAULT (sys.h) aims at the server's mail
 * path, and tests that set it for a server create that server's
 * accounts with this tool in the same environment. The database's own
 * full-disk behaviour is tested on a real full file system. */
static struct tool tool = {
	.name = "dmail-user",
	.usage = usage_lines,
	.usage_status = EXIT_USAGE,
	.conf_status = EXIT_FAIL,
	.log_level = LOG_LEVEL_WARN,
	.no_faults = true,
};

static void
usage(void)
{
	tool_usage(&tool);
}

static void __attribute__((format(printf, 1, 2)))
errmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verror(&tool, fmt, ap);
	va_end(ap);
}

/* One line from stdin without its line end; -1 at EOF before any byte. */
static int
read_secret(struct buf *out)
{
	int c;
	bool any = false;

	buf_reset(out);
	while ((c = getchar()) != EOF) {
		any = true;
		if (c == '\n')
			break;
		buf_append_char(out, (char)c);
	}
	if (out->len > 0 && out->data[out->len - 1] == '\r')
		buf_truncate(out, out->len - 1);
	return any ? 0 : -1;
}

/* A crypt(3) hash libcrypt can verify (optionally locked with '!'), with
 * no ':' or blanks (passwd-file safe). thorough: run the hash function
 * once to be sure (a few ms); else only check that libcrypt knows the
 * method (import of many accounts). */
static bool
valid_hash(const char *hash, bool thorough)
{
	struct crypt_data *cd;
	const char *h;
	bool ok;
	int cs;

	if (hash[0] == '!')
		hash++;
	if (hash[0] == '\0' || strlen(hash) >= 256 ||
	    strpbrk(hash, ": \t\r\n") != NULL)
		return false;
	/* Traditional DES hashes are exactly 13 characters; crypt_checksalt
	 * alone would take any word as a DES salt. */
	if (hash[0] != '$' && hash[0] != '_' &&
	    (strlen(hash) != 13 || strspn(hash, "./0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != 13))
		return false;
	if (hash[0] == '$' && strrchr(hash, '$')[1] == '\0')
		return false;
	cs = crypt_checksalt(hash);
	if (cs != CRYPT_SALT_OK && cs != CRYPT_SALT_METHOD_LEGACY)
		return false;
	if (!thorough)
		return true;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r("", hash, cd);
	ok = h != NULL && h[0] != '*' && strlen(h) == strlen(hash);
	free(cd);
	return ok;
}

/* Lower-case address into out, exit on an invalid one. */
static void
address_arg(const char *arg, char *out, size_t outlen)
{
	if (strlen(arg) >= outlen || !userdb_valid_address(arg)) {
		errmsg("invalid address '%s' (expected user@domain)", arg);
		exit(EXIT_INVALID);
	}
	snprintf(out, outlen, "%s", arg);
	str_lower(out);
}

static uint64_t
size_arg(const char *opt, const char *arg)
{
	uint64_t v;

	if (parse_size(arg, &v) < 0) {
		errmsg("%s: invalid size '%s'", opt, arg);
		exit(EXIT_INVALID);
	}
	return v;
}

static void
make_maildir(const char *path)
{
	struct buf p = BUF_INIT;

	for (const char *const *s = (const char *const[]){ "cur", "new",
	    "tmp", NULL }; *s != NULL; s++) {
		buf_reset(&p);
		buf_printf(&p, "%s/%s", path, *s);
		if (mkdir_p(p.data, 0700) < 0) {
			errmsg("cannot create %s: %s", p.data, strerror(errno));
			exit(EXIT_FAIL);
		}
	}
	buf_free(&p);
}

/* As root: create the directories the worker user must own, then become
 * that user. */
static void
become_run_as(const struct dmail_conf *conf)
{
	const char *subs[] = { "db", "mail" };
	struct buf p = BUF_INIT;
	struct stat st;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0 || conf->run_as == NULL) {
		umask(077);
		return;
	}
	if (user_ids(conf->run_as, &uid, &gid) < 0) {
		errmsg("run_as: unknown user '%s'", conf->run_as);
		exit(EXIT_FAIL);
	}
	if (mkdir_p(conf->state_dir, 0755) < 0) {
		errmsg("cannot create %s: %s", conf->state_dir,
		    strerror(errno));
		exit(EXIT_FAIL);
	}
	for (size_t i = 0; i < 2; i++) {
		buf_reset(&p);
		conf_state_path(conf, subs[i], &p);
		if (mkdir_p(p.data, 0700) < 0 || stat(p.data, &st) < 0) {
			errmsg("cannot create %s: %s", p.data, strerror(errno));
			exit(EXIT_FAIL);
		}
		if (st.st_uid == 0 && chown(p.data, uid, gid) < 0) {
			errmsg("cannot chown %s: %s", p.data, strerror(errno));
			exit(EXIT_FAIL);
		}
	}
	buf_free(&p);
	if (drop_privileges(conf->run_as) < 0)
		exit(EXIT_FAIL);
	umask(077);
}

/* The one database handle open, closed at exit too (a command that
 * exits early releases the writer lock and Berkeley DB's memory). */
static struct userdb *open_handle;

static void
close_db(void)
{
	userdb_close(open_handle);
	open_handle = NULL;
}

/* The database for a change (USERDB_WRITE: waits for the writer lock)
 * or for reading (list, show: never writes, works on a full disk). */
static struct userdb *
open_db(const struct dmail_conf *conf, enum userdb_mode mode)
{
	static bool registered;
	struct buf err = BUF_INIT;
	struct userdb *db = userdb_open(conf, mode, &err);

	if (db == NULL) {
		errmsg("%s", buf_cstr(&err));
		exit(EXIT_FAIL);
	}
	buf_free(&err);
	if (!registered && atexit(close_db) == 0)
		registered = true;
	open_handle = db;
	return db;
}

/* Look up address; exits 3 if absent, 1 on failure. */
static void
must_lookup(struct userdb *db, const char *address, struct user_record *rec)
{
	int r = userdb_lookup(db, address, rec);

	if (r < 0) {
		errmsg("database lookup of %s failed", address);
		exit(EXIT_FAIL);
	}
	if (r == 0) {
		errmsg("no such account: %s", address);
		exit(EXIT_NOUSER);
	}
}

static void
must_put(struct userdb *db, const struct user_record *rec)
{
	struct buf err = BUF_INIT;

	if (userdb_put(db, rec, &err) < 0) {
		errmsg("%s", buf_cstr(&err));
		exit(EXIT_FAIL);
	}
	buf_free(&err);
}

/* Options shared by add, passwd and quota. */
struct opts {
	const char *hash;
	uint64_t quota_bytes, quota_messages;
	bool set_bytes, set_messages;
	bool force;                /* add: a domain not in local_domains */
};

static void
parse_opts(int argc, char **argv, struct opts *o, bool allow_hash,
    bool allow_quota)
{
	static const struct option longopts[] = {
		{ "hash", required_argument, NULL, 'h' },
		{ "quota-bytes", required_argument, NULL, 'b' },
		{ "quota-messages", required_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 0;     /* glibc: start afresh after tool_conf_option() */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			if (!allow_hash)
				usage();
			o->hash = optarg;
			break;
		case 'b':
			if (!allow_quota)
				usage();
			o->quota_bytes = size_arg("--quota-bytes", optarg);
			o->set_bytes = true;
			break;
		case 'm':
			if (!allow_quota)
				usage();
			o->quota_messages = size_arg("--quota-messages",
			    optarg);
			o->set_messages = true;
			break;
		case 'f':
			if (!allow_hash || !allow_quota)   /* add only */
				usage();
			o->force = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

/* The hash for add/passwd: --hash, or hash the password on stdin. */
static void
get_hash(const struct dmail_conf *conf, const struct opts *o, char *out,
    size_t outlen)
{
	struct buf pw = BUF_INIT;

	if (o->hash != NULL) {
		if (!valid_hash(o->hash, true)) {
			errmsg("--hash: not a crypt(3) hash this system can "
			    "verify");
			exit(EXIT_INVALID);
		}
		snprintf(out, outlen, "%s", o->hash);
		return;
	}
	if (read_secret(&pw) < 0 || pw.len == 0) {
		errmsg("no password on standard input");
		exit(EXIT_INVALID);
	}
	if (memchr(pw.data, '\0', pw.len) != NULL) {
		errmsg("password contains a NUL byte");
		exit(EXIT_INVALID);
	}
	if (userdb_hash_password(conf->password_scheme, pw.data, out,
	    outlen) < 0) {
		errmsg("cannot hash password with scheme %s",
		    conf->password_scheme);
		exit(EXIT_FAIL);
	}
	explicit_bzero(pw.data, pw.len);
	buf_free(&pw);
}

static int
cmd_add(const struct dmail_conf *conf, const char *address, int argc,
    char **argv)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct buf mbox = BUF_INIT;
	struct userdb *db;
	struct opts o;

	parse_opts(argc, argv, &o, true, true);
	db = open_db(conf, USERDB_WRITE);
	/* local_domains, or a domain of the directory (userdb.h). */
	if (userdb_local_domain(db, conf, strchr(address, '@') + 1) != 1) {
		if (!o.force) {
			errmsg("%s is not in local_domains: mail for it would "
			    "not be accepted; add the domain to local_domains "
			    "first, or use --force", strchr(address, '@') + 1);
			close_db();
			free(rec);
			return EXIT_INVALID;
		}
		errmsg("warning: %s is not in local_domains; mail for it will "
		    "not be accepted", strchr(address, '@') + 1);
	}
	if (userdb_lookup(db, address, rec) != 0) {
		errmsg("account %s already exists", address);
		close_db();
		free(rec);
		return EXIT_EXISTS;
	}
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->address, sizeof(rec->address), "%s", address);
	get_hash(conf, &o, rec->hash, sizeof(rec->hash));
	userdb_default_mailbox(conf, address, &mbox);
	if (mbox.len >= sizeof(rec->mailbox)) {
		errmsg("mailbox path too long");
		close_db();
		buf_free(&mbox);
		free(rec);
		return EXIT_INVALID;
	}
	snprintf(rec->mailbox, sizeof(rec->mailbox), "%s", mbox.data);
	rec->quota_bytes = o.quota_bytes;
	rec->quota_messages = o.quota_messages;
	rec->enabled = true;
	make_maildir(rec->mailbox);
	must_put(db, rec);
	close_db();
	printf("added %s (mailbox %s)\n", address, rec->mailbox);
	buf_free(&mbox);
	free(rec);
	return 0;
}

static int
cmd_del(const struct dmail_conf *conf, const char *address)
{
	struct buf err = BUF_INIT;
	struct userdb *db = open_db(conf, USERDB_WRITE);
	int r = userdb_delete(db, address, &err);

	close_db();
	if (r < 0) {
		errmsg("%s", buf_cstr(&err));
		buf_free(&err);
		return EXIT_FAIL;
	}
	buf_free(&err);
	if (r == 0) {
		errmsg("no such account: %s", address);
		return EXIT_NOUSER;
	}
	printf("deleted %s (its Maildir was kept)\n", address);
	return 0;
}

/* passwd, apop, quota, enable, disable: read-modify-write of one record. */
static int
cmd_modify(const struct dmail_conf *conf, const char *cmd,
    const char *address, int argc, char **argv)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct userdb *db;
	struct opts o;

	if (strcmp(cmd, "passwd") == 0)
		parse_opts(argc, argv, &o, true, false);
	else if (strcmp(cmd, "quota") == 0)
		parse_opts(argc, argv, &o, false, true);
	else
		parse_opts(argc, argv, &o, false, false);
	db = open_db(conf, USERDB_WRITE);
	must_lookup(db, address, rec);
	if (strcmp(cmd, "passwd") == 0)
		get_hash(conf, &o, rec->hash, sizeof(rec->hash));
	else if (strcmp(cmd, "apop") == 0) {
		struct buf s = BUF_INIT;

		if (read_secret(&s) < 0)
			buf_reset(&s);
		if (s.len >= sizeof(rec->apop_secret) ||
		    memchr(s.data == NULL ? "" : s.data, '\0', s.len) != NULL) {
			errmsg("APOP secret too long or contains NUL");
			buf_free(&s);
			close_db();
			free(rec);
			return EXIT_INVALID;
		}
		snprintf(rec->apop_secret, sizeof(rec->apop_secret), "%s",
		    buf_cstr(&s));
		buf_free(&s);
	} else if (strcmp(cmd, "quota") == 0) {
		if (o.set_bytes)
			rec->quota_bytes = o.quota_bytes;
		if (o.set_messages)
			rec->quota_messages = o.quota_messages;
	} else
		rec->enabled = strcmp(cmd, "enable") == 0;
	must_put(db, rec);
	close_db();
	free(rec);
	return 0;
}

static int
list_one(const struct user_record *rec, void *arg)
{
	(void)arg;
	printf("%s%s\n", rec->address, rec->enabled ? "" : " disabled");
	return ferror(stdout) ? -1 : 0;
}

static int
cmd_list(const struct dmail_conf *conf)
{
	struct userdb *db = open_db(conf, USERDB_READ);
	int r = userdb_foreach(db, list_one, NULL);

	close_db();
	if (fflush(stdout) != 0 || r < 0) {
		errmsg("listing failed");
		return EXIT_FAIL;
	}
	return 0;
}

/* One passwd-file line: ADDRESS:HASH::::MAILDIR::userdb_mail=maildir:MAILDIR
 * ("!" before the hash of a disabled account). Dovecot's passwd-file
 * reads it (default_pass_scheme CRYPT) and "import" reads it back. */
static int
export_one(const struct user_record *rec, void *arg)
{
	(void)arg;
	if (strpbrk(rec->address, ":\n") != NULL ||
	    strpbrk(rec->hash, ":\n") != NULL ||
	    strpbrk(rec->mailbox, ":\n") != NULL) {
		errmsg("%s: skipped, a field holds ':' or a newline",
		    rec->address);
		return 0;
	}
	printf("%s:%s%s::::%s::userdb_mail=maildir:%s\n", rec->address,
	    rec->enabled || rec->hash[0] == '!' ? "" : "!", rec->hash,
	    rec->mailbox, rec->mailbox);
	return ferror(stdout) ? -1 : 0;
}

static int
cmd_export(const struct dmail_conf *conf)
{
	struct userdb *db = open_db(conf, USERDB_READ);
	int r = userdb_foreach(db, export_one, NULL);

	close_db();
	if (fflush(stdout) != 0 || r < 0) {
		errmsg("export failed");
		return EXIT_FAIL;
	}
	return 0;
}

/* Scheme name of a crypt hash, for show. */
static const char *
hash_scheme(const char *h)
{
	if (h[0] == '!')
		return "locked";
	if (strncmp(h, "$y$", 3) == 0)
		return "yescrypt";
	if (strncmp(h, "$6$", 3) == 0)
		return "sha512-crypt";
	if (strncmp(h, "$5$", 3) == 0)
		return "sha256-crypt";
	if (strncmp(h, "$2", 2) == 0)
		return "bcrypt";
	if (strncmp(h, "$1$", 3) == 0)
		return "md5-crypt";
	if (strncmp(h, "$gy$", 4) == 0)
		return "gost-yescrypt";
	if (h[0] == '\0')
		return "none";
	return "other";
}

/* Messages and bytes (file sizes) in new/ and cur/. */
static void
usage_of(const char *mailbox, uint64_t *msgs, uint64_t *bytes)
{
	struct buf p = BUF_INIT;
	struct dirent *de;
	struct stat st;
	DIR *d;

	*msgs = *bytes = 0;
	for (const char *const *s = (const char *const[]){ "new", "cur",
	    NULL }; *s != NULL; s++) {
		buf_reset(&p);
		buf_printf(&p, "%s/%s", mailbox, *s);
		if ((d = opendir(p.data)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' &&
			    fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
			    S_ISREG(st.st_mode)) {
				(*msgs)++;
				*bytes += st.st_size;
			}
		closedir(d);
	}
	buf_free(&p);
}

static int
cmd_show(const struct dmail_conf *conf, const char *address)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct userdb *db = open_db(conf, USERDB_READ);
	uint64_t msgs, bytes;

	must_lookup(db, address, rec);
	close_db();
	usage_of(rec->mailbox, &msgs, &bytes);
	printf("address: %s\n", rec->address);
	printf("enabled: %s\n", rec->enabled ? "yes" : "no");
	printf("password: %s\n", hash_scheme(rec->hash));
	printf("apop: %s\n", rec->apop_secret[0] != '\0' ? "yes" : "no");
	printf("mailbox: %s\n", rec->mailbox);
	printf("quota_bytes: %llu\n", (unsigned long long)rec->quota_bytes);
	printf("quota_messages: %llu\n",
	    (unsigned long long)rec->quota_messages);
	printf("usage_messages: %llu\n", (unsigned long long)msgs);
	printf("usage_bytes: %llu\n", (unsigned long long)bytes);
	free(rec);
	return 0;
}

/* Import pass 1: check every line of f. *total gets the number of
 * accounts; returns 0, or an exit status (said why). */
static int
import_check(FILE *f, const char *file, size_t *total)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0, bad = 0;

	*total = 0;
	while (getline(&line, &cap, f) >= 0) {
		char *colon, *hash, *end, *l;

		lineno++;
		l = str_trim(line);
		if (l[0] == '\0' || l[0] == '#')
			continue;
		colon = strchr(l, ':');
		if (colon == NULL) {
			errmsg("%s:%zu: expected user@domain:hash", file,
			    lineno);
			bad++;
			continue;
		}
		*colon = '\0';
		hash = colon + 1;
		if ((end = strchr(hash, ':')) != NULL)
			*end = '\0';
		if (!userdb_valid_address(l)) {
			errmsg("%s:%zu: invalid address '%s'", file, lineno,
			    l);
			bad++;
		} else if (!valid_hash(hash, false)) {
			errmsg("%s:%zu: not a crypt(3) hash this system can "
			    "verify", file, lineno);
			bad++;
		}
		(*total)++;
	}
	free(line);
	if (ferror(f)) {
		errmsg("reading %s: %s", file, strerror(errno));
		return EXIT_FAIL;
	}
	if (bad > 0) {
		errmsg("%zu invalid line%s, nothing imported", bad,
		    bad == 1 ? "" : "s");
		return EXIT_INVALID;
	}
	return 0;
}

/* Store account address with hash (in rec, read or made here). */
static int
import_one(const struct dmail_conf *conf, struct userdb *db,
    struct user_record *rec, const char *address, const char *hash)
{
	struct buf mbox = BUF_INIT, err = BUF_INIT;
	/* Sees the lines stored before: a repeated address keeps one
	 * account, with the last hash. */
	int r = userdb_lookup(db, address, rec);

	if (r < 0) {
		errmsg("database lookup of %s failed (nothing imported)",
		    address);
		return EXIT_FAIL;
	}
	if (r == 0) {
		memset(rec, 0, sizeof(*rec));
		snprintf(rec->address, sizeof(rec->address), "%s", address);
		userdb_default_mailbox(conf, address, &mbox);
		snprintf(rec->mailbox, sizeof(rec->mailbox), "%s", mbox.data);
		rec->enabled = true;
		make_maildir(rec->mailbox);
	}
	snprintf(rec->hash, sizeof(rec->hash), "%s", hash);
	r = userdb_put(db, rec, &err) < 0 ? EXIT_FAIL : 0;
	if (r != 0)
		errmsg("%s (nothing imported)", buf_cstr(&err));
	buf_free(&mbox);
	buf_free(&err);
	return r;
}

/* Import pass 2: store every line of f (checked), all in one new
 * version of the database. 0 or an exit status (said why). */
static int
import_store(const struct dmail_conf *conf, FILE *f)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct userdb *db = open_db(conf, USERDB_WRITE);
	struct buf err = BUF_INIT;
	char *line = NULL;
	size_t cap = 0, total = 0;
	int rc = 0;

	if (userdb_begin(db, &err) < 0) {
		errmsg("%s (nothing imported)", buf_cstr(&err));
		rc = EXIT_FAIL;
	}
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		char *colon, *end, *l = str_trim(line);

		if (l[0] == '\0' || l[0] == '#')
			continue;
		colon = strchr(l, ':');
		*colon = '\0';
		if ((end = strchr(colon + 1, ':')) != NULL)
			*end = '\0';
		str_lower(l);
		rc = import_one(conf, db, rec, l, colon + 1);
		total += rc == 0;
	}
	if (rc == 0 && userdb_commit(db, &err) < 0) {
		errmsg("%s (nothing imported)", buf_cstr(&err));
		rc = EXIT_FAIL;
	}
	if (rc == 0)
		printf("imported %zu account%s\n", total, total == 1 ? "" : "s");
	close_db();
	free(line);
	free(rec);
	buf_free(&err);
	return rc;
}

/* import: validate the whole file first, then store every account in one
 * new version of the database (all or nothing). Existing
 * accounts get the new hash and keep everything else. */
static int
cmd_import(const struct dmail_conf *conf, const char *file)
{
	size_t total;
	int rc;
	FILE *f;

	if (strcmp(file, "-") == 0)
		f = stdin;
	else if ((f = fopen(file, "r")) == NULL) {
		errmsg("cannot open %s: %s", file, strerror(errno));
		return EXIT_FAIL;
	}
	rc = import_check(f, file, &total);
	if (rc == 0 && f == stdin && total > 0) {
		errmsg("import from stdin needs a file (two passes)");
		rc = EXIT_USAGE;
	}
	if (rc == 0) {
		if (f != stdin)
			rewind(f);
		rc = import_store(conf, f);
	}
	if (f != stdin)
		fclose(f);
	return rc;
}

/* Carries out command cmd with its arguments argv[i..argc-1]; returns the
 * exit status (usage errors exit from here). */
/* import-mbox: one mbox into one account's Maildir. The file is opened
 * here, with the caller's rights (root can read /var/mail), and read by
 * a child that has become the worker user, so the Maildir files belong
 * to that user. Prints one line; returns an exit status. */
static int
import_mbox_one(const struct dmail_conf *conf, const char *address,
    const char *file)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct userdb *db;
	int fd, status, found;
	pid_t pid;

	db = userdb_open(conf, USERDB_READ, NULL);
	found = db != NULL ? userdb_lookup(db, address, rec) : -1;
	if (db != NULL)
		userdb_close(db);
	if (found != 1) {
		free(rec);
		if (found < 0) {
			errmsg("database lookup of %s failed", address);
			return EXIT_FAIL;
		}
		printf("%s: no such account; %s not imported\n", address, file);
		return EXIT_NOUSER;
	}
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		errmsg("%s: %s", file, strerror(errno));
		free(rec);
		return EXIT_FAIL;
	}
	fflush(stdout);
	if ((pid = fork()) < 0) {
		errmsg("fork: %s", strerror(errno));
		close(fd);
		free(rec);
		return EXIT_FAIL;
	}
	if (pid == 0) {
		struct mbox_result r;
		struct buf err = BUF_INIT;

		become_run_as(conf);
		if (mbox_import(fd, rec->mailbox, conf->hostname, &r,
		    &err) < 0) {
			errmsg("%s: %s: %s", address, file, buf_cstr(&err));
			_exit(EXIT_FAIL);
		}
		printf("%s: %u messages from %s (%u kept their UIDL, %u seen, "
		    "%u already there)\n", address, r.messages, file,
		    r.uidl_kept, r.seen, r.skipped);
		fflush(stdout);
		_exit(0);
	}
	close(fd);
	free(rec);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EXIT_FAIL;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAIL;
}

/* import-mbox --all DIR: every file NAME of DIR (as /var/mail) into the
 * account NAME@DOMAIN. Accounts that do not exist are reported and
 * skipped; the worst status is returned. */
static int
cmd_import_mbox_all(const struct dmail_conf *conf, const char *dir,
    const char *domain)
{
	struct dirent *de;
	struct buf addr = BUF_INIT, path = BUF_INIT;
	int rc = 0;
	DIR *d;

	if (domain == NULL) {
		if (conf->local_domains.count == 0) {
			errmsg("import-mbox --all: no local_domains; give "
			    "--domain");
			return EXIT_USAGE;
		}
		domain = conf->local_domains.items[0];
	}
	if ((d = opendir(dir)) == NULL) {
		errmsg("%s: %s", dir, strerror(errno));
		return EXIT_FAIL;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		size_t n = strlen(de->d_name);
		int one;

		if (de->d_name[0] == '.' || (n > 5 &&
		    strcmp(de->d_name + n - 5, ".lock") == 0))
			continue;
		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir, de->d_name);
		if (stat(path.data, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		buf_reset(&addr);
		buf_printf(&addr, "%s@%s", de->d_name, domain);
		str_lower(addr.data);
		one = import_mbox_one(conf, addr.data, path.data);
		if (one == EXIT_FAIL || (one != 0 && rc == 0))
			rc = one;
	}
	closedir(d);
	buf_free(&addr);
	buf_free(&path);
	return rc;
}

static int
cmd_import_mbox(const struct dmail_conf *conf, int argc, char **argv)
{
	char address[USERDB_ADDRESS_MAX + 1];

	if (argc >= 2 && strcmp(argv[0], "--all") == 0) {
		if (argc == 2)
			return cmd_import_mbox_all(conf, argv[1], NULL);
		if (argc == 4 && strcmp(argv[2], "--domain") == 0)
			return cmd_import_mbox_all(conf, argv[1], argv[3]);
		usage();
	}
	if (argc != 2)
		usage();
	address_arg(argv[0], address, sizeof(address));
	return import_mbox_one(conf, address, argv[1]);
}

/* vacation USER [on --file F [--subject S] [--days N] | off]: the
 * account's automatic reply (common/vacation.h); without on/off, show. */
static void
vacation_options(int argc, char **argv, const char **file,
    const char **subject, unsigned long *days)
{
	for (int i = 1; i < argc; i += 2) {
		char *end;

		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--file") == 0)
			*file = argv[i + 1];
		else if (strcmp(argv[i], "--subject") == 0)
			*subject = argv[i + 1];
		else if (strcmp(argv[i], "--days") == 0) {
			*days = strtoul(argv[i + 1], &end, 10);
			if (*end != '\0' || *days < 1 || *days > 365) {
				errmsg("--days: 1 to 365");
				exit(EXIT_INVALID);
			}
		} else
			usage();
	}
	if (*file == NULL)
		usage();
	if (strlen(*subject) > VACATION_SUBJECT_MAX ||
	    strpbrk(*subject, "\r\n") != NULL) {
		errmsg("--subject: one line of at most %d bytes",
		    VACATION_SUBJECT_MAX);
		exit(EXIT_INVALID);
	}
}

static void
vacation_show(const char *mailbox, int on, const struct vacation *v)
{
	if (on < 0)
		printf("vacation: damaged (%s/%s): %s\n", mailbox,
		    VACATION_FILE, strerror(errno));
	else if (on == 0)
		printf("vacation: off\n");
	else
		printf("vacation: on\nsubject: %s\nperiod_days: %u\n"
		    "text_bytes: %zu\n", v->subject[0] != '\0' ?
		    v->subject : "(Auto: their subject)", v->period / 86400,
		    v->text.len);
}

static int
cmd_vacation(const struct dmail_conf *conf, const char *address, int argc,
    char **argv)
{
	struct user_record *rec = xcalloc(1, sizeof(*rec));
	struct vacation v;
	struct buf text = BUF_INIT;
	const char *file = NULL, *subject = "";
	unsigned long days = VACATION_PERIOD_DEFAULT / 86400;
	int rc = 0, on;

	memset(&v, 0, sizeof(v));
	if (argc > 0 && strcmp(argv[0], "on") == 0) {
		vacation_options(argc, argv, &file, &subject, &days);
		/* Read with the caller's rights, before becoming run_as. */
		if (read_file(file, &text, VACATION_TEXT_MAX) < 0) {
			errmsg("%s: %s", file, errno == EFBIG ?
			    "larger than 64 kB" : strerror(errno));
			exit(EXIT_INVALID);
		}
	} else if (argc > 1 || (argc == 1 && strcmp(argv[0], "off") != 0))
		usage();
	become_run_as(conf);
	must_lookup(open_db(conf, USERDB_READ), address, rec);
	close_db();
	if (argc == 0) {
		on = vacation_load(rec->mailbox, &v);
		vacation_show(rec->mailbox, on, &v);
		rc = on < 0 ? EXIT_FAIL : 0;
	} else if (argc == 1) {
		if (vacation_remove(rec->mailbox) < 0) {
			errmsg("%s: %s", rec->mailbox, strerror(errno));
			rc = EXIT_FAIL;
		}
	} else {
		snprintf(v.subject, sizeof(v.subject), "%s", subject);
		v.period = (unsigned)days * 86400;
		v.text = text;
		if (vacation_save(rec->mailbox, &v) < 0) {
			errmsg("%s: %s", rec->mailbox, strerror(errno));
			rc = EXIT_FAIL;
		}
	}
	vacation_free(&v);
	free(rec);
	return rc;
}

/* token create --admin | --list LIST@DOMAIN: a bearer token of the web
 * manager's API (webtoken.h), printed once. */
static int
cmd_token(const struct dmail_conf *conf, int argc, char **argv)
{
	struct buf scope = BUF_INIT, token = BUF_INIT, err = BUF_INIT;
	int rc = 0;

	if (argc == 2 && strcmp(argv[0], "create") == 0 &&
	    strcmp(argv[1], "--admin") == 0)
		buf_set(&scope, "admin");
	else if (argc == 3 && strcmp(argv[0], "create") == 0 &&
	    strcmp(argv[1], "--list") == 0) {
		char list[USERDB_ADDRESS_MAX + 1];

		address_arg(argv[2], list, sizeof(list));
		buf_printf(&scope, "list:%s", list);
	} else
		usage();
	become_run_as(conf);
	if (webtoken_create(conf, scope.data, &token, &err) < 0) {
		errmsg("token: %s", buf_cstr(&err));
		rc = EXIT_FAIL;
	} else
		printf("%s\n", token.data);
	buf_free(&scope);
	buf_free(&token);
	buf_free(&err);
	return rc;
}

static int
dispatch(struct dmail_conf *conf, const char *cmd, int i, int argc,
    char **argv)
{
	char address[USERDB_ADDRESS_MAX + 1];

	if (strcmp(cmd, "token") == 0)
		return cmd_token(conf, argc - i, argv + i);

	if (strcmp(cmd, "list") == 0) {
		if (i != argc)
			usage();
		become_run_as(conf);
		return cmd_list(conf);
	}
	if (strcmp(cmd, "export") == 0) {
		if (i != argc)
			usage();
		become_run_as(conf);
		return cmd_export(conf);
	}
	if (strcmp(cmd, "import-mbox") == 0)
		return cmd_import_mbox(conf, argc - i, argv + i);
	if (strcmp(cmd, "import") == 0) {
		if (i + 1 != argc)
			usage();
		become_run_as(conf);
		return cmd_import(conf, argv[i]);
	}
	if (strcmp(cmd, "vacation") == 0) {
		if (i >= argc)
			usage();
		address_arg(argv[i], address, sizeof(address));
		return cmd_vacation(conf, address, argc - i - 1, argv + i + 1);
	}
	if (strcmp(cmd, "add") != 0 && strcmp(cmd, "del") != 0 &&
	    strcmp(cmd, "passwd") != 0 && strcmp(cmd, "apop") != 0 &&
	    strcmp(cmd, "quota") != 0 && strcmp(cmd, "show") != 0 &&
	    strcmp(cmd, "enable") != 0 && strcmp(cmd, "disable") != 0) {
		errmsg("unknown command '%s'", cmd);
		usage();
	}
	if (i >= argc)
		usage();
	address_arg(argv[i], address, sizeof(address));
	/* Options after the address: getopt sees argv[i..] with argv[i] as
	 * its program name. */
	become_run_as(conf);
	if (strcmp(cmd, "add") == 0)
		return cmd_add(conf, address, argc - i, argv + i);
	if (i + 1 != argc && strcmp(cmd, "passwd") != 0 &&
	    strcmp(cmd, "quota") != 0)
		usage();
	if (strcmp(cmd, "del") == 0)
		return cmd_del(conf, address);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(conf, address);
	return cmd_modify(conf, cmd, address, argc - i, argv + i);
}

int
main(int argc, char **argv)
{
	const char *conf_path = TOOL_CONF_PATH;
	struct dmail_conf conf;
	const char *cmd;
	int i, rc;

	tool_start(&tool, argc, argv);
	i = tool_conf_option(&tool, argc, argv, &conf_path);
	if (i >= argc)
		usage();
	cmd = argv[i++];
	tool_conf_load(&tool, conf_path, &conf);
	umask(022);
	rc = dispatch(&conf, cmd, i, argc, argv);
	conf_free(&conf);
	return rc;
}
