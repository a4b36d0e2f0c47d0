/*
 * dlist.c - the operator's tool for DList mailing lists.
 *
 *   dlist [-c FILE] create LIST@DOMAIN --owner ADDR [--owner ADDR]
 *                          [--description TEXT]
 *   dlist [-c FILE] delete LIST@DOMAIN
 *   dlist [-c FILE] subscribe LIST ADDR...      (no confirmation)
 *   dlist [-c FILE] unsubscribe LIST ADDR...
 *   dlist [-c FILE] set LIST ADDR digest|nomail|mail
 *   dlist [-c FILE] members LIST
 *   dlist [-c FILE] import LIST FILE            (one address per line)
 *   dlist [-c FILE] lists
 *   dlist [-c FILE] check                       (validate lists.dat)
 *   dlist [-c FILE] oneclick LIST ADDR TOKEN    (RFC 8058 unsubscribe)
 *   dlist [-c FILE] passwd LIST [PASSWORD]      (owner password; stdin)
 *   dlist [-c FILE] files LIST                  (the shared files)
 *   dlist [-c FILE] putfile LIST NAME FILE      (FILE "-": stdin)
 *   dlist [-c FILE] delfile LIST NAME
 *
 * passwd stores a crypt(3) hash (password_scheme of dmail.conf) as the
 * list's "password" in lists.dat; owners give the password in mail
 * commands (see dlist(8)). The file commands share listfiles.h with the
 * list worker: the same name rules, size limits and durable writes.
 *
 * oneclick is for the web service behind list_web_url: it receives the
 * POST to URL?list=LIST&member=ADDR&token=TOKEN (the List-Unsubscribe of
 * a member's copy) and runs this; the member is removed only when TOKEN
 * is that member's HMAC (list_unsub_token()).
 *
 * create/delete edit lists.dat (lists_file in dmail.conf) durably and
 * under a lock, and only write a file that parses; the list workers and
 * DSMTP pick the change up without a reload. Members live in the list's
 * Berkeley DB; when run as root, dlist drops to run_as before touching
 * list state so the workers can use it.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "conf.h"
#include "listdb.h"
#include "listedit.h"
#include "listfiles.h"
#include "lists.h"
#include "log.h"
#include "sys.h"
#include "tool.h"
#include "userdb.h"
#include "util.h"

static struct dmail_conf conf;

static const char *const usage_lines[] = {
	"[-c FILE] create LIST@DOMAIN --owner ADDR [--owner ADDR] "
	    "[--description TEXT]",
	"[-c FILE] delete LIST@DOMAIN",
	"[-c FILE] subscribe|unsubscribe LIST ADDR...",
	"[-c FILE] set LIST ADDR digest|nomail|mail",
	"[-c FILE] members LIST",
	"[-c FILE] import LIST FILE",
	"[-c FILE] lists",
	"[-c FILE] check",
	"[-c FILE] oneclick LIST ADDR TOKEN",
	"[-c FILE] passwd LIST [PASSWORD]",
	"[-c FILE] files LIST",
	"[-c FILE] putfile LIST NAME FILE",
	"[-c FILE] delfile LIST NAME",
	NULL };

static struct tool tool = {
	.name = "dlist",
	.usage = usage_lines,
	.usage_status = 2,
	.conf_status = 1,
	.log_level = LOG_LEVEL_WARN,
};

static void __attribute__((noreturn))
usage(void)
{
	tool_usage(&tool);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verror(&tool, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
load_lists(struct lists *l)
{
	struct buf err = BUF_INIT;

	if (lists_load(conf.lists_file, l, &err) < 0) {
		fprintf(stderr, "%s", err.data);
		exit(1);
	}
	buf_free(&err);
}

static const struct list_def *
need_list(const struct lists *l, const char *name)
{
	const struct list_def *d = lists_find(l, name);

	if (d == NULL)
		die("no list '%s' in %s", name, conf.lists_file);
	return d;
}

/* After lists.dat is dealt with: own list state as run_as. */
static void
become_run_as(const struct list_def *d)
{
	struct buf err = BUF_INIT;

	if (d != NULL ? list_prepare_dir(&conf, d, &err) < 0 :
	    lists_prepare_dirs(&conf, &err) < 0)
		die("%s", err.data);
	if (geteuid() == 0 && conf.run_as != NULL &&
	    drop_privileges(conf.run_as) < 0)
		die("cannot become %s", conf.run_as);
	buf_free(&err);
}

static struct listdb *
open_db(const struct list_def *d)
{
	struct buf err = BUF_INIT;
	struct listdb *db;

	become_run_as(d);
	if ((db = listdb_open(&conf, d, &err)) == NULL)
		die("%s", err.data);
	buf_free(&err);
	return db;
}

/* The outcome of an edit of lists.dat (lists_file_edit()). */
static void
edit_done(int r, struct buf *err)
{
	if (r != 0)
		die("%s", str_trim(err->data));
	buf_free(err);
}

static int
cmd_create(int argc, char **argv)
{
	struct strlist owners = { NULL, 0 };
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT;
	const char *desc = NULL, *addr;
	const struct list_def *d;
	struct listdb *db;

	if (argc < 2)
		usage();
	addr = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--owner") == 0 && i + 1 < argc) {
			strlist_add(&owners, argv[++i]);
		} else if (strcmp(argv[i], "--description") == 0 &&
		    i + 1 < argc) {
			desc = argv[++i];
		} else {
			usage();
		}
	}
	if (owners.count == 0)
		die("a list needs an owner (--owner ADDR)");
	edit_done(lists_create(&conf, addr, &owners, desc, &err), &err);
	load_lists(&l);
	d = need_list(&l, addr);
	db = open_db(d);
	listdb_close(db);
	printf("created %s (owner %s)\n", d->address, owners.items[0]);
	strlist_free(&owners);
	lists_free(&l);
	return 0;
}

static int
cmd_delete(int argc, char **argv)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT;
	const struct list_def *d;

	if (argc != 2)
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	edit_done(lists_delete(conf.lists_file, d->address, &err), &err);
	become_run_as(NULL);
	if (list_remove_state(&conf, d, &err) < 0)
		fprintf(stderr, "dlist: %s\n", err.data);
	printf("deleted %s\n", d->address);
	lists_free(&l);
	buf_free(&err);
	return 0;
}

static int
cmd_subscribe(int argc, char **argv, bool sub)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT;
	const struct list_def *d;
	struct listdb *db;
	int rc = 0;

	if (argc < 3)
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	db = open_db(d);
	for (int i = 2; i < argc; i++) {
		struct list_member m;
		int r;

		if (!list_valid_address(argv[i])) {
			fprintf(stderr, "dlist: '%s' is not an address\n",
			    argv[i]);
			rc = 1;
			continue;
		}
		if (sub) {
			if ((r = listdb_get(db, argv[i], &m)) == 1) {
				printf("%s: already a member\n", argv[i]);
				continue;
			}
			list_member_init(&m, argv[i]);
			if (r < 0 || listdb_put(db, &m, &err) < 0) {
				fprintf(stderr, "dlist: %s\n", buf_cstr(&err));
				rc = 1;
				continue;
			}
			printf("%s: subscribed to %s\n", m.address,
			    d->address);
		} else {
			r = listdb_delete(db, argv[i], &err);
			if (r < 0) {
				fprintf(stderr, "dlist: %s\n", err.data);
				rc = 1;
			} else if (r == 0) {
				printf("%s: not a member\n", argv[i]);
			} else {
				printf("%s: unsubscribed from %s\n", argv[i],
				    d->address);
			}
		}
	}
	listdb_close(db);
	lists_free(&l);
	buf_free(&err);
	return rc;
}

static int
cmd_set(int argc, char **argv)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT;
	const struct list_def *d;
	struct list_member m;
	struct listdb *db;

	if (argc != 4)
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	db = open_db(d);
	if (listdb_get(db, argv[2], &m) != 1)
		die("%s is not a member of %s", argv[2], d->address);
	if (list_member_set_mode(&m, argv[3]) < 0)
		usage();
	if (listdb_put(db, &m, &err) < 0)
		die("%s", err.data);
	printf("%s on %s: %s\n", m.address, d->address, argv[3]);
	listdb_close(db);
	lists_free(&l);
	return 0;
}

static int
cmd_members(int argc, char **argv)
{
	struct lists l = { NULL, 0 };
	struct list_member *ms;
	const struct list_def *d;
	struct listdb *db;
	size_t n;

	if (argc != 2)
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	db = open_db(d);
	if (listdb_all(db, &ms, &n) < 0)
		die("cannot list the members of %s", d->address);
	for (size_t i = 0; i < n; i++)
		printf("%s%s%s bounce=%u\n", ms[i].address,
		    ms[i].nomail ? " nomail" : "",
		    ms[i].digest ? " digest" : "", ms[i].bounce);
	free(ms);
	listdb_close(db);
	lists_free(&l);
	return 0;
}

static void
import_bad(void *arg, const char *line)
{
	fprintf(stderr, "dlist: %s: '%s' is not an address; skipped\n",
	    (const char *)arg, line);
}

static int
cmd_import(int argc, char **argv)
{
	struct lists l = { NULL, 0 };
	struct buf text = BUF_INIT, err = BUF_INIT;
	struct listdb_import res = { 0, 0, 0, import_bad, NULL };
	const struct list_def *d;
	struct listdb *db;

	if (argc != 3)
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	if (read_file(argv[2], &text, 256u * 1024 * 1024) < 0)
		die("cannot read %s: %s", argv[2], strerror(errno));
	db = open_db(d);
	res.arg = argv[2];
	if (listdb_import(db, buf_cstr(&text), text.len, &res, &err) < 0)
		die("%s", err.data);
	printf("imported %zu new member(s) into %s%s\n", res.added,
	    d->address, res.invalid ? " (some lines skipped)" : "");
	listdb_close(db);
	lists_free(&l);
	buf_free(&text);
	buf_free(&err);
	return res.invalid ? 1 : 0;
}

static int
cmd_oneclick(int argc, char **argv)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT;
	const struct list_def *d;
	char want[LIST_UNSUB_TOKEN_LEN + 1];
	struct listdb *db;
	int r;

	if (argc != 4)
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	db = open_db(d);
	if (list_unsub_token(&conf, d, argv[2], want) < 0)
		die("cannot read the secret of %s: %s", d->address,
		    strerror(errno));
	if (strlen(argv[3]) != LIST_UNSUB_TOKEN_LEN ||
	    CRYPTO_memcmp(want, argv[3], LIST_UNSUB_TOKEN_LEN) != 0)
		die("token does not match %s on %s", argv[2], d->address);
	r = listdb_delete(db, argv[2], &err);
	if (r < 0)
		die("%s", err.data);
	printf("%s: %s %s\n", argv[2], r ? "unsubscribed from" :
	    "was not a member of", d->address);
	listdb_close(db);
	lists_free(&l);
	return 0;
}

/* The owner password of a list: its crypt(3) hash in lists.dat. */
static int
cmd_passwd(int argc, char **argv)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT, pw = BUF_INIT;
	const struct list_def *d;
	char hash[256];

	if (argc != 2 && argc != 3)
		usage();
	if (argc == 3) {
		buf_set(&pw, argv[2]);
	} else {
		char line[1024];

		if (fgets(line, sizeof(line), stdin) == NULL)
			die("no password on standard input");
		buf_set(&pw, str_trim(line));
		explicit_bzero(line, sizeof(line));
	}
	if (list_password_hash(&conf, pw.data, hash, sizeof(hash), &err) < 0)
		die("%s", err.data);
	explicit_bzero(pw.data, pw.len);
	load_lists(&l);
	d = need_list(&l, argv[1]);
	{
		const char *key = "password", *value = hash;

		edit_done(lists_set_keys(conf.lists_file, d->address, &key,
		    &value, 1, &err), &err);
	}
	printf("password of %s set\n", d->address);
	lists_free(&l);
	buf_free(&pw);
	return 0;
}

static int
cmd_files(int argc, char **argv)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT, line = BUF_INIT;
	const struct list_def *d;
	struct list_file *fs;
	size_t n;

	if (argc != 2)
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	become_run_as(d);
	if (list_files_all(&conf, d, &fs, &n, &err) < 0)
		die("%s", err.data);
	for (size_t i = 0; i < n; i++)
		list_file_line(&fs[i], &line);
	fputs(buf_cstr(&line), stdout);
	buf_free(&line);
	free(fs);
	lists_free(&l);
	return 0;
}

/* putfile LIST NAME FILE / delfile LIST NAME */
static int
cmd_putfile(int argc, char **argv, bool put)
{
	struct lists l = { NULL, 0 };
	struct buf err = BUF_INIT, data = BUF_INIT;
	const struct list_def *d;
	int r;

	if (argc != (put ? 4 : 3))
		usage();
	load_lists(&l);
	d = need_list(&l, argv[1]);
	if (put && read_file(strcmp(argv[3], "-") == 0 ? "/dev/stdin" :
	    argv[3], &data, (size_t)d->file_max_size) < 0)
		die("cannot read %s: %s", argv[3], errno == EFBIG ?
		    "larger than the list's file_max_size" : strerror(errno));
	become_run_as(d);
	r = put ? list_file_put(&conf, d, argv[2], data.data ? data.data : "",
	    data.len, &err) : list_file_delete(&conf, d, argv[2], &err);
	if (r == 0 && !put)
		die("%s has no file %s", d->address, argv[2]);
	if (r < 0)
		die("%s", err.data);
	printf("%s: %s %s\n", d->address, put ? "stored" : "deleted",
	    argv[2]);
	lists_free(&l);
	buf_free(&data);
	return 0;
}

static int
cmd_lists(void)
{
	struct lists l = { NULL, 0 };

	load_lists(&l);
	for (size_t i = 0; i < l.count; i++)
		printf("%s%s%s%s\n", l.items[i].address,
		    *l.items[i].description ? "  " : "",
		    l.items[i].description,
		    l.items[i].hidden ? "  (hidden)" : "");
	lists_free(&l);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = TOOL_CONF_PATH;
	int first;

	tool_start(&tool, argc, argv);
	first = tool_conf_option(&tool, argc, argv, &path);
	argc -= first;
	argv += first;
	if (argc < 1)
		usage();
	tool_conf_load(&tool, path, &conf);
	if (conf.lists_file == NULL)
		die("%s has no lists_file", path);
	if (strcmp(argv[0], "create") == 0)
		return cmd_create(argc, argv);
	if (strcmp(argv[0], "delete") == 0)
		return cmd_delete(argc, argv);
	if (strcmp(argv[0], "subscribe") == 0)
		return cmd_subscribe(argc, argv, true);
	if (strcmp(argv[0], "unsubscribe") == 0)
		return cmd_subscribe(argc, argv, false);
	if (strcmp(argv[0], "set") == 0)
		return cmd_set(argc, argv);
	if (strcmp(argv[0], "members") == 0)
		return cmd_members(argc, argv);
	if (strcmp(argv[0], "import") == 0)
		return cmd_import(argc, argv);
	if (strcmp(argv[0], "oneclick") == 0)
		return cmd_oneclick(argc, argv);
	if (strcmp(argv[0], "passwd") == 0)
		return cmd_passwd(argc, argv);
	if (strcmp(argv[0], "files") == 0)
		return cmd_files(argc, argv);
	if (strcmp(argv[0], "putfile") == 0)
		return cmd_putfile(argc, argv, true);
	if (strcmp(argv[0], "delfile") == 0)
		return cmd_putfile(argc, argv, false);
	if (strcmp(argv[0], "lists") == 0 && argc == 1)
		return cmd_lists();
	if (strcmp(argv[0], "check") == 0 && argc == 1) {
		struct lists l = { NULL, 0 };
		load_lists(&l);
		printf("%s: %zu list(s), no errors\n", conf.lists_file,
		    l.count);
		lists_free(&l);
		return 0;
	}
	usage();
}
