/*
 * conf.h - dmail.conf: parsing, validation and the immutable settings struct.
 *
 * Format: one "key value..." per line; '#' starts a comment when it is the
 * first non-blank character of a line; blank lines are ignored. Keys marked
 * "repeatable" may appear many times and accumulate; any other key given
 * twice is an error. Sizes take k/M/G suffixes (1024-based), durations
 * s/m/h/d (default seconds). Relative paths are relative to the directory
 * of the configuration file.
 *
 * conf_load_file() and conf_load_text() build a complete struct dmail_conf
 * or fail: on failure every error is appended to err, one per line, as
 * "FILE:LINE: message" (e.g. "dmail.conf:12: unknown key 'smtp_lisen'"),
 * and *out is untouched. A loaded configuration is never modified, so the
 * master can parse a new one into a staging copy and swap only if valid.
 *
 * The full list of keys, with defaults, is in man/dmail.conf.5 and the
 * table in conf.c; keep the three in step.
 */
#ifndef DMAIL_CONF_H
#define DMAIL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "log.h"

/* Pools of worker processes run by the master. */
enum pool_id {
	POOL_SMTP = 0,
	POOL_POP3,
	POOL_LIST,
	POOL_QUEUE,
	POOL_WEB,          /* the web manager and API (webd/) */
	POOL_COUNT
};

/* What a listening socket is for; the worker gets the role with the fd. */
enum listen_role {
	ROLE_SMTP = 0,     /* port 25: relay rules, AUTH optional */
	ROLE_SUBMISSION,   /* port 587: AUTH required before MAIL */
	ROLE_SMTPS,        /* port 465: implicit TLS, then like submission */
	ROLE_POP3,         /* port 110 */
	ROLE_POP3S,        /* port 995: implicit TLS */
	ROLE_WEB,          /* web manager: HTTPS, or HTTP on loopback */
	ROLE_COUNT
};

struct listen_addr {
	enum listen_role role;
	char *text;                    /* as written, e.g. "[::1]:2525" */
	struct sockaddr_storage ss;
	socklen_t sslen;
};

struct cidr {
	int family;                    /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

/* "alias NAME TARGET,...", "forward ADDR TARGET,...", "transport DOM HOST". */
struct conf_pair {
	char *key;
	char *value;
};

struct strlist {
	char **items;
	size_t count;
};

struct pairlist {
	struct conf_pair *items;
	size_t count;
};

struct pool_conf {
	unsigned workers_min;          /* idle workers kept ready */
	unsigned workers_max;          /* hard limit of processes */
	unsigned max_use;              /* sessions before a worker retires */
	char *program;                 /* executable; default LIBEXECDIR/... */
};

enum bare_lf_policy { BARE_LF_REJECT = 0, BARE_LF_NORMALIZE };
enum null_bounce_policy { NULL_BOUNCE_DROP = 0, NULL_BOUNCE_POSTMASTER };
enum worker_spawn { WORKER_SPAWN_TEMPLATE = 0, WORKER_SPAWN_EXEC };
enum userdb_backend_id { USERDB_BDB = 0, USERDB_LDAP, USERDB_PGSQL };
enum sender_check { SENDER_CHECK_OFF = 0, SENDER_CHECK_DOMAIN,
	SENDER_CHECK_STRICT };
enum milter_default { MILTER_DEFAULT_ACCEPT = 0, MILTER_DEFAULT_TEMPFAIL,
	MILTER_DEFAULT_REJECT };
enum dmarc_rewrite { DMARC_REWRITE_AUTO = 0, DMARC_REWRITE_ALWAYS,
	DMARC_REWRITE_NEVER };

struct dmail_conf {
	char *path;                    /* file it came from (for messages) */
	char *dir;                     /* its directory, absolute */
	char *text;                    /* the exact text that was validated */
	size_t text_len;

	/* general */
	char *hostname;
	char *node_name;               /* tellsmtp status, metrics label;
	                                * default: hostname */
	struct strlist local_domains;  /* lower case */
	char *state_dir;               /* absolute */
	char *run_as;                  /* NULL: do not change user */
	char *control_socket;
	char *status_socket;
	enum log_target log_target;
	enum log_level log_level;
	unsigned shutdown_grace;       /* seconds */
	unsigned worker_idle_timeout;  /* seconds an extra idle worker lives */
	enum worker_spawn worker_spawn; /* smtp/pop3 workers: fork from a
	                                 * template process, or fork+exec */
	unsigned listen_backlog;
	unsigned client_connection_rate_limit; /* new connections per client
	                                        * address and minute; 0: none */
	unsigned client_connection_limit; /* sessions per client address
	                                   * and pool; 0: no limit */
	struct cidr *client_limit_exempt; /* clients the limit skips */
	size_t client_limit_exempt_count;

	struct listen_addr *listen;    /* all listeners, every role */
	size_t listen_count;

	struct pool_conf pool[POOL_COUNT];

	/* TLS (DSMTP and DPOP) */
	char *tls_cert;
	char *tls_key;

	/* DSMTP */
	uint64_t max_message_size;
	unsigned max_recipients;
	unsigned smtp_max_errors;
	unsigned smtp_command_timeout; /* seconds */
	unsigned smtp_data_timeout;
	unsigned smtp_session_timeout;
	unsigned smtp_command_time_limit; /* seconds from a command line's
	                                   * first byte to its end; 0: none */
	unsigned smtp_data_time_limit;    /* the whole DATA phase; 0: none */
	enum bare_lf_policy smtp_bare_lf;
	bool smtp_vrfy;
	unsigned max_hops;
	/* Milters (smtpd/milter.h): "inet:HOST:PORT" or "unix:/PATH" */
	struct strlist smtpd_milters;      /* the smtp role */
	struct strlist submission_milters; /* submission and smtps */
	enum milter_default milter_default_action; /* milter down/timeout */
	unsigned milter_connect_timeout;   /* seconds */
	unsigned milter_command_timeout;
	unsigned milter_content_timeout;   /* header, body, end of message */
	struct cidr *relay_networks;
	size_t relay_network_count;
	struct pairlist aliases;       /* key: "name" or "name@domain" */
	struct pairlist forwards;      /* key: full address */
	char *aliases_file;            /* text source; compiled to FILE.db */
	char *recipient_delimiter;     /* plus addressing: NULL = off */
	unsigned quota_warning_percent; /* 0: no quota warnings */

	/* DPOP */
	bool pop3_plaintext_auth;
	unsigned pop3_login_delay;     /* 0: not advertised */
	unsigned pop3_max_failed_logins;
	unsigned pop3_idle_timeout;
	unsigned pop3_command_time_limit; /* like smtp_command_time_limit */
	unsigned auth_throttle_failures;  /* failures per IP before refusals */
	unsigned auth_throttle_max_delay; /* seconds */
	unsigned auth_throttle_account_failures; /* per account; 0: off */
	char *password_scheme;         /* "yescrypt" or "sha512" */

	/* accounts: where they live (common/userdb_dir.h) */
	enum userdb_backend_id userdb_backend;
	unsigned userdb_timeout;       /* seconds one lookup may take */
	unsigned userdb_cache_ttl;     /* seconds a found account is kept */
	unsigned userdb_cache_negative_ttl; /* ... and a missing one */
	char *pgsql_conninfo;          /* libpq connection string */
	char *pgsql_user_query;        /* $1 = address */
	char *pgsql_list_query;
	char *pgsql_put_query;         /* $1..$7, see dmail.conf(5) */
	char *pgsql_delete_query;      /* $1 = address */
	char *pgsql_domain_query;      /* $1 = domain; "none": off */
	char *pgsql_alias_query;       /* $1 = address; rows of "target" */
	char *ldap_uri;                /* space-separated, tried in order */
	bool ldap_starttls;
	char *ldap_tls_ca_file;
	char *ldap_bind_dn;
	char *ldap_bind_password_file;
	char *ldap_base;
	char *ldap_user_filter;        /* %s address, %u local part, %d domain */
	char *ldap_list_filter;
	char *ldap_domain_filter;      /* %s, %d: the domain; "none": off */
	char *ldap_alias_filter;       /* as ldap_user_filter; "none": off */
	char *ldap_alias_attribute;    /* values: the alias targets */
	char *ldap_address_attribute;
	char *ldap_password_attribute;
	char *ldap_quota_bytes_attribute;
	char *ldap_quota_messages_attribute;
	char *ldap_mailbox_attribute;
	char *ldap_enabled_attribute;

	/* outbound */
	unsigned queue_retry_min;
	unsigned queue_retry_max;
	unsigned queue_lifetime;
	/* Starts of one spool file that never finished before it goes to
	 * quarantine/ (common/poison.h). */
	unsigned poison_attempts;
	unsigned queue_warn_after;     /* 0: no delay warnings */
	unsigned smtp_dest_concurrency;
	unsigned delivery_workers_max;
	struct pairlist transports;    /* DOMAIN -> HOST:PORT or [HOST]:PORT */
	char *relayhost;
	char *relayhost_auth;
	struct strlist tls_required;
	struct strlist relay_domains;  /* accepted from anyone, relayed */
	char *resolv_conf;
	char *admin_address;           /* role mailboxes without an owner */
	enum null_bounce_policy null_sender_bounces;
	unsigned smtp_connect_timeout;
	unsigned smtp_reply_timeout;   /* 0: RFC 5321 4.5.3.2 values */

	/* DList */
	char *lists_file;
	char *list_web_url;
	enum dmarc_rewrite list_dmarc_rewrite;

	/* Mail of authenticated users (common/outgoing.h, smtpd/smtp_checks.c) */
	struct pairlist dkim_sign;     /* DOMAIN -> "SELECTOR KEYFILE" */
	enum sender_check submission_sender_check;
	/* Per minute (enum clienttab_send_what): [0] messages, [1]
	 * recipients, [2] logins (account only); 0: no limit. Per
	 * authenticated account, and per client address. */
	unsigned submission_rate[3];
	unsigned submission_client_rate[2];

	/* Verification at the MX (smtpd/smtp_verify.c) */
	bool verify_inbound;           /* SPF, DKIM, DMARC and
	                                * Authentication-Results */
	bool dmarc_enforce;            /* refuse p=reject failures */
	char *public_suffix_list;      /* NULL: PSL_DEFAULT_PATH */
	char *dnsbl_zones;             /* dnsbl.h form; NULL: none */
	unsigned dnsbl_threshold;

	/* web manager (webd/) */
	struct strlist web_admins;     /* accounts with the admin role */
	unsigned web_session_idle;     /* seconds a session lives unused */
	unsigned web_session_lifetime; /* seconds a session lives at most */
	uint64_t web_max_body;         /* largest request body accepted */
};

/* Parse a file. Returns 0 and fills *out, or -1 with errors in err. */
int conf_load_file(const char *path, struct dmail_conf *out, struct buf *err);
/* Parse text already in memory; name is used in messages and to resolve
 * relative paths (its directory). */
int conf_load_text(const char *name, const char *text, size_t len,
    struct dmail_conf *out, struct buf *err);
void conf_free(struct dmail_conf *c);

/* Helpers on a loaded configuration. */
bool conf_is_local_domain(const struct dmail_conf *c, const char *domain);
/* state_dir/SUB, into out. */
void conf_state_path(const struct dmail_conf *c, const char *sub,
    struct buf *out);
const char *pool_name(enum pool_id id);
const char *role_name(enum listen_role role);
enum pool_id role_pool(enum listen_role role);

/* Parsing helpers shared with tools (exported for tests). */
int parse_size(const char *s, uint64_t *out);
int parse_duration(const char *s, unsigned *out);
int parse_listen_addr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len);
int parse_cidr(const char *s, struct cidr *out);
bool cidr_match(const struct cidr *net, const struct sockaddr *sa);
void strlist_add(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);
bool strlist_contains_ci(const struct strlist *l, const char *s);

#endif
