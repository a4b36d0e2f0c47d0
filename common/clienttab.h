/*
 * clienttab.h - the per-client table every SMTP and POP3 worker shares:
 * failed logins per client address and per account (the password-guessing
 * penalty), new connections per client address (the connection rate
 * limit), and messages and recipients sent per authenticated account and
 * per client address (the submission rate limits).
 *
 * Where it lives: a file, state_dir/run/clients (CLIENTTAB_FILE), of
 * fixed size, mapped MAP_SHARED by every worker. The worker runtime
 * (worker.c) opens it once per process before dropping privileges (a
 * template process opens it and its forked workers inherit the mapping)
 * and hands it to sessions as worker_session.clients. The first opener
 * builds the file under a temporary name and links it into place, so
 * nobody ever sees a half-made table; a file of another layout (an
 * upgrade) is replaced. The table outlives the master: a restart does not
 * forgive anybody.
 *
 * Bounded: CLIENTTAB_SLOTS slots of 64 bytes. A key (a client address or
 * an account) hashes with a keyed SipHash (the key is random per table,
 * so nobody can aim at a slot) to a window of CLIENTTAB_PROBE slots. A new
 * key takes a free or forgotten slot of its window, else evicts the slot
 * of the window used longest ago.
 *
 * Forgetting: an entry is forgotten CLIENTTAB_FORGET_MS (15 minutes)
 * after its last counted failure or connection.
 *
 * Crash safety: one robust, process-shared mutex guards the table and is
 * held only for a few slot reads and writes. A worker killed while
 * holding it costs at most the update it was making: the next locker
 * gets EOWNERDEAD, marks the mutex consistent and goes on. Every value
 * read from the table is bounded before use, so a torn slot is harmless.
 *
 * Client addresses: IPv4 addresses count one by one; IPv6 addresses count
 * per /64, the block one subscriber usually gets. IPv4-mapped IPv6
 * addresses are IPv4.
 *
 * The password-guessing penalty (clienttab_auth_begin):
 *   - A login whose check failed counts as a failure of the client
 *     address and of the account (the normalised login address). A
 *     success forgets the account's failures only; the address keeps the
 *     failures it had, so an attacker who owns one account gains nothing
 *     by logging into it between guesses. Logins still being checked
 *     count nothing, so many users logging in at once from one address
 *     (a NAT, a webmail) are never refused for it; a burst of parallel
 *     guesses is bounded by client_connection_limit, and once its
 *     failures are in, the address is blocked.
 *   - With f failures and threshold T (f >= T) the address or account is
 *     blocked for min(2^(f-T), max_delay) seconds after the last failure:
 *     1, 2, 4 ... s. A blocked attempt is refused at once WITHOUT checking
 *     the password and is not counted. The worker never sleeps.
 *   - SMTP AUTH and every POP3 login share the counts.
 *
 * Errors: clienttab_open() returns NULL with the reason in err; nothing
 * else fails. If the lock cannot be taken (never expected) an operation
 * logs and does nothing: logins are then not penalised.
 */
#ifndef DMAIL_CLIENTTAB_H
#define DMAIL_CLIENTTAB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "conf.h"

#define CLIENTTAB_FILE "clients"          /* in state_dir/run */
#define CLIENTTAB_SLOTS 65536              /* 4 MB */
#define CLIENTTAB_PROBE 16
#define CLIENTTAB_FORGET_MS (15 * 60 * 1000)
/* Refused login attempts in one session before the server closes it. */
#define CLIENTTAB_REFUSED_CLOSE 3

struct clienttab;

/* From auth_throttle_failures, auth_throttle_account_failures and
 * auth_throttle_max_delay. A threshold of 0 turns that count off;
 * max_delay 0 never refuses. */
struct clienttab_policy {
	unsigned ip_failures;
	unsigned account_failures;
	unsigned max_delay;      /* seconds */
};

enum clienttab_block {
	CLIENTTAB_OK = 0,
	CLIENTTAB_BLOCKED_IP,
	CLIENTTAB_BLOCKED_ACCOUNT,
};

/* What clienttab_auth_begin() let through, for clienttab_auth_failure()
 * or clienttab_auth_success(). Opaque to callers. */
struct clienttab_attempt {
	int64_t at;
	uint8_t ip_key[16], acct_key[16];
	bool ip_counted, acct_counted;  /* counted on failure */
};

/* Open (creating when missing) the table file at path with nslots slots
 * (CLIENTTAB_SLOTS, fewer in tests). A new file is mode 0600 and, when
 * root, given to run_as (NULL: keep). */
struct clienttab *clienttab_open(const char *path, uint32_t nslots,
    const char *run_as, struct buf *err);
void clienttab_close(struct clienttab *t);

/* Wall-clock milliseconds: the table outlives processes and reboots. */
int64_t clienttab_now(void);
/* The policy the configuration asks for. */
void clienttab_policy(const struct dmail_conf *conf,
    struct clienttab_policy *pol);
/* True when peer is in client_limit_exempt: no per-address limit or
 * count applies to it (per-account counts still do). */
bool clienttab_exempt(const struct dmail_conf *conf,
    const struct sockaddr *peer);

/* A login attempt is about to be checked. ip: the client (NULL when it
 * has no address, or is exempt); account: the normalised login address
 * (NULL when the name is not valid). Returns CLIENTTAB_OK after counting
 * the attempt as a failure (see above) and filling *a; or the block,
 * with the seconds it still lasts in *retry (at least 1), counting
 * nothing. */
enum clienttab_block clienttab_auth_begin(struct clienttab *t,
    const struct clienttab_policy *pol, const struct sockaddr *ip,
    const char *account, int64_t now, struct clienttab_attempt *a,
    unsigned *retry);
/* clienttab_auth_begin() with the configuration's policy, the current
 * time, and the client's address unless it is in client_limit_exempt
 * (peer NULL: no address, a pipe). What smtpd and pop3d call. */
enum clienttab_block clienttab_login_begin(struct clienttab *t,
    const struct dmail_conf *conf, const struct sockaddr *peer,
    const char *account, struct clienttab_attempt *a, unsigned *retry);
/* The attempt was checked and failed: one failure for its address and
 * its account. */
void clienttab_auth_failure(struct clienttab *t,
    const struct clienttab_attempt *a);
/* The attempt succeeded: the account's failures are forgotten (its
 * address keeps its own). An attempt that could not be checked (user
 * database down) needs neither call: it counts nothing. */
void clienttab_auth_success(struct clienttab *t,
    const struct clienttab_attempt *a);
/* Failures counted now for an address (account NULL) or an account (ip
 * NULL); 0 when forgotten. For status and tests. */
unsigned clienttab_failures(struct clienttab *t, const struct sockaddr *ip,
    const char *account, int64_t now);

/* A new connection from ip. Admitted (true) while the address has had
 * fewer than per_minute admitted connections in the last minute (a
 * token bucket: per_minute at once, then one every 60/per_minute s);
 * per_minute 0 admits everything. A refusal is not counted against the
 * address; *refused (may be NULL) says how many in a row it has had. */
bool clienttab_connection(struct clienttab *t, const struct sockaddr *ip,
    unsigned per_minute, int64_t now, unsigned *refused);

/* Mail sent by an authenticated client: one message (at MAIL), one
 * recipient (at RCPT) or one login (a successful SMTP AUTH) of account
 * (when not NULL) or else of the client address ip. Admitted (true, and
 * counted) while fewer than per_minute were admitted in the last minute
 * (the token bucket of connections); per_minute 0 admits everything.
 * Kept apart from the counts above. */
enum clienttab_send_what { CLIENTTAB_SEND_MESSAGE, CLIENTTAB_SEND_RCPT,
	CLIENTTAB_SEND_LOGIN };
bool clienttab_send(struct clienttab *t, const struct sockaddr *ip,
    const char *account, enum clienttab_send_what what, unsigned per_minute,
    int64_t now);

/* Tests only: take the lock and keep it (to be killed holding it). */
void clienttab_hold_lock_for_test(struct clienttab *t);

#endif
