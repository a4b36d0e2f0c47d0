/*
 * listedit.c - changing lists.dat and list state (see listedit.h): the
 * locked read-edit-write of lists.dat, creating and deleting a list,
 * setting keys, a list password's hash.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listedit.h"
#include "userdb.h"
#include "util.h"

/* lists.dat is replaced by rename(2): its directory must be writable by
 * the editor (for the list server and the web manager: run_as). */
static int
dir_writable(const char *lists_file, struct buf *err)
{
	const char *slash = strrchr(lists_file, '/');
	char *dir = slash == NULL ? xstrdup(".") : slash == lists_file ?
	    xstrdup("/") : xstrndup(lists_file, (size_t)(slash - lists_file));
	int r = 0;

	if (faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) < 0) {
		buf_printf(err, "cannot change %s: its directory %s is not "
		    "writable here (%s; see lists.dat(5))", lists_file, dir,
		    strerror(errno));
		r = -1;
	}
	free(dir);
	return r;
}

int
lists_file_edit(const char *lists_file, lists_edit_fn *fn, void *arg,
    struct buf *err)
{
	struct buf text = BUF_INIT, why = BUF_INIT;
	int lk, r;

	if (dir_writable(lists_file, err) < 0)
		return LISTS_EDIT_DENIED;
	if ((lk = lists_file_lock(lists_file, err)) < 0)
		return LISTS_EDIT_FAILED;
	if (read_file(lists_file, &text, LISTS_FILE_MAX) < 0 &&
	    errno != ENOENT) {
		buf_printf(err, "cannot read %s: %s", lists_file,
		    strerror(errno));
		r = LISTS_EDIT_FAILED;
	} else if ((r = fn(&text, arg, err)) == 0) {
		r = lists_file_write(lists_file, buf_cstr(&text), text.len,
		    &why);
		if (r == LISTS_EDIT_INVALID)
			buf_append_str(err, "the result would not be valid; "
			    "nothing written:\n");
		buf_append(err, why.data, why.len);
	}
	close(lk);
	buf_free(&text);
	buf_free(&why);
	return r;
}

struct create_edit {
	const char *address;
	const struct strlist *owners;
	const char *description;
};

static int
create_edit(struct buf *text, void *arg, struct buf *err)
{
	const struct create_edit *c = arg;
	struct lists l = { NULL, 0 };
	struct buf perr = BUF_INIT;
	char *lower;
	int r = 0;

	/* A file that does not parse now is the operator's to fix. */
	if (lists_parse("lists.dat", buf_cstr(text), text->len, &l,
	    &perr) < 0) {
		buf_printf(err, "the lists file does not parse; nothing "
		    "written:\n%s", buf_cstr(&perr));
		r = LISTS_EDIT_INVALID;
	} else if (lists_find(&l, c->address) != NULL) {
		buf_printf(err, "list %s exists already", c->address);
		r = LISTS_EDIT_EXISTS;
	} else {
		if (text->len > 0 && text->data[text->len - 1] != '\n')
			buf_append_char(text, '\n');
		lower = str_lower(xstrdup(c->address));
		lists_block_format(lower, c->owners, c->description, text);
		free(lower);
	}
	lists_free(&l);
	buf_free(&perr);
	return r;
}

int
lists_create(const struct dmail_conf *conf, const char *address,
    const struct strlist *owners, const char *description, struct buf *err)
{
	struct create_edit c = { address, owners, description };
	struct buf norm = BUF_INIT;
	const char *domain = strrchr(address, '@');
	size_t i = 0;
	bool ok = false;

	while (i < owners->count && list_valid_address(owners->items[i]))
		i++;
	if (owners->count == 0)
		buf_printf(err, "a list needs an owner");
	else if (i < owners->count)
		buf_printf(err, "'%s' is not an address", owners->items[i]);
	else if (!list_valid_address(address))
		buf_printf(err, "'%s' is not a list address (NAME@DOMAIN)",
		    address);
	else if (!conf_is_local_domain(conf, domain + 1))
		buf_printf(err, "%s is not in local_domains of %s", domain + 1,
		    conf->path);
	/* A line break in the description would start a line of its own. */
	else if (description == NULL ||
	    list_key_check("description", description, &norm, err) == 0)
		ok = true;
	buf_free(&norm);
	if (!ok)
		return LISTS_EDIT_INVALID;
	return lists_file_edit(conf->lists_file, create_edit, &c, err);
}

static int
delete_edit(struct buf *text, void *arg, struct buf *err)
{
	if (lists_block_remove(text, arg) == 1)
		return 0;
	buf_printf(err, "no block of %s in the lists file", (char *)arg);
	return LISTS_EDIT_NOLIST;
}

int
lists_delete(const char *lists_file, const char *address, struct buf *err)
{
	return lists_file_edit(lists_file, delete_edit, (void *)address, err);
}

struct keys_edit {
	const char *address;
	const char *const *keys, *const *values;
	size_t n;
};

static int
keys_edit(struct buf *text, void *arg, struct buf *err)
{
	const struct keys_edit *e = arg;

	for (size_t i = 0; i < e->n; i++)
		if (lists_block_set_key(text, e->address, e->keys[i],
		    e->values[i]) != 1) {
			buf_printf(err, "no block of %s in the lists file",
			    e->address);
			return LISTS_EDIT_NOLIST;
		}
	return 0;
}

int
lists_set_keys(const char *lists_file, const char *address,
    const char *const *keys, const char *const *values, size_t n,
    struct buf *err)
{
	struct keys_edit e = { address, keys, values, n };

	return lists_file_edit(lists_file, keys_edit, &e, err);
}

int
list_password_hash(const struct dmail_conf *conf, const char *password,
    char *hash, size_t hashlen, struct buf *err)
{
	if (strlen(password) < LIST_PASSWORD_MIN ||
	    strpbrk(password, " \t") != NULL) {
		buf_printf(err, "a list password has at least %d characters "
		    "and no blanks", LIST_PASSWORD_MIN);
		return -1;
	}
	if (userdb_hash_password(conf->password_scheme, password, hash,
	    hashlen) < 0) {
		buf_printf(err, "cannot hash the password (password_scheme "
		    "%s)", conf->password_scheme);
		return -2;
	}
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
list_remove_state(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *err)
{
	struct buf dir = BUF_INIT;
	int r = 0;

	list_state_path(conf, d, NULL, &dir);
	if (nftw(dir.data, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    errno != ENOENT) {
		buf_printf(err, "cannot remove %s: %s", dir.data,
		    strerror(errno));
		r = -1;
	}
	buf_free(&dir);
	return r;
}
