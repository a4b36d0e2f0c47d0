/*
 * listspool.h - the durable hand-off of list mail from DSMTP to the list
 * workers (dmail-listd), and the recipient check DSMTP needs for it.
 *
 * At RCPT time the delivery code asks listspool_check_rcpt() whether an
 * address on a local domain belongs to a list (LIST@, LIST-request@,
 * LIST-owner@, LIST-bounces[+...]@, dlist@; see lists.h). Such an address
 * is accepted although no account exists. At commit time the message is
 * written once for all list recipients of the transaction with
 * listspool_write_fd() (or listspool_write_mem()) before the 250:
 *
 *     state_dir/lists/spool/tmp/ID   written, fsync'd
 *     state_dir/lists/spool/new/ID   rename(2), then new/ fsync'd
 *
 * The list workers take files from new/, process them and unlink them
 * (at most once lost work: a worker killed mid-file processes it again).
 *
 * File format (text header, blank line, message with LF line ends):
 *
 *     dmail-list 1
 *     id 0674A1B2C3D40001F2A01
 *     arrival 1732412345
 *     sender alice@example.test        (empty value for <>)
 *     rcpt club@example.test           (one line per list recipient)
 *     <empty line>
 *     message
 *
 * Unknown header keys are ignored by readers.
 */
#ifndef DMAIL_LISTSPOOL_H
#define DMAIL_LISTSPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "lists.h"

#define LISTSPOOL_VERSION_LINE "dmail-list 1"
#define LISTSPOOL_ID_MAX 40
#define LISTSPOOL_HEADER_MAX (1024 * 1024)

/* Is address (local@domain, no <>) a list address of a local domain?
 * 1 yes, 0 no, -1 lists.dat cannot be read and was never read (answer
 * 4xx). cache (zeroed, or lists_cache_init()'d, before the first call;
 * the caller's, e.g. its deliver_ctx's, for the life of the process)
 * follows edits of lists.dat (re-read on change) and the configured
 * lists_file. */
int listspool_check_rcpt(struct lists_cache *cache,
    const struct dmail_conf *conf, const char *address);

/* Write one spool file for rcpts (n list addresses) with the message
 * taken from src_fd: len bytes from src_offset (pread). Returns 0 when
 * the file is in new/ and new/ is fsync'd, or -1 with errno set and err
 * filled (nothing left behind). id_out (LISTSPOOL_ID_MAX bytes) may be
 * NULL. */
int listspool_write_fd(const struct dmail_conf *conf, const char *sender,
    const char *const *rcpts, size_t n, int src_fd, off_t src_offset,
    uint64_t len, char *id_out, struct buf *err);
/* The same with the message in memory. */
int listspool_write_mem(const struct dmail_conf *conf, const char *sender,
    const char *const *rcpts, size_t n, const char *data, size_t len,
    char *id_out, struct buf *err);

/* For a message whose only recipients are list addresses, the delivery
 * code writes its one stored copy straight into the list spool:
 * listspool_create_tmp() creates spool/tmp/ID (O_EXCL, 0600), returns
 * its descriptor (-1 with errno) and puts in header the envelope text the
 * caller must write first; after the message is written and fsync'd and
 * the descriptor closed, listspool_publish() renames it into new/ and
 * fsyncs new/ (on failure the tmp file is removed, -1 with errno). */
int listspool_create_tmp(const struct dmail_conf *conf, const char *sender,
    const char *const *rcpts, size_t n, struct buf *path, struct buf *header);
int listspool_publish(const struct dmail_conf *conf, const char *tmp_path);

/* A spool file read back. */
struct listspool_msg {
	char id[LISTSPOOL_ID_MAX];
	int64_t arrival;
	char *sender;            /* "" for <> */
	struct strlist rcpts;
	struct buf message;      /* the message, LF line ends */
};

/* Read path completely (message at most max bytes). 0, or -1 with err. */
int listspool_read(const char *path, struct listspool_msg *msg, size_t max,
    struct buf *err);
void listspool_msg_free(struct listspool_msg *msg);

/* state_dir/lists/spool/SUB into out. */
void listspool_dir(const struct dmail_conf *conf, const char *sub,
    struct buf *out);

#endif
