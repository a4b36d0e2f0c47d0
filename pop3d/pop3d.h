/*
 * pop3d.h - DPOP, the POP3 worker (dmail-pop3d): the module map.
 *
 *   pop3d.c         main(), the worker_service glue: init (TLS context)
 *                   and one session per connection
 *   pop3_cmd.c      command line parser: verb table, strict arguments
 *   pop3_session.c  the RFC 1939 state machine (AUTHORIZATION,
 *                   TRANSACTION, UPDATE) and its command table (verb,
 *                   states, argument rule, handler), CAPA, STLS, AUTH
 *                   PLAIN, APOP
 *   maildrop.c      the Maildir as a POP3 maildrop: kernel lock, scan,
 *                   sizes, UIDLs, RETR/TOP output, UPDATE (delete, fsync)
 *
 * Failed logins are counted in the per-client table every SMTP and POP3
 * worker shares (common/clienttab.h).
 */
#ifndef DMAIL_POP3D_H
#define DMAIL_POP3D_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"
#include "stream.h"
#include "userdb.h"
#include "worker.h"

/* RFC 2449: 255 octets per command; AUTH responses may be longer
 * (RFC 5034), so lines up to POP3_LINE_MAX are read and a command line
 * longer than POP3_CMD_MAX is refused. */
#define POP3_CMD_MAX 255
#define POP3_LINE_MAX 2048
/* Protocol errors (unknown commands, bad arguments, long lines) before
 * the server closes the connection. */
#define POP3_MAX_ERRORS 20
#define POP3_LOCK_FILE "dmail-pop3.lock"
/* Wire sizes of messages without ",W=" in their name (maildrop.c), and
 * the largest such file read (a bigger one is ignored: sizes are
 * recomputed). */
#define POP3_SIZE_CACHE "dmail-pop3.sizes"
#define POP3_SIZE_CACHE_MAX (64 * 1024 * 1024)
/* RFC 1939 section 7: a unique-id is 1 to 70 characters 0x21..0x7E. */
#define POP3_UIDL_MAX 70
/* An APOP digest: MD5 in lower-case hex. */
#define APOP_DIGEST_LEN 32

/* --- pop3_cmd.c --------------------------------------------------------- */

enum pop3_verb {
	POP3_UNKNOWN = 0,
	POP3_USER, POP3_PASS, POP3_APOP, POP3_AUTH, POP3_STLS, POP3_CAPA,
	POP3_QUIT, POP3_STAT, POP3_LIST, POP3_RETR, POP3_DELE, POP3_NOOP,
	POP3_RSET, POP3_TOP, POP3_UIDL,
};

struct pop3_cmd {
	enum pop3_verb verb;
	const char *name;        /* upper-case verb, "" for unknown */
	char *arg;               /* rest of line after one space, or NULL */
};

/* Split a command line (modified in place). Returns 0, or -1 when the
 * line is not a well-formed command (empty, control characters). */
int pop3_parse(char *line, struct pop3_cmd *cmd);
/* Strict decimal message number or count: digits only, no sign, fits in
 * an unsigned long below 2^31. -1 if not. */
long pop3_number(const char *s);
/* Split "a b" into two numbers (TOP); -1 if not exactly two numbers. */
int pop3_two_numbers(const char *s, long *a, long *b);

/* --- maildrop.c --------------------------------------------------------- */

enum maildir_sub { MAILDIR_NEW = 0, MAILDIR_CUR = 1 };

struct message {
	enum maildir_sub dir;    /* which subdirectory holds it */
	char *name;              /* file name inside dir */
	size_t base_len;         /* length of its base name (before ':') */
	char uidl[POP3_UIDL_MAX + 1];
	uint64_t size;           /* octets RETR sends, before dot-stuffing */
	bool deleted;
	bool retrieved;
};

struct maildrop {
	char *path;
	int lock_fd;
	int dir_fd[2];           /* new/ and cur/, indexed by maildir_sub:
	                          * message files are opened, moved and
	                          * unlinked relative to them */
	struct message *msgs;
	size_t count;
	uint64_t total;          /* all messages, deleted included */
	char *chunk;             /* read buffer for RETR/TOP */
	struct buf out;          /* output buffer for RETR/TOP */
};

enum maildrop_status {
	MAILDROP_OK = 0,
	MAILDROP_IN_USE,         /* another session holds the lock */
	MAILDROP_ERROR,          /* I/O error: temporary failure */
	MAILDROP_BROKEN,         /* the mailbox path cannot work (not
	                          * absolute, a file in the way): permanent */
};

/* Lock and scan path. MAILDROP_IN_USE if locked by another process. */
enum maildrop_status maildrop_open(struct maildrop *md, const char *path);
void maildrop_close(struct maildrop *md);
/* UIDL of a Maildir file name: the base name (before ":2,") if it is 1-70
 * printable characters, else a hex digest of it. */
void maildrop_uidl(const char *name, char out[POP3_UIDL_MAX + 1]);
/* ",W=NNN" size in the base name; 0 and true if found. */
bool maildrop_name_size(const char *name, uint64_t *size);
/* Octets that RETR sends for these bytes: every LF not preceded by CR
 * counts as CRLF, and an unterminated last line gets CRLF. */
uint64_t maildrop_wire_size(const char *data, size_t len, bool *last_lf,
    bool *last_cr);

/* Dot-stuffing, CRLF-converting transformer that works chunk by chunk.
 * lines < 0: whole message; else TOP: headers, blank line, lines lines. */
struct msg_out {
	bool line_start;
	bool in_body;
	bool prev_cr;
	bool done;
	bool header_empty_line;  /* current header line is empty so far */
	long lines_left;
};
void msg_out_init(struct msg_out *o, long lines);
/* Appends the wire form of data to out. */
void msg_out_chunk(struct msg_out *o, const char *data, size_t len,
    struct buf *out);
/* Terminates the last line if needed and appends ".\r\n". */
void msg_out_finish(struct msg_out *o, struct buf *out);

/* Send message i (RETR when lines < 0, else TOP) as "+OK", data and the
 * final dot. Returns 0; 1 if the file is gone (nothing sent); -1 on a
 * read error before anything was sent; -2 on an error after "+OK" was
 * sent (the session must end: the reply is incomplete). */
int maildrop_send(struct maildrop *md, size_t i, long lines,
    struct stream *s);
/* UPDATE state: unlink deleted messages, move retrieved ones from new/
 * to cur/, fsync the directories. 0, or -1 if any deletion could not be
 * made durable (*deleted counts the ones that were). */
int maildrop_update(struct maildrop *md, unsigned *deleted);
/* LOGIN-DELAY: seconds since the last login (lock file mtime), and mark
 * this one. */
long maildrop_since_last_login(struct maildrop *md);
void maildrop_mark_login(struct maildrop *md);

/* --- pop3_session.c ----------------------------------------------------- */

struct pop3_server {
	SSL_CTX *tls;            /* NULL: no STLS / POP3S */
	struct userdb *db;       /* opened on first use (after privilege drop) */
	char *hostname;
};

void pop3_session(struct pop3_server *srv, const struct dmail_conf *conf,
    struct worker_session *sess);

#endif
