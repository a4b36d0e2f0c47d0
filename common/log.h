/*
 * log.h - logging with fixed severities, to syslog (facility mail) or stderr.
 *
 * Severities, as in Postfix:
 *   log_debug   detail for developers, off unless the level is debug
 *   log_info    normal operation: one line per session, message, delivery
 *   log_warn    something is wrong but service continues unchanged
 *   log_error   a recoverable failure (one message, one session)
 *   log_fatal   the environment is broken (config, disk, memory): exit(1)
 *   log_panic   our own bug, an invariant broken: "panic: FILE:LINE: ..."
 *               then abort() for a core; log_assert(cond) panics when
 *               cond is false (always compiled in, unlike assert())
 *
 * Log lines are a wire format that operators grep and monitoring parses.
 * A line of log_debug, log_info, log_warn or log_error is
 *
 *   action=NAME key=value ...   what DMail did for a client, a message,
 *                               an account or a list (accepted, deliver,
 *                               auth, post, quarantine, ...)
 *   event=NAME key=value ...    what happened to a process or the system
 *                               (start, reload, worker-crash, and the
 *                               errors: write-failed, userdb-failed, ...)
 *
 * NAME is lower case with hyphens. A value is one word, an address in
 * angle brackets (<a@example.org>; <> is the null sender), or a text in
 * double quotes when it may hold spaces (reason="...", reply="...",
 * error="..."). Lists of values are joined with commas. log_fatal and
 * log_panic end the process: they are free text for a human, saying
 * what to fix. Log each error once, where it is handled, with its
 * context (qid, sid, list, path).
 *
 * One grep of a qid follows a message from receipt to final delivery:
 * action=accepted (smtpd), action=deliver (the local and queue copies),
 * action=relay (each outbound connection), action=deliver status=sent,
 * deferred or bounced (each remote recipient), action=dsn (notices,
 * with the notice's own dsn_qid), action=remove (the queue file gone).
 *
 * Fields: one spelling each, in every program. t/log_keys.py reads this
 * table; a key logged by the source and missing here fails the test.
 *
 *   key          meaning                                example
 *   action       what was done (the first field)        action=accepted
 *   event        what happened (the first field)        event=reload
 *   sid          session id of one connection           sid=4f2a19c3e1
 *   qid          queue id of a message: the "queued     qid=0674A1B2C3D4...
 *                as" id, the same in every program
 *   dsn_qid      qid of a notice made for a message     dsn_qid=0674A1B2...
 *   maildrop     name of a file in the maildrop         maildrop=170000.12
 *   client       IP address of the remote client       client=192.0.2.7
 *   port         TCP port of the remote client          port=51234
 *   role         listener role                          role=submission
 *   listen       a listening address                    listen=0.0.0.0:25
 *   helo         HELO/EHLO name (quoted)                helo="mx.example"
 *   proto        protocol of the receipt                proto=ESMTPS
 *   tls          TLS in use: cipher, yes/no, none       tls="TLSv1.3 ..."
 *   user         account name (login, authenticated)    user=al@example.test
 *   mech         authentication mechanism               mech=PLAIN
 *   uid          local owner of a maildrop file         uid=1000
 *   from         envelope sender                        from=<a@example.org>
 *   to           recipient(s), comma-separated          to=<b@example.net>
 *   queued       recipients copied to the queue         queued=b@example.net
 *   nrcpt        number of recipients                   nrcpt=2
 *   size         message size in bytes                  size=1543
 *   status       outcome                                status=sent
 *   dsn          enhanced status code (RFC 3463)        dsn=2.0.0
 *   reply        SMTP reply, sent or received           reply="250 2.0.0 Ok"
 *   relay        remote server of an outbound delivery  relay=mx.example.net
 *   dest         destination of a delivery process      dest=example.net
 *   stage        SMTP command or step of a delivery     stage=RCPT
 *   reason       why, for a human (quoted)              reason="relay denied"
 *   error        system error text (quoted)             error="No such file"
 *   delay        ms since the message arrived           delay=35ms
 *   attempts     attempts so far                        attempts=3
 *   pending      recipients still to deliver            pending=1
 *   retry_in     time until the next attempt            retry_in=300s
 *   accepted     recipients accepted                    accepted=2
 *   rejected     recipients rejected                    rejected=0
 *   messages     messages of a session or mailbox       messages=3
 *   errors       protocol errors in a session           errors=0
 *   bytes        bytes (sent, discarded, read)          bytes=120
 *   retrieved    messages retrieved (POP3)              retrieved=2
 *   deleted      messages deleted (POP3)                deleted=2
 *   end          how a POP3 session ended               end=quit
 *   retry        seconds before a client may retry      retry=60
 *   limit        the limit that applied                 limit=10
 *   refused      connections refused so far             refused=1
 *   sessions     sessions (of a client, of a worker)    sessions=20
 *   list         list address                           list=team@example
 *   member       list member                            member=<b@example>
 *   requester    sender of a list command               requester=<o@ex>
 *   token        confirmation or moderation token       token=8c1d...
 *   command      list command, or a token's command     command=approve
 *   commands     list commands run from one message     commands=2
 *   score        bounce score of a member               score=3
 *   threshold    bounce threshold of a list             threshold=5
 *   local        local recipients of a list post        local=3
 *   remote       remote recipients of a list post       remote=5
 *   digest       digest recipients of a list post       digest=1
 *   issue        digest issue number                    issue=12
 *   archive      archive number of a post               archive=17
 *   posts        posts in a digest                      posts=4
 *   members      members a digest goes to               members=3
 *   job          list distribution job                  job=0674A1B2...
 *   count        number of things (files, messages)     count=2
 *   spool        spool of a poison file                 spool=queue
 *   file         file name inside a spool               file=0674A1B2...
 *   signal       signal that killed a process           signal=SIGSEGV
 *   process      kind of process                        process=delivery
 *   time         Unix time                              time=1700000000
 *   pool         worker pool                            pool=smtp
 *   pid          process id                             pid=4242
 *   slot         scoreboard slot                        slot=3
 *   generation   configuration generation               generation=2
 *   workers      number of workers                      workers=4
 *   top_clients  busiest clients of a full pool         top_clients="..."
 *   grace        shutdown grace period                  grace=30s
 *   ms           a duration in milliseconds             ms=500
 *   path         file or directory                      path=/var/lib/dmail
 *   socket       a socket path                          socket=/run/notify
 *   fd           file descriptor                        fd=5
 *   key          a database key; lists.dat keys changed key=al@example.test
 *   domain       a mail domain                          domain=example.org
 *   policy       a policy applied (DMARC; a milter's     policy=strict
 *                milter_default_action)
 *   backend      account directory (userdb_backend)     backend=pgsql
 *   listed       DNS blocklists listing a client        listed=bl.ex=127.0.0.2
 *
 */
#ifndef DMAIL_LOG_H
#define DMAIL_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
	LOG_LEVEL_PANIC,         /* log_panic() only, never a threshold */
};

enum log_target {
	LOG_TO_STDERR = 0,
	LOG_TO_SYSLOG,
};

/* Set program name, where lines go and the lowest level written. May be
 * called again (after a reload, or when a daemon detaches). */
void log_open(const char *ident, enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warning", "error"; returns -1 if unknown. */
int log_level_parse(const char *s);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void log_panic_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
#define log_panic(...) log_panic_at(__FILE__, __LINE__, __VA_ARGS__)
#define log_assert(cond) ((cond) ? (void)0 : \
	log_panic("invariant broken: %s", #cond))

#endif
