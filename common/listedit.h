/*
 * listedit.h - changing lists.dat and list state: the one path for
 * dlist (create, delete, passwd) and the web manager (settings, create,
 * delete), so that a change made in either is the same change.
 *
 * Every edit runs under the editors' lock (lists_file_lock()), reads the
 * file (a missing one is empty), changes the text with the block
 * functions of lists.h (lists_block_format(), lists_block_remove(),
 * lists_block_set_key()), which keep the operator's comments and order,
 * and writes it with lists_file_write(): atomically (temporary file,
 * fsync, rename) and only when the result parses. Readers
 * (lists_cache_get()) see the new file at once, without a reload.
 *
 * Functions return 0 or one of the LISTS_EDIT_ codes with the reason in
 * err; nothing is fatal and nothing logs: the caller logs once.
 */
#ifndef DMAIL_LISTEDIT_H
#define DMAIL_LISTEDIT_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "lists.h"

#define LIST_PASSWORD_MIN 8

/* One edit: fn changes the text (0, or one of the codes below with err
 * filled); the result is written. The codes: */
#define LISTS_EDIT_INVALID (-1)   /* bad request, or would not parse */
#define LISTS_EDIT_FAILED (-2)    /* cannot lock, read or write */
#define LISTS_EDIT_NOLIST (-3)    /* no block of that list */
#define LISTS_EDIT_EXISTS (-4)    /* the list exists already */
#define LISTS_EDIT_DENIED (-5)    /* lists.dat's directory not writable */
typedef int lists_edit_fn(struct buf *text, void *arg, struct buf *err);
int lists_file_edit(const char *lists_file, lists_edit_fn *fn, void *arg,
    struct buf *err);
/* A new list (dlist create): owners (at least one) and address checked,
 * its domain one of local_domains, description on one line; the block
 * of lists_block_format() appended. 0 or a LISTS_EDIT_ code. The list's
 * state directory is the caller's (list_prepare_dir(), listdb_open()). */
int lists_create(const struct dmail_conf *conf, const char *address,
    const struct strlist *owners, const char *description, struct buf *err);
/* Remove the block of address (dlist delete). 0 or a LISTS_EDIT_ code.
 * Its state goes with list_remove_state(). */
int lists_delete(const char *lists_file, const char *address,
    struct buf *err);
/* Set n keys of the list at once (lists_block_set_key(); a NULL value
 * removes the key). 0 or a LISTS_EDIT_ code. */
int lists_set_keys(const char *lists_file, const char *address,
    const char *const *keys, const char *const *values, size_t n,
    struct buf *err);
/* Remove state_dir/lists/LIST and all in it. 0, or -1 + err. */
int list_remove_state(const struct dmail_conf *conf, const struct list_def *d,
    struct buf *err);
/* The crypt(3) hash of a new list password (password_scheme): at least
 * LIST_PASSWORD_MIN characters, no blanks. 0; -1 refused, -2 cannot
 * hash; the reason in err. */
int list_password_hash(const struct dmail_conf *conf, const char *password,
    char *hash, size_t hashlen, struct buf *err);

#endif
