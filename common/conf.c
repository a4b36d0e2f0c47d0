/*
 * conf.c - dmail.conf parser (see conf.h).
 *
 * Every key is a row in conf_keys[], as in nginx's command table: its
 * name, the type of its value (a struct conf_type: the setter that parses
 * and stores it, and whether the key may repeat), where in struct
 * dmail_conf the result goes, a per-type argument (minimum of a number,
 * the role of a listener), and an optional check run on the value before
 * it is stored. Setters report a refused value with conf_error() and
 * store nothing. Parsing fills a fresh struct; the caller's struct is
 * replaced only when the whole file is valid.
 *
 * Nothing here is fatal: every error is reported to the caller's buffer.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "dkim.h"
#include "dnsbl.h"
#include "util.h"

#ifndef DMAIL_LIBEXECDIR
#define DMAIL_LIBEXECDIR "/usr/local/libexec/dmail"
#endif

/* Most values one line of a list key (domains, listeners, networks)
 * may hold; more is an error, never a silent cut. */
#define CONF_WORDS_MAX 64
/* dmail.conf larger than this is refused. */
#define CONF_FILE_MAX (16 * 1024 * 1024)
/* Longest domain name (RFC 1035 presentation form, no final dot). */
#define DOMAIN_MAX 253
/* Highest TCP port. */
#define PORT_MAX 65535

struct parse_ctx;
struct conf_key;

/* Parses value (non-empty, trimmed, may be modified) and stores it at
 * k->offset in the configuration, or reports why not (conf_error()). */
typedef void conf_setter(struct parse_ctx *p, const struct conf_key *k,
    char *value);
/* A key's own rule on top of its type's syntax: true to accept, false
 * after reporting the refusal. */
typedef bool conf_check(struct parse_ctx *p, const struct conf_key *k,
    const char *value);

struct conf_type {
	conf_setter *set;
	bool repeatable;   /* may appear on many lines; values accumulate */
};

struct conf_key {
	const char *name;
	const struct conf_type *type;
	size_t offset;
	int arg;            /* t_uint, t_duration: minimum; t_listen: role;
	                     * t_cidrs: offset of the size_t count */
	const char *names;  /* t_enum, t_enum_string: "a|b|c" */
	conf_check *check;  /* NULL: the type's syntax is the only rule */
};

static conf_setter set_string, set_path, set_uint, set_size, set_duration,
    set_bool, set_domains, set_addresses, set_listen, set_cidrs, set_pair,
    set_log, set_enum, set_enum_string, set_milters;
static conf_check check_hostport, check_percent, check_delimiter,
    check_dkim_sign, check_dnsbl, check_node_name;

static const struct conf_type
	t_string = { set_string, false },         /* rest of line */
	t_path = { set_path, false },             /* made absolute */
	t_uint = { set_uint, false },
	t_size = { set_size, false },             /* k, M, G */
	t_duration = { set_duration, false },     /* s, m, h, d */
	t_bool = { set_bool, false },
	t_domains = { set_domains, true },        /* lower-cased words */
	t_addresses = { set_addresses, true },    /* user@domain words */
	t_listen = { set_listen, true },          /* ADDR:PORT words */
	t_cidrs = { set_cidrs, true },            /* networks */
	t_pair = { set_pair, true },              /* NAME VALUE... */
	t_log = { set_log, false },               /* syslog|stderr [level] */
	t_enum = { set_enum, false },             /* index into names */
	t_enum_string = { set_enum_string, false }, /* the word itself */
	t_milters = { set_milters, true };        /* inet:H:P, unix:PATH */

#define OFF(field) offsetof(struct dmail_conf, field)
#define POOL_KEYS(prefix, id)                                           \
	{ prefix "_workers_min", &t_uint, OFF(pool[id].workers_min), 0,     \
	    NULL, NULL },                                                   \
	{ prefix "_workers_max", &t_uint, OFF(pool[id].workers_max), 1,     \
	    NULL, NULL },                                                   \
	{ prefix "_max_use", &t_uint, OFF(pool[id].max_use), 1, NULL, NULL }, \
	{ prefix "_program", &t_path, OFF(pool[id].program), 0, NULL, NULL }

static const struct conf_key conf_keys[] = {
	{ "hostname", &t_string, OFF(hostname), 0, NULL, NULL },
	{ "node_name", &t_string, OFF(node_name), 0, NULL, check_node_name },
	{ "local_domains", &t_domains, OFF(local_domains), 0, NULL, NULL },
	{ "state_dir", &t_path, OFF(state_dir), 0, NULL, NULL },
	{ "run_as", &t_string, OFF(run_as), 0, NULL, NULL },
	{ "control_socket", &t_path, OFF(control_socket), 0, NULL, NULL },
	{ "status_socket", &t_path, OFF(status_socket), 0, NULL, NULL },
	{ "log", &t_log, 0, 0, NULL, NULL },
	{ "shutdown_grace", &t_duration, OFF(shutdown_grace), 0, NULL, NULL },
	{ "worker_idle_timeout", &t_duration, OFF(worker_idle_timeout), 0, NULL, NULL },
	{ "listen_backlog", &t_uint, OFF(listen_backlog), 1, NULL, NULL },
	{ "smtp_listen", &t_listen, 0, ROLE_SMTP, NULL, NULL },
	{ "submission_listen", &t_listen, 0, ROLE_SUBMISSION, NULL, NULL },
	{ "smtps_listen", &t_listen, 0, ROLE_SMTPS, NULL, NULL },
	{ "pop3_listen", &t_listen, 0, ROLE_POP3, NULL, NULL },
	{ "pop3s_listen", &t_listen, 0, ROLE_POP3S, NULL, NULL },
	{ "web_listen", &t_listen, 0, ROLE_WEB, NULL, NULL },
	POOL_KEYS("smtp", POOL_SMTP),
	POOL_KEYS("pop3", POOL_POP3),
	POOL_KEYS("list", POOL_LIST),
	POOL_KEYS("web", POOL_WEB),
	{ "queue_program", &t_path, OFF(pool[POOL_QUEUE].program), 0, NULL, NULL },
	{ "tls_cert", &t_path, OFF(tls_cert), 0, NULL, NULL },
	{ "tls_key", &t_path, OFF(tls_key), 0, NULL, NULL },
	{ "max_message_size", &t_size, OFF(max_message_size), 0, NULL, NULL },
	{ "max_recipients", &t_uint, OFF(max_recipients), 1, NULL, NULL },
	{ "smtp_max_errors", &t_uint, OFF(smtp_max_errors), 1, NULL, NULL },
	{ "smtp_command_timeout", &t_duration, OFF(smtp_command_timeout), 1, NULL, NULL },
	{ "smtp_data_timeout", &t_duration, OFF(smtp_data_timeout), 1, NULL, NULL },
	{ "smtp_session_timeout", &t_duration, OFF(smtp_session_timeout), 1, NULL, NULL },
	{ "smtp_bare_lf", &t_enum, OFF(smtp_bare_lf), 0, "reject|normalize", NULL },
	{ "smtp_vrfy", &t_bool, OFF(smtp_vrfy), 0, NULL, NULL },
	{ "max_hops", &t_uint, OFF(max_hops), 1, NULL, NULL },
	{ "relay_networks", &t_cidrs, OFF(relay_networks), (int)OFF(relay_network_count), NULL, NULL },
	{ "client_connection_rate_limit", &t_uint, OFF(client_connection_rate_limit), 0, NULL, NULL },
	{ "client_connection_limit", &t_uint, OFF(client_connection_limit), 0, NULL, NULL },
	{ "client_limit_exempt", &t_cidrs, OFF(client_limit_exempt), (int)OFF(client_limit_exempt_count), NULL, NULL },
	{ "smtp_command_time_limit", &t_duration, OFF(smtp_command_time_limit), 0, NULL, NULL },
	{ "smtp_data_time_limit", &t_duration, OFF(smtp_data_time_limit), 0, NULL, NULL },
	{ "pop3_command_time_limit", &t_duration, OFF(pop3_command_time_limit), 0, NULL, NULL },
	{ "alias", &t_pair, OFF(aliases), 0, NULL, NULL },
	{ "forward", &t_pair, OFF(forwards), 0, NULL, NULL },
	{ "aliases_file", &t_path, OFF(aliases_file), 0, NULL, NULL },
	{ "recipient_delimiter", &t_string, OFF(recipient_delimiter), 0, NULL, check_delimiter },
	{ "quota_warning_percent", &t_uint, OFF(quota_warning_percent), 0, NULL, check_percent },
	{ "pop3_plaintext_auth", &t_bool, OFF(pop3_plaintext_auth), 0, NULL, NULL },
	{ "pop3_login_delay", &t_duration, OFF(pop3_login_delay), 0, NULL, NULL },
	{ "pop3_max_failed_logins", &t_uint, OFF(pop3_max_failed_logins), 1, NULL, NULL },
	{ "pop3_idle_timeout", &t_duration, OFF(pop3_idle_timeout), 1, NULL, NULL },
	{ "auth_throttle_failures", &t_uint, OFF(auth_throttle_failures), 1, NULL, NULL },
	{ "auth_throttle_max_delay", &t_duration, OFF(auth_throttle_max_delay), 0, NULL, NULL },
	{ "auth_throttle_account_failures", &t_uint, OFF(auth_throttle_account_failures), 0, NULL, NULL },
	{ "password_scheme", &t_enum_string, OFF(password_scheme), 0, "yescrypt|sha512", NULL },
	{ "userdb_backend", &t_enum, OFF(userdb_backend), 0, "bdb|ldap|pgsql", NULL },
	{ "userdb_timeout", &t_duration, OFF(userdb_timeout), 1, NULL, NULL },
	{ "userdb_cache_ttl", &t_duration, OFF(userdb_cache_ttl), 0, NULL, NULL },
	{ "userdb_cache_negative_ttl", &t_duration, OFF(userdb_cache_negative_ttl), 0, NULL, NULL },
	{ "pgsql_conninfo", &t_string, OFF(pgsql_conninfo), 0, NULL, NULL },
	{ "pgsql_user_query", &t_string, OFF(pgsql_user_query), 0, NULL, NULL },
	{ "pgsql_list_query", &t_string, OFF(pgsql_list_query), 0, NULL, NULL },
	{ "pgsql_put_query", &t_string, OFF(pgsql_put_query), 0, NULL, NULL },
	{ "pgsql_delete_query", &t_string, OFF(pgsql_delete_query), 0, NULL, NULL },
	{ "pgsql_domain_query", &t_string, OFF(pgsql_domain_query), 0, NULL, NULL },
	{ "pgsql_alias_query", &t_string, OFF(pgsql_alias_query), 0, NULL, NULL },
	{ "ldap_uri", &t_string, OFF(ldap_uri), 0, NULL, NULL },
	{ "ldap_starttls", &t_bool, OFF(ldap_starttls), 0, NULL, NULL },
	{ "ldap_tls_ca_file", &t_path, OFF(ldap_tls_ca_file), 0, NULL, NULL },
	{ "ldap_bind_dn", &t_string, OFF(ldap_bind_dn), 0, NULL, NULL },
	{ "ldap_bind_password_file", &t_path, OFF(ldap_bind_password_file), 0, NULL, NULL },
	{ "ldap_base", &t_string, OFF(ldap_base), 0, NULL, NULL },
	{ "ldap_user_filter", &t_string, OFF(ldap_user_filter), 0, NULL, NULL },
	{ "ldap_list_filter", &t_string, OFF(ldap_list_filter), 0, NULL, NULL },
	{ "ldap_domain_filter", &t_string, OFF(ldap_domain_filter), 0, NULL, NULL },
	{ "ldap_alias_filter", &t_string, OFF(ldap_alias_filter), 0, NULL, NULL },
	{ "ldap_alias_attribute", &t_string, OFF(ldap_alias_attribute), 0, NULL, NULL },
	{ "ldap_address_attribute", &t_string, OFF(ldap_address_attribute), 0, NULL, NULL },
	{ "ldap_password_attribute", &t_string, OFF(ldap_password_attribute), 0, NULL, NULL },
	{ "ldap_quota_bytes_attribute", &t_string, OFF(ldap_quota_bytes_attribute), 0, NULL, NULL },
	{ "ldap_quota_messages_attribute", &t_string, OFF(ldap_quota_messages_attribute), 0, NULL, NULL },
	{ "ldap_mailbox_attribute", &t_string, OFF(ldap_mailbox_attribute), 0, NULL, NULL },
	{ "ldap_enabled_attribute", &t_string, OFF(ldap_enabled_attribute), 0, NULL, NULL },
	{ "queue_retry_min", &t_duration, OFF(queue_retry_min), 1, NULL, NULL },
	{ "queue_retry_max", &t_duration, OFF(queue_retry_max), 1, NULL, NULL },
	{ "queue_lifetime", &t_duration, OFF(queue_lifetime), 1, NULL, NULL },
	{ "queue_warn_after", &t_duration, OFF(queue_warn_after), 0, NULL, NULL },
	{ "smtp_dest_concurrency", &t_uint, OFF(smtp_dest_concurrency), 1, NULL, NULL },
	{ "delivery_workers_max", &t_uint, OFF(delivery_workers_max), 1, NULL, NULL },
	{ "transport", &t_pair, OFF(transports), 0, NULL, check_hostport },
	{ "relayhost", &t_string, OFF(relayhost), 0, NULL, NULL },
	{ "relayhost_auth", &t_path, OFF(relayhost_auth), 0, NULL, NULL },
	{ "tls_required", &t_domains, OFF(tls_required), 0, NULL, NULL },
	{ "relay_domains", &t_domains, OFF(relay_domains), 0, NULL, NULL },
	{ "resolv_conf", &t_path, OFF(resolv_conf), 0, NULL, NULL },
	{ "admin_address", &t_string, OFF(admin_address), 0, NULL, NULL },
	{ "null_sender_bounces", &t_enum, OFF(null_sender_bounces), 0, "drop|postmaster", NULL },
	{ "smtp_connect_timeout", &t_duration, OFF(smtp_connect_timeout), 1, NULL, NULL },
	{ "smtp_reply_timeout", &t_duration, OFF(smtp_reply_timeout), 0, NULL, NULL },
	{ "lists_file", &t_path, OFF(lists_file), 0, NULL, NULL },
	{ "list_web_url", &t_string, OFF(list_web_url), 0, NULL, NULL },
	{ "list_dmarc_rewrite", &t_enum, OFF(list_dmarc_rewrite), 0, "auto|always|never", NULL },
	{ "worker_spawn", &t_enum, OFF(worker_spawn), 0, "template|exec", NULL },
	{ "poison_attempts", &t_uint, OFF(poison_attempts), 1, NULL, NULL },
	{ "dkim_sign", &t_pair, OFF(dkim_sign), 0, NULL, check_dkim_sign },
	{ "submission_sender_check", &t_enum, OFF(submission_sender_check), 0, "off|domain|strict", NULL },
	{ "submission_rate_limit_messages", &t_uint, OFF(submission_rate[0]), 0, NULL, NULL },
	{ "submission_rate_limit_recipients", &t_uint, OFF(submission_rate[1]), 0, NULL, NULL },
	{ "submission_rate_limit_connections", &t_uint, OFF(submission_rate[2]), 0, NULL, NULL },
	{ "submission_client_rate_limit_messages", &t_uint, OFF(submission_client_rate[0]), 0, NULL, NULL },
	{ "submission_client_rate_limit_recipients", &t_uint, OFF(submission_client_rate[1]), 0, NULL, NULL },
	{ "verify_inbound", &t_bool, OFF(verify_inbound), 0, NULL, NULL },
	{ "dmarc_enforce", &t_bool, OFF(dmarc_enforce), 0, NULL, NULL },
	{ "public_suffix_list", &t_path, OFF(public_suffix_list), 0, NULL, NULL },
	{ "dnsbl_zones", &t_string, OFF(dnsbl_zones), 0, NULL, check_dnsbl },
	{ "dnsbl_threshold", &t_uint, OFF(dnsbl_threshold), 1, NULL, NULL },
	{ "smtpd_milters", &t_milters, OFF(smtpd_milters), 0, NULL, NULL },
	{ "submission_milters", &t_milters, OFF(submission_milters), 0, NULL, NULL },
	{ "milter_default_action", &t_enum, OFF(milter_default_action), 0, "accept|tempfail|reject", NULL },
	{ "milter_connect_timeout", &t_duration, OFF(milter_connect_timeout), 1, NULL, NULL },
	{ "milter_command_timeout", &t_duration, OFF(milter_command_timeout), 1, NULL, NULL },
	{ "milter_content_timeout", &t_duration, OFF(milter_content_timeout), 1, NULL, NULL },
	{ "web_admins", &t_addresses, OFF(web_admins), 0, NULL, NULL },
	{ "web_session_idle", &t_duration, OFF(web_session_idle), 1, NULL, NULL },
	{ "web_session_lifetime", &t_duration, OFF(web_session_lifetime), 1, NULL, NULL },
	{ "web_max_body", &t_size, OFF(web_max_body), 0, NULL, NULL },
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const char *const pool_names[POOL_COUNT] = { "smtp", "pop3", "list",
	"queue", "web" };
static const char *const role_names[ROLE_COUNT] = { "smtp", "submission",
	"smtps", "pop3", "pop3s", "web" };

const char *
pool_name(enum pool_id id)
{
	return (unsigned)id < POOL_COUNT ? pool_names[id] : "?";
}

const char *
role_name(enum listen_role role)
{
	return (unsigned)role < ROLE_COUNT ? role_names[role] : "?";
}

enum pool_id
role_pool(enum listen_role role)
{
	if (role == ROLE_WEB)
		return POOL_WEB;
	return role == ROLE_POP3 || role == ROLE_POP3S ? POOL_POP3 : POOL_SMTP;
}

/* ---- small parsers -------------------------------------------------- */

int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1024ULL; end++; break;
	case 'm': case 'M': mult = 1024ULL * 1024; end++; break;
	case 'g': case 'G': mult = 1024ULL * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end != '\0' || (v != 0 && mult > UINT64_MAX / v))
		return -1;
	*out = (uint64_t)v * mult;
	return 0;
}

int
parse_duration(const char *s, unsigned *out)
{
	char *end;
	unsigned long v, mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 's': end++; break;
	case 'm': mult = 60; end++; break;
	case 'h': mult = 3600; end++; break;
	case 'd': mult = 86400; end++; break;
	default: return -1;
	}
	if (*end != '\0' || (v != 0 && mult > UINT_MAX / v))
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

int
parse_listen_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s;
	size_t hlen;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		port_s = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		port_s = colon + 1;
	}
	if (!isdigit((unsigned char)*port_s))
		return -1;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > PORT_MAX)
		return -1;

	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (strcmp(host, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
	}
	return 0;
}

int
parse_cidr(const char *s, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned maxbits;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else {
		return -1;
	}
	out->prefix = maxbits;
	if (slash != NULL) {
		char *end;
		unsigned long p;
		if (!isdigit((unsigned char)slash[1]))
			return -1;
		errno = 0;
		p = strtoul(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || p > maxbits)
			return -1;
		out->prefix = (unsigned)p;
	}
	return 0;
}

static bool
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rem = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rem == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rem));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool
cidr_match(const struct cidr *net, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (net->family != AF_INET)
			return false;
		return prefix_equal(net->addr,
		    (const unsigned char *)&sin->sin_addr, net->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		const unsigned char *a = sin6->sin6_addr.s6_addr;
		if (net->family == AF_INET6)
			return prefix_equal(net->addr, a, net->prefix);
		/* An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d)
		 * matches the IPv4 networks. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return prefix_equal(net->addr, a + 12, net->prefix);
	}
	return false;
}

void
strlist_add(struct strlist *l, const char *s)
{
	l->items = xrealloc(l->items, (l->count + 1) * sizeof(char *));
	l->items[l->count++] = xstrdup(s);
}

void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

bool
strlist_contains_ci(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcasecmp(l->items[i], s) == 0)
			return true;
	return false;
}

static void
pairlist_add(struct pairlist *l, const char *key, const char *value)
{
	l->items = xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
	l->items[l->count].key = xstrdup(key);
	l->items[l->count].value = xstrdup(value);
	l->count++;
}

static void
pairlist_free(struct pairlist *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* ---- the parser ----------------------------------------------------- */

struct parse_ctx {
	const char *name;      /* file name for messages */
	unsigned line;
	struct buf *err;
	int errors;
	struct dmail_conf *c;
	unsigned char seen[NKEYS];
};

static void
conf_error(struct parse_ctx *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conf_error(struct parse_ctx *p, const char *fmt, ...)
{
	va_list ap;

	if (p->line > 0)
		buf_printf(p->err, "%s:%u: ", p->name, p->line);
	else
		buf_printf(p->err, "%s: ", p->name);
	va_start(ap, fmt);
	buf_vprintf(p->err, fmt, ap);
	va_end(ap);
	buf_append_char(p->err, '\n');
	p->errors++;
}

static char *
make_path(const struct dmail_conf *c, const char *value)
{
	struct buf b = BUF_INIT;

	if (value[0] == '/')
		return xstrdup(value);
	buf_printf(&b, "%s/%s", c->dir, value);
	return buf_steal(&b);
}

/* Split value into words separated by blanks or commas. No word at all,
 * or more than max words, is an error (reported here; returns 0), never
 * a silent cut. */
static size_t
split_words(struct parse_ctx *p, const struct conf_key *k, char *value,
    char **words, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *w = strtok_r(value, " \t,", &save); w != NULL;
	     w = strtok_r(NULL, " \t,", &save)) {
		if (n == max) {
			conf_error(p, "key '%s': more than %zu values on one "
			    "line; use several lines", k->name, max);
			return 0;
		}
		words[n++] = w;
	}
	if (n == 0)   /* only separators, e.g. "," */
		conf_error(p, "key '%s' needs a value", k->name);
	return n;
}

static bool
valid_domain(const char *d)
{
	size_t len = strlen(d);

	if (len == 0 || len > DOMAIN_MAX || d[0] == '.' || d[0] == '-')
		return false;
	for (const char *p = d; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return false;
	return true;
}

/* The field a key's value goes to. */
static void *
key_field(struct parse_ctx *p, const struct conf_key *k)
{
	return (char *)p->c + k->offset;
}

/* ---- setters, one per type ------------------------------------------ */

static void
set_string(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	if (k->check != NULL && !k->check(p, k, value))
		return;
	*(char **)key_field(p, k) = xstrdup(value);
}

static void
set_path(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	*(char **)key_field(p, k) = make_path(p->c, value);
}

/* Decimal, no sign, at least k->arg. */
static void
set_uint(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno != 0 ||
	    v > UINT_MAX) {
		conf_error(p, "key '%s': '%s' is not a number", k->name, value);
		return;
	}
	if (v < (unsigned long)k->arg) {
		conf_error(p, "key '%s': must be at least %d", k->name, k->arg);
		return;
	}
	if (k->check != NULL && !k->check(p, k, value))
		return;
	*(unsigned *)key_field(p, k) = (unsigned)v;
}

static void
set_size(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	if (parse_size(value, (uint64_t *)key_field(p, k)) < 0)
		conf_error(p, "key '%s': '%s' is not a size (number with "
		    "optional k, M or G)", k->name, value);
}

/* Seconds, at least k->arg. */
static void
set_duration(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	unsigned v;

	if (parse_duration(value, &v) < 0) {
		conf_error(p, "key '%s': '%s' is not a duration (number with "
		    "optional s, m, h or d)", k->name, value);
		return;
	}
	if (v < (unsigned)k->arg) {
		conf_error(p, "key '%s': must be at least %d second(s)",
		    k->name, k->arg);
		return;
	}
	*(unsigned *)key_field(p, k) = v;
}

static void
set_bool(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	bool *field = key_field(p, k);

	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
	    strcmp(value, "on") == 0)
		*field = true;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
	    strcmp(value, "off") == 0)
		*field = false;
	else
		conf_error(p, "key '%s': '%s' is not yes or no", k->name,
		    value);
}

/* Each word a domain, lower-cased; the valid ones are kept. */
static void
set_domains(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	char *words[CONF_WORDS_MAX];
	size_t n = split_words(p, k, value, words, CONF_WORDS_MAX);

	for (size_t i = 0; i < n; i++) {
		str_lower(words[i]);
		if (!valid_domain(words[i])) {
			conf_error(p, "key '%s': '%s' is not a domain",
			    k->name, words[i]);
			continue;
		}
		strlist_add(key_field(p, k), words[i]);
	}
}

/* Each word an address user@domain, lower-cased; the valid ones are
 * kept. */
static void
set_addresses(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	char *words[CONF_WORDS_MAX];
	size_t n = split_words(p, k, value, words, CONF_WORDS_MAX);

	for (size_t i = 0; i < n; i++) {
		const char *at = strchr(words[i], '@');

		str_lower(words[i]);
		if (at == NULL || at == words[i] || !valid_domain(at + 1) ||
		    strcspn(words[i], " \t/\"<>") != strlen(words[i])) {
			conf_error(p, "key '%s': '%s' is not an address "
			    "(user@domain)", k->name, words[i]);
			continue;
		}
		strlist_add(key_field(p, k), words[i]);
	}
}

/* True if c already listens on la's address (any role). */
static bool
listener_taken(const struct dmail_conf *c, const struct listen_addr *la)
{
	for (size_t j = 0; j < c->listen_count; j++)
		if (c->listen[j].sslen == la->sslen &&
		    memcmp(&c->listen[j].ss, &la->ss, la->sslen) == 0)
			return true;
	return false;
}

/* Each word a listener of role k->arg, added to c->listen. */
static void
set_listen(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	struct dmail_conf *c = p->c;
	char *words[CONF_WORDS_MAX];
	size_t n = split_words(p, k, value, words, CONF_WORDS_MAX);

	for (size_t i = 0; i < n; i++) {
		struct listen_addr la;

		memset(&la, 0, sizeof(la));
		if (parse_listen_addr(words[i], &la.ss, &la.sslen) < 0) {
			conf_error(p, "key '%s': '%s' is not ADDR:PORT or "
			    "[IPV6]:PORT", k->name, words[i]);
			continue;
		}
		if (listener_taken(c, &la)) {
			conf_error(p, "key '%s': %s is already a listener",
			    k->name, words[i]);
			continue;
		}
		la.role = (enum listen_role)k->arg;
		la.text = xstrdup(words[i]);
		c->listen = xrealloc(c->listen,
		    (c->listen_count + 1) * sizeof(*c->listen));
		c->listen[c->listen_count++] = la;
	}
}

/* Each word a network; the array at k->offset, its count at k->arg. */
static void
set_cidrs(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	struct cidr **nets = key_field(p, k);
	size_t *count = (size_t *)((char *)p->c + k->arg);
	char *words[CONF_WORDS_MAX];
	size_t n = split_words(p, k, value, words, CONF_WORDS_MAX);

	for (size_t i = 0; i < n; i++) {
		struct cidr net;

		if (parse_cidr(words[i], &net) < 0) {
			conf_error(p, "key '%s': '%s' is not an address or "
			    "network (CIDR)", k->name, words[i]);
			continue;
		}
		*nets = xrealloc(*nets, (*count + 1) * sizeof(net));
		(*nets)[(*count)++] = net;
	}
}

/* "NAME VALUE...": the name lower-cased, the value as written (the
 * key's check, if any, sees the value). */
static void
set_pair(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	char *sp = value + strcspn(value, " \t");

	if (*sp != '\0') {
		*sp++ = '\0';
		sp += strspn(sp, " \t");
	}
	if (*sp == '\0') {
		conf_error(p, "key '%s': needs a name and a value", k->name);
		return;
	}
	if (k->check != NULL && !k->check(p, k, sp))
		return;
	pairlist_add(key_field(p, k), str_lower(value), sp);
}

/* transport: HOST:PORT where HOST may be a name, [name] or [address];
 * the port is checked here, the host at use. */
static bool
check_hostport(struct parse_ctx *p, const struct conf_key *k,
    const char *value)
{
	const char *colon = strrchr(value, ':');
	size_t digits = colon ? strspn(colon + 1, "0123456789") : 0;
	unsigned long port = digits > 0 ? strtoul(colon + 1, NULL, 10) : 0;

	if (colon == NULL || colon == value || digits == 0 || digits > 5 ||
	    value[strcspn(value, " \t")] != '\0' ||
	    colon[1 + digits] != '\0' || port == 0 || port > PORT_MAX) {
		conf_error(p, "key '%s': '%s' is not HOST:PORT", k->name,
		    value);
		return false;
	}
	return true;
}

/* quota_warning_percent: 0 (off) to 100. */
static bool
check_percent(struct parse_ctx *p, const struct conf_key *k,
    const char *value)
{
	if (strtoul(value, NULL, 10) > 100) {
		conf_error(p, "key '%s': '%s' is more than 100", k->name,
		    value);
		return false;
	}
	return true;
}

/* recipient_delimiter: characters that may end a local part's base
 * (Postfix), none of them '@', a quote, a blank or a control. */
static bool
check_delimiter(struct parse_ctx *p, const struct conf_key *k,
    const char *value)
{
	for (const char *c = value; *c; c++)
		if (*c == '@' || *c == '"' || *c == '\\' ||
		    (unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) {
			conf_error(p, "key '%s': '%c' cannot be a delimiter",
			    k->name, *c);
			return false;
		}
	return true;
}

/* dkim_sign DOMAIN SELECTOR KEYFILE: the value is "SELECTOR KEYFILE",
 * the key file absolute and a key dkim_key_load() takes, so a bad key
 * refuses the configuration (workers load it again at start). */
static bool
check_dkim_sign(struct parse_ctx *p, const struct conf_key *k,
    const char *value)
{
	char sel[64], path[4096], extra[2];
	struct buf err = BUF_INIT;
	struct dkim_key *key;

	if (sscanf(value, "%63s %4095s %1s", sel, path, extra) != 2 ||
	    !valid_domain(sel) || path[0] != '/') {
		conf_error(p, "key '%s': use '%s DOMAIN SELECTOR /PATH/KEY'",
		    k->name, k->name);
		return false;
	}
	if ((key = dkim_key_load(path, &err)) == NULL) {
		conf_error(p, "key '%s': %s: %s", k->name, path,
		    buf_cstr(&err));
		buf_free(&err);
		return false;
	}
	dkim_key_free(key);
	buf_free(&err);
	return true;
}

/* dnsbl_zones: ZONE[=ADDR,...][*WEIGHT] words (dnsbl.h). */
static bool
check_dnsbl(struct parse_ctx *p, const struct conf_key *k, const char *value)
{
	struct dnsbl_site *sites;
	struct buf err = BUF_INIT;
	size_t n;
	bool ok = dnsbl_parse_sites(value, &sites, &n, &err) == 0;

	if (!ok)
		conf_error(p, "key '%s': %s", k->name, buf_cstr(&err));
	free(sites);
	buf_free(&err);
	return ok;
}

/* node_name: letters, digits, '.', '-', '_' only, so that it goes into
 * a Prometheus label value and a status line as it is. */
static bool
check_node_name(struct parse_ctx *p, const struct conf_key *k,
    const char *value)
{
	size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");

	if (value[0] == '\0' || value[n] != '\0') {
		conf_error(p, "key '%s': '%s' is not a node name (letters, "
		    "digits, '.', '-', '_')", k->name, value);
		return false;
	}
	return true;
}

/* "syslog|stderr [level]": c->log_target and c->log_level. */
static void
set_log(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	struct dmail_conf *c = p->c;
	char *words[CONF_WORDS_MAX];
	size_t n = split_words(p, k, value, words, CONF_WORDS_MAX);
	int lv = -1;

	if (n == 0)
		return;   /* reported */
	if (n > 2) {
		conf_error(p, "key 'log': use 'log syslog|stderr "
		    "[debug|info|warning|error]'");
		return;
	}
	if (strcmp(words[0], "syslog") != 0 &&
	    strcmp(words[0], "stderr") != 0) {
		conf_error(p, "key 'log': '%s' is not syslog or stderr",
		    words[0]);
		return;
	}
	if (n == 2 && (lv = log_level_parse(words[1])) < 0) {
		conf_error(p, "key 'log': '%s' is not a level (debug, info, "
		    "warning, error)", words[1]);
		return;
	}
	c->log_target = strcmp(words[0], "syslog") == 0 ? LOG_TO_SYSLOG :
	    LOG_TO_STDERR;
	if (lv >= 0)
		c->log_level = (enum log_level)lv;
}

/* Index of value among k->names ("a|b|c"), or -1 after reporting. */
static int
enum_index(struct parse_ctx *p, const struct conf_key *k, const char *value)
{
	const char *opts = k->names;
	size_t vlen = strlen(value);

	for (int idx = 0; *opts != '\0'; idx++) {
		size_t olen = strcspn(opts, "|");

		if (olen == vlen && strncmp(opts, value, olen) == 0)
			return idx;
		opts += olen;
		if (*opts == '|')
			opts++;
	}
	conf_error(p, "key '%s': '%s' is not one of %s", k->name, value,
	    k->names);
	return -1;
}

/* One of k->names, stored as its index (the field is an enum). */
static void
set_enum(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	int idx = enum_index(p, k, value);

	if (idx >= 0)
		*(int *)key_field(p, k) = idx;
}

/* One of k->names, stored as the word itself. */
static void
set_enum_string(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	char **field = key_field(p, k);

	if (enum_index(p, k, value) >= 0) {
		free(*field);
		*field = xstrdup(value);
	}
}

/* Each word a milter address: inet:HOST:PORT or unix:/PATH. */
static void
set_milters(struct parse_ctx *p, const struct conf_key *k, char *value)
{
	char *words[CONF_WORDS_MAX];
	size_t n = split_words(p, k, value, words, CONF_WORDS_MAX);

	for (size_t i = 0; i < n; i++) {
		if (strncmp(words[i], "unix:/", 6) == 0 ||
		    (strncmp(words[i], "inet:", 5) == 0 &&
		    check_hostport(p, k, words[i] + 5)))
			strlist_add(key_field(p, k), words[i]);
		else if (strncmp(words[i], "inet:", 5) != 0)
			conf_error(p, "key '%s': '%s' is not inet:HOST:PORT "
			    "or unix:/PATH", k->name, words[i]);
	}
}

static void
conf_defaults(struct dmail_conf *c)
{
	static const struct pool_conf pool_defaults[POOL_COUNT] = {
		[POOL_SMTP] = { 2, 100, 100, NULL },
		[POOL_POP3] = { 2, 100, 100, NULL },
		[POOL_LIST] = { 1, 10, 100, NULL },
		[POOL_QUEUE] = { 1, 1, 1, NULL },
		[POOL_WEB] = { 1, 4, 1, NULL },
	};

	memcpy(c->pool, pool_defaults, sizeof(c->pool));
	c->log_target = LOG_TO_SYSLOG;
	c->log_level = LOG_LEVEL_INFO;
	c->shutdown_grace = 30;
	c->worker_idle_timeout = 60;
	c->listen_backlog = 4096;
	c->max_message_size = 25ULL * 1024 * 1024;
	c->max_recipients = 1000;
	c->smtp_max_errors = 20;
	c->smtp_command_timeout = 300;
	c->smtp_data_timeout = 600;
	c->smtp_session_timeout = 3600;
	c->smtp_command_time_limit = 60;
	c->smtp_data_time_limit = 1200;
	c->pop3_command_time_limit = 60;
	c->client_connection_limit = 20;
	c->smtp_bare_lf = BARE_LF_REJECT;
	c->max_hops = 50;
	c->pop3_max_failed_logins = 3;
	c->pop3_idle_timeout = 600;
	c->auth_throttle_failures = 5;
	c->auth_throttle_max_delay = 30;
	c->auth_throttle_account_failures = 10;
	c->client_connection_rate_limit = 600;
	c->queue_retry_min = 300;
	c->queue_retry_max = 3600;
	c->queue_lifetime = 5 * 86400;
	c->poison_attempts = 3;
	c->smtp_dest_concurrency = 10;
	c->delivery_workers_max = 20;
	c->smtp_connect_timeout = 30;
	c->null_sender_bounces = NULL_BOUNCE_DROP;
	c->userdb_timeout = 5;
	c->userdb_cache_ttl = 30;
	c->userdb_cache_negative_ttl = 10;
	c->dnsbl_threshold = 1;
	c->milter_default_action = MILTER_DEFAULT_TEMPFAIL;
	c->milter_connect_timeout = 30;
	c->milter_command_timeout = 30;
	c->milter_content_timeout = 300;
	c->web_session_idle = 1800;
	c->web_session_lifetime = 12 * 3600;
	c->web_max_body = 1024 * 1024;
}

/* 127.0.0.0/8 or ::1: where plain HTTP may serve a local proxy. */
static bool
listen_is_loopback(const struct listen_addr *la)
{
	if (la->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&la->ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (la->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&la->ss;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

/* The string keys of the directory backends and their defaults (NULL:
 * none), filled in when the file leaves them out; conf_free frees them. */
static const struct {
	size_t offset;
	const char *def;
} userdb_strings[] = {
	{ OFF(pgsql_conninfo), NULL },
	{ OFF(pgsql_user_query), "SELECT address, password, apop_secret, "
	    "mailbox, quota_bytes, quota_messages, enabled FROM users "
	    "WHERE address = $1" },
	{ OFF(pgsql_list_query), "SELECT address, password, apop_secret, "
	    "mailbox, quota_bytes, quota_messages, enabled FROM users "
	    "ORDER BY address" },
	{ OFF(pgsql_put_query), "INSERT INTO users (address, password, "
	    "apop_secret, mailbox, quota_bytes, quota_messages, enabled) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (address) DO "
	    "UPDATE SET password = $2, apop_secret = $3, mailbox = $4, "
	    "quota_bytes = $5, quota_messages = $6, enabled = $7" },
	{ OFF(pgsql_delete_query), "DELETE FROM users WHERE address = $1" },
	{ OFF(pgsql_domain_query), "SELECT domain FROM domains "
	    "WHERE domain = $1" },
	{ OFF(pgsql_alias_query), "SELECT target FROM aliases "
	    "WHERE address = $1 ORDER BY target" },
	{ OFF(ldap_uri), NULL },
	{ OFF(ldap_tls_ca_file), NULL },
	{ OFF(ldap_bind_dn), NULL },
	{ OFF(ldap_bind_password_file), NULL },
	{ OFF(ldap_base), NULL },
	{ OFF(ldap_user_filter), "(|(mail=%s)(mailAlternateAddress=%s))" },
	{ OFF(ldap_list_filter), "(mail=*)" },
	{ OFF(ldap_domain_filter), "(&(objectClass=domainRelatedObject)"
	    "(associatedDomain=%d))" },
	{ OFF(ldap_alias_filter), "(&(mailForwardingAddress=*)"
	    "(|(mail=%s)(mailAlternateAddress=%s)))" },
	{ OFF(ldap_alias_attribute), "mailForwardingAddress" },
	{ OFF(ldap_address_attribute), "mail" },
	{ OFF(ldap_password_attribute), "userPassword" },
	{ OFF(ldap_quota_bytes_attribute), "mailQuotaBytes" },
	{ OFF(ldap_quota_messages_attribute), "mailQuotaMessages" },
	{ OFF(ldap_mailbox_attribute), "mailMessageStore" },
	{ OFF(ldap_enabled_attribute), "accountStatus" },
};

/* Defaults of the directory keys, and what the chosen backend needs. */
static void
conf_finish_userdb(struct parse_ctx *p)
{
	struct dmail_conf *c = p->c;

	for (size_t i = 0; i < sizeof(userdb_strings) /
	    sizeof(userdb_strings[0]); i++) {
		char **v = (char **)((char *)c + userdb_strings[i].offset);
		if (*v == NULL && userdb_strings[i].def != NULL)
			*v = xstrdup(userdb_strings[i].def);
	}
	if (c->userdb_backend == USERDB_PGSQL) {
#ifndef HAVE_LIBPQ
		conf_error(p, "userdb_backend pgsql: this build has no "
		    "PostgreSQL support (configure found no libpq-dev)");
#endif
		if (c->pgsql_conninfo == NULL)
			conf_error(p, "userdb_backend pgsql needs pgsql_conninfo");
	}
	if (c->userdb_backend == USERDB_LDAP) {
#ifndef HAVE_LIBLDAP
		conf_error(p, "userdb_backend ldap: this build has no LDAP "
		    "support (configure found no libldap-dev)");
#endif
		if (c->ldap_uri == NULL || c->ldap_base == NULL)
			conf_error(p, "userdb_backend ldap needs ldap_uri and "
			    "ldap_base");
	}
}

static void
conf_finish(struct parse_ctx *p)
{
	struct dmail_conf *c = p->c;
	static const char *const programs[POOL_COUNT] = { "dmail-smtpd",
		"dmail-pop3d", "dmail-listd", "dmail-queued", "dmail-webd" };
	struct buf b = BUF_INIT;

	p->line = 0;
	if (c->hostname == NULL) {
		char host[256];
		if (gethostname(host, sizeof(host)) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		c->hostname = xstrdup(host);
	}
	if (c->node_name == NULL)
		c->node_name = xstrdup(c->hostname);
	if (c->state_dir == NULL)
		c->state_dir = xstrdup("/var/lib/dmail");
	if (c->control_socket == NULL) {
		buf_printf(&b, "%s/run/control", c->state_dir);
		c->control_socket = buf_steal(&b);
	}
	if (c->status_socket == NULL) {
		buf_printf(&b, "%s/run/status", c->state_dir);
		c->status_socket = buf_steal(&b);
	}
	if (c->password_scheme == NULL)
		c->password_scheme = xstrdup("yescrypt");
	conf_finish_userdb(p);
	for (int i = 0; i < POOL_COUNT; i++) {
		struct pool_conf *pc = &c->pool[i];
		if (pc->program == NULL) {
			buf_printf(&b, "%s/%s", DMAIL_LIBEXECDIR, programs[i]);
			pc->program = buf_steal(&b);
		}
		if (pc->workers_min > pc->workers_max)
			conf_error(p, "%s_workers_min (%u) is larger than "
			    "%s_workers_max (%u)", pool_names[i],
			    pc->workers_min, pool_names[i], pc->workers_max);
	}
	if (c->queue_retry_min > c->queue_retry_max)
		conf_error(p, "queue_retry_min is larger than queue_retry_max");
	if (c->admin_address != NULL) {
		struct mailbox mb;
		buf_printf(&b, "<%s>", c->admin_address);
		if (addr_parse_path(b.data, 0, &mb, NULL) != ADDR_OK ||
		    mb.domain[0] == '\0')
			conf_error(p, "admin_address '%s' is not an address "
			    "(user@domain)", c->admin_address);
		buf_free(&b);
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		conf_error(p, "tls_cert and tls_key must be given together");
	for (size_t i = 0; i < c->listen_count; i++) {
		enum listen_role r = c->listen[i].role;
		if ((r == ROLE_SMTPS || r == ROLE_POP3S) && c->tls_cert == NULL)
			conf_error(p, "%s_listen needs tls_cert and tls_key",
			    role_names[r]);
		if (r == ROLE_WEB && c->tls_cert == NULL &&
		    !listen_is_loopback(&c->listen[i]))
			conf_error(p, "web_listen %s: plain HTTP only on a "
			    "loopback address; set tls_cert and tls_key for "
			    "HTTPS", c->listen[i].text);
	}
}

int
conf_load_text(const char *name, const char *text, size_t len,
    struct dmail_conf *out, struct buf *err)
{
	struct dmail_conf *c = xcalloc(1, sizeof(*c));
	struct parse_ctx p;
	const char *pos = text, *end = text + len;
	char resolved[PATH_MAX];

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.err = err;
	p.c = c;

	c->path = xstrdup(name);
	{
		const char *slash = strrchr(name, '/');
		char *dir = slash ? xstrndup(name, (size_t)(slash - name + (slash == name)))
		                  : xstrdup(".");
		if (realpath(dir, resolved) != NULL) {
			c->dir = xstrdup(resolved);
			free(dir);
		} else {
			c->dir = dir;
		}
	}
	c->text = xstrndup(text, len);
	c->text_len = len;
	conf_defaults(c);

	while (pos < end) {
		const char *nl = memchr(pos, '\n', (size_t)(end - pos));
		size_t llen = nl ? (size_t)(nl - pos) : (size_t)(end - pos);
		char *line, *s, *key, *value;
		size_t i;

		p.line++;
		if (memchr(pos, '\0', llen) != NULL) {
			conf_error(&p, "NUL byte in line");
			pos += llen + (nl ? 1 : 0);
			continue;
		}
		line = xstrndup(pos, llen);
		pos += llen + (nl ? 1 : 0);

		/* Trim trailing blanks and CR, leading blanks. */
		s = line + strlen(line);
		while (s > line && (s[-1] == ' ' || s[-1] == '\t' ||
		    s[-1] == '\r'))
			*--s = '\0';
		s = line + strspn(line, " \t");
		if (*s == '\0' || *s == '#') {
			free(line);
			continue;
		}
		key = s;
		s += strcspn(s, " \t");
		if (*s != '\0')
			*s++ = '\0';
		value = s + strspn(s, " \t");

		for (i = 0; i < NKEYS; i++)
			if (strcmp(conf_keys[i].name, key) == 0)
				break;
		if (i == NKEYS) {
			conf_error(&p, "unknown key '%s'", key);
		} else if (*value == '\0') {
			conf_error(&p, "key '%s' needs a value", key);
		} else if (p.seen[i] && !conf_keys[i].type->repeatable) {
			conf_error(&p, "key '%s' given twice", key);
		} else {
			p.seen[i] = 1;
			conf_keys[i].type->set(&p, &conf_keys[i], value);
		}
		free(line);
	}
	conf_finish(&p);

	if (p.errors > 0) {
		conf_free(c);
		free(c);
		return -1;
	}
	*out = *c;
	free(c);
	return 0;
}

int
conf_load_file(const char *path, struct dmail_conf *out, struct buf *err)
{
	struct buf text = BUF_INIT;
	int rc;

	if (read_file(path, &text, CONF_FILE_MAX) < 0) {
		buf_printf(err, "%s: cannot read: %s\n", path, strerror(errno));
		buf_free(&text);
		return -1;
	}
	rc = conf_load_text(path, text.data ? text.data : "", text.len, out,
	    err);
	buf_free(&text);
	return rc;
}

void
conf_free(struct dmail_conf *c)
{
	free(c->path);
	free(c->dir);
	free(c->text);
	free(c->hostname);
	free(c->node_name);
	strlist_free(&c->local_domains);
	free(c->state_dir);
	free(c->run_as);
	free(c->control_socket);
	free(c->status_socket);
	for (size_t i = 0; i < c->listen_count; i++)
		free(c->listen[i].text);
	free(c->listen);
	for (int i = 0; i < POOL_COUNT; i++)
		free(c->pool[i].program);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->relay_networks);
	free(c->admin_address);
	free(c->recipient_delimiter);
	free(c->client_limit_exempt);
	pairlist_free(&c->aliases);
	pairlist_free(&c->forwards);
	free(c->aliases_file);
	free(c->password_scheme);
	for (size_t i = 0; i < sizeof(userdb_strings) /
	    sizeof(userdb_strings[0]); i++)
		free(*(char **)((char *)c + userdb_strings[i].offset));
	pairlist_free(&c->transports);
	pairlist_free(&c->dkim_sign);
	free(c->public_suffix_list);
	free(c->dnsbl_zones);
	free(c->relayhost);
	free(c->relayhost_auth);
	strlist_free(&c->tls_required);
	strlist_free(&c->relay_domains);
	strlist_free(&c->web_admins);
	free(c->resolv_conf);
	free(c->lists_file);
	free(c->list_web_url);
	strlist_free(&c->smtpd_milters);
	strlist_free(&c->submission_milters);
	memset(c, 0, sizeof(*c));
}

bool
conf_is_local_domain(const struct dmail_conf *c, const char *domain)
{
	return strlist_contains_ci(&c->local_domains, domain);
}

void
conf_state_path(const struct dmail_conf *c, const char *sub, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s/%s", c->state_dir, sub);
}
