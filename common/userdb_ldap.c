/*
 * userdb_ldap.c - accounts in an LDAP directory (userdb_backend ldap),
 * through OpenLDAP's libldap: the backend table userdb_ldap_backend
 * (userdb_dir.h). Exports userdb_ldap_filter for the unit tests.
 *
 * Connection: ldap_uri holds one or more URIs separated by spaces
 * (ldap://, ldaps://, ldapi://); libldap tries them in order and uses the
 * first that answers, so the list is the failover order. ldap_starttls
 * asks for StartTLS on ldap:// (refused: the lookup fails, no clear-text
 * fallback); ldap_tls_ca_file names the CA certificates. With
 * ldap_bind_dn the connection binds simply with the password in the
 * first line of ldap_bind_password_file, read at each connect (so it can
 * change without a reload); without it, anonymously. One connection per
 * process, made at the first lookup, dropped after any error. Connect,
 * bind and search are bounded by userdb_timeout (LDAP_OPT_NETWORK_TIMEOUT,
 * LDAP_OPT_TIMEOUT and the search's own time limit).
 *
 * Lookup: ldap_user_filter with %s replaced by the address, %u by its
 * local part and %d by its domain, each escaped as RFC 4515 says ('*',
 * '(', ')', '\' and NUL become \2a \28 \29 \5c \00), searched under
 * ldap_base (subtree), at most two entries asked for: none is "no such
 * account", two is an error (ambiguous, -1). Attributes (names are
 * configuration): ldap_address_attribute (the account's own address:
 * its Maildir follows it, whichever address matched), ldap_password_attribute
 * ("{CRYPT}" + a crypt(3) hash; a value in any other scheme cannot log
 * in), ldap_quota_bytes_attribute, ldap_quota_messages_attribute,
 * ldap_mailbox_attribute (absolute Maildir path; absent: the default
 * under state_dir/mail) and ldap_enabled_attribute (FALSE, disabled,
 * inactive, ... disable the account; absent: enabled).
 *
 * Local domains: ldap_domain_filter with %s and %d replaced by the
 * domain (escaped the same way); any entry that matches makes the domain
 * local (no attribute is read). Aliases and forwards: ldap_alias_filter
 * (%s, %u, %d of the address, as above) selects at most
 * LDAP_ALIAS_ENTRIES entries; the values of ldap_alias_attribute of all
 * of them are the targets, in the order the server gives them. Defaults
 * (conf.c, dmail.conf(5)): associatedDomain of a domainRelatedObject
 * (cosine), and mailForwardingAddress of an entry whose mail or
 * mailAlternateAddress is the address (contrib/ldap/dmail.schema).
 *
 * dmail-user list and show read through ldap_list_filter; add, del,
 * passwd and the other changes are refused: the directory belongs to
 * the tools that already write it (ldapmodify, the provisioning system),
 * and DMail does not know where new entries go in its tree.
 *
 * Nothing here is fatal: errors are logged once (event=userdb-failed
 * backend=ldap) and return -1.
 */
#include "config.h"

#ifdef HAVE_LIBLDAP

#define LDAP_DEPRECATED 0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ldap.h>

#include "log.h"
#include "userdb_dir.h"
#include "util.h"

#define LDAP_FILTER_MAX 2048
#define LDAP_ALIAS_ENTRIES 64     /* entries one alias may gather */

struct ld {
	const struct dmail_conf *conf;
	LDAP *l;            /* NULL: not connected */
};

/* RFC 4515 escape of value appended to out. */
static void
ldap_escape(struct buf *out, const char *value)
{
	for (const char *v = value; *v != '\0'; v++) {
		if (*v == '*' || *v == '(' || *v == ')' || *v == '\\')
			buf_printf(out, "\\%02x", (unsigned char)*v);
		else
			buf_append(out, v, 1);
	}
}

/* Fill filter template tmpl into out: %s full, %u local, %d domain
 * (each escaped), %% a percent sign. 0, or -1 for an unknown %x. */
static int
ld_fill(const char *tmpl, const char *full, const char *local,
    const char *domain, struct buf *out)
{
	buf_reset(out);
	for (const char *t = tmpl; *t != '\0'; t++) {
		if (*t != '%') {
			buf_append(out, t, 1);
			continue;
		}
		switch (*++t) {
		case 's': ldap_escape(out, full); break;
		case 'u': ldap_escape(out, local); break;
		case 'd': ldap_escape(out, domain); break;
		case '%': buf_append(out, "%", 1); break;
		default: return -1;
		}
	}
	return 0;
}

/* Fill filter template tmpl for address into out: %s address, %u local
 * part, %d domain, %% a percent sign. 0, or -1 for an unknown %x. */
int userdb_ldap_filter(const char *tmpl, const char *address,
    struct buf *out);

int
userdb_ldap_filter(const char *tmpl, const char *address, struct buf *out)
{
	const char *at = strrchr(address, '@');
	char local[USERDB_ADDRESS_MAX + 1];

	snprintf(local, sizeof(local), "%.*s",
	    (int)(at != NULL ? (size_t)(at - address) : strlen(address)),
	    address);
	return ld_fill(tmpl, address, local, at != NULL ? at + 1 : "", out);
}

static void *
ld_open(const struct dmail_conf *conf, struct buf *err)
{
	struct ld *d;

	(void)err;
	d = xcalloc(1, sizeof(*d));
	d->conf = conf;
	return d;
}

static void
ld_drop(struct ld *d)
{
	if (d->l != NULL)
		ldap_unbind_ext_s(d->l, NULL, NULL);
	d->l = NULL;
}

static void
ld_close(void *h)
{
	ld_drop(h);
	free(h);
}

/* Log the failure of stage (libldap code rc) once, drop the connection;
 * -1. */
static int
ld_fail(struct ld *d, const char *stage, int rc, const char *key)
{
	log_error("event=userdb-failed backend=ldap stage=%s key=%s "
	    "error=\"%s\"", stage, key != NULL ? key : "-",
	    ldap_err2string(rc));
	ld_drop(d);
	return -1;
}

/* The bind password: the first line of ldap_bind_password_file. */
static int
ld_password(const struct dmail_conf *conf, struct buf *pw)
{
	char *nl;

	if (read_file(conf->ldap_bind_password_file, pw, 4096) < 0) {
		log_error("event=userdb-failed backend=ldap path=%s "
		    "error=\"%s\"", conf->ldap_bind_password_file,
		    strerror(errno));
		return -1;
	}
	if ((nl = memchr(pw->data, '\n', pw->len)) != NULL)
		buf_truncate(pw, (size_t)(nl - pw->data));
	return 0;
}

/* Options of a new handle: version 3, no referrals, the time limits,
 * the CA file. */
static int
ld_options(struct ld *d)
{
	struct timeval tv = { .tv_sec = d->conf->userdb_timeout };
	int v3 = LDAP_VERSION3, rc, zero = 0;

	if ((rc = ldap_set_option(d->l, LDAP_OPT_PROTOCOL_VERSION, &v3)) !=
	    LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(d->l, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) !=
	    LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(d->l, LDAP_OPT_NETWORK_TIMEOUT, &tv)) !=
	    LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(d->l, LDAP_OPT_TIMEOUT, &tv)) !=
	    LDAP_OPT_SUCCESS)
		return ld_fail(d, "options", rc, NULL);
	if (d->conf->ldap_tls_ca_file != NULL &&
	    ((rc = ldap_set_option(d->l, LDAP_OPT_X_TLS_CACERTFILE,
	    d->conf->ldap_tls_ca_file)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(d->l, LDAP_OPT_X_TLS_NEWCTX, &zero)) !=
	    LDAP_OPT_SUCCESS))
		return ld_fail(d, "tls-options", rc, NULL);
	return 0;
}

/* Connect and bind if not connected; 0 or -1 (logged). */
static int
ld_connect(struct ld *d)
{
	struct berval cred = { 0, NULL };
	struct buf pw = BUF_INIT;
	int rc;

	if (d->l != NULL)
		return 0;
	if ((rc = ldap_initialize(&d->l, d->conf->ldap_uri)) != LDAP_SUCCESS) {
		d->l = NULL;
		return ld_fail(d, "initialize", rc, NULL);
	}
	if (ld_options(d) < 0)
		return -1;
	if (d->conf->ldap_starttls &&
	    (rc = ldap_start_tls_s(d->l, NULL, NULL)) != LDAP_SUCCESS)
		return ld_fail(d, "starttls", rc, NULL);
	if (d->conf->ldap_bind_dn != NULL) {
		if (d->conf->ldap_bind_password_file != NULL &&
		    ld_password(d->conf, &pw) < 0) {
			ld_drop(d);
			return -1;
		}
		cred.bv_val = pw.data;
		cred.bv_len = pw.len;
	}
	rc = ldap_sasl_bind_s(d->l, d->conf->ldap_bind_dn, LDAP_SASL_SIMPLE,
	    &cred, NULL, NULL, NULL);
	if (pw.data != NULL)
		explicit_bzero(pw.data, pw.len);
	buf_free(&pw);
	if (rc != LDAP_SUCCESS)
		return ld_fail(d, "bind", rc, NULL);
	return 0;
}

/* The first value of attribute name in entry e into out ("" when
 * absent); -1 when it does not fit. */
static int
ld_value(LDAP *l, LDAPMessage *e, const char *name, char *out, size_t outlen)
{
	struct berval **v = ldap_get_values_len(l, e, name);
	int r = 0;

	out[0] = '\0';
	if (v == NULL || v[0] == NULL) {
		ldap_value_free_len(v);
		return 0;
	}
	if (v[0]->bv_len >= outlen || memchr(v[0]->bv_val, 0,
	    v[0]->bv_len) != NULL)
		r = -1;
	else {
		memcpy(out, v[0]->bv_val, v[0]->bv_len);
		out[v[0]->bv_len] = '\0';
	}
	ldap_value_free_len(v);
	return r;
}

/* The password attribute: "{CRYPT}hash" -> hash; any other scheme
 * locks the login ("*"). */
static void
ld_crypt(char *hash, size_t len)
{
	if (hash[0] != '{')
		return;
	if (strncasecmp(hash, "{CRYPT}", 7) == 0)
		memmove(hash, hash + 7, strlen(hash + 7) + 1);
	else
		snprintf(hash, len, "*");
}

/* Entry e into rec; 0 or -1 (a value too long or not a number). */
static int
ld_entry(struct ld *d, LDAPMessage *e, struct user_record *rec)
{
	const struct dmail_conf *c = d->conf;
	char qb[32], qm[32], en[32];

	memset(rec, 0, sizeof(*rec));
	if (ld_value(d->l, e, c->ldap_address_attribute, rec->address,
	    sizeof(rec->address)) < 0 ||
	    ld_value(d->l, e, c->ldap_password_attribute, rec->hash,
	    sizeof(rec->hash)) < 0 ||
	    ld_value(d->l, e, c->ldap_mailbox_attribute, rec->mailbox,
	    sizeof(rec->mailbox)) < 0 ||
	    ld_value(d->l, e, c->ldap_quota_bytes_attribute, qb,
	    sizeof(qb)) < 0 ||
	    ld_value(d->l, e, c->ldap_quota_messages_attribute, qm,
	    sizeof(qm)) < 0 ||
	    ld_value(d->l, e, c->ldap_enabled_attribute, en, sizeof(en)) < 0 ||
	    userdb_parse_count(qb, &rec->quota_bytes) < 0 ||
	    userdb_parse_count(qm, &rec->quota_messages) < 0)
		return -1;
	ld_crypt(rec->hash, sizeof(rec->hash));
	rec->enabled = en[0] == '\0' || userdb_parse_enabled(en);
	if (rec->mailbox[0] != '\0' && rec->mailbox[0] != '/')
		return -1;
	return 0;
}

/* Search ldap_base for filter (attributes attrs; at most limit
 * entries, 0: no limit); *res for the caller to free. 0, 1 when the
 * server stopped at limit (*res holds what it sent), or -1 (logged). */
static int
ld_search(struct ld *d, const char *filter, char **attrs, int limit,
    const char *key, LDAPMessage **res)
{
	struct timeval tv = { .tv_sec = d->conf->userdb_timeout };
	int rc;

	*res = NULL;
	if (ld_connect(d) < 0)
		return -1;
	rc = ldap_search_ext_s(d->l, d->conf->ldap_base, LDAP_SCOPE_SUBTREE,
	    filter, attrs, 0, NULL, NULL, &tv, limit, res);
	if (rc == LDAP_SUCCESS)
		return 0;
	if (rc == LDAP_SIZELIMIT_EXCEEDED)
		return 1;
	ldap_msgfree(*res);
	*res = NULL;
	return ld_fail(d, "search", rc, key);
}

/* ld_search for account entries (the account attributes). */
static int
ld_search_accounts(struct ld *d, const char *filter, int limit,
    const char *key, LDAPMessage **res)
{
	const struct dmail_conf *c = d->conf;
	char *attrs[] = { c->ldap_address_attribute,
		c->ldap_password_attribute, c->ldap_mailbox_attribute,
		c->ldap_quota_bytes_attribute,
		c->ldap_quota_messages_attribute, c->ldap_enabled_attribute,
		NULL };
	int r = ld_search(d, filter, attrs, limit, key, res);

	if (r == 1) {
		ldap_msgfree(*res);
		*res = NULL;
		log_error("event=userdb-failed backend=ldap key=%s "
		    "reason=\"ldap_user_filter matches several entries\"",
		    key != NULL ? key : "-");
		return -1;
	}
	return r;
}

/* Log a filter template that cannot be filled (unknown %x, too long);
 * -1. */
static int
ld_bad_filter(const char *name, const char *key)
{
	log_error("event=userdb-failed backend=ldap key=%s reason=\"%s: "
	    "unknown %% sequence, or too long\"", key, name);
	return -1;
}

static int
ld_lookup(void *h, const char *key, struct user_record *out)
{
	struct ld *d = h;
	struct buf filter = BUF_INIT;
	LDAPMessage *res, *e;
	int r;

	if (userdb_ldap_filter(d->conf->ldap_user_filter, key, &filter) < 0 ||
	    filter.len > LDAP_FILTER_MAX) {
		buf_free(&filter);
		return ld_bad_filter("ldap_user_filter", key);
	}
	r = ld_search_accounts(d, filter.data, 2, key, &res);
	buf_free(&filter);
	if (r < 0)
		return -1;
	if ((e = ldap_first_entry(d->l, res)) == NULL)
		r = 0;
	else if (ldap_next_entry(d->l, e) != NULL) {
		log_error("event=userdb-failed backend=ldap key=%s "
		    "reason=\"ldap_user_filter matches several entries\"", key);
		r = -1;
	} else if (ld_entry(d, e, out) < 0) {
		log_error("event=userdb-damaged backend=ldap key=%s "
		    "reason=\"an attribute is too long or not a number\"", key);
		r = -1;
	} else
		r = 1;
	ldap_msgfree(res);
	return r;
}

static int
ld_foreach(void *h, userdb_each_fn *fn, void *arg)
{
	struct ld *d = h;
	struct user_record *rec;
	LDAPMessage *res, *e;
	int stop = 0;

	if (ld_search_accounts(d, d->conf->ldap_list_filter, 0, NULL,
	    &res) < 0)
		return -1;
	rec = xmalloc(sizeof(*rec));
	for (e = ldap_first_entry(d->l, res); e != NULL && stop == 0;
	    e = ldap_next_entry(d->l, e)) {
		if (ld_entry(d, e, rec) < 0 || rec->address[0] == '\0') {
			log_error("event=userdb-damaged backend=ldap "
			    "reason=\"entry skipped: no address, or a bad "
			    "attribute\"");
			continue;
		}
		str_lower(rec->address);
		stop = fn(rec, arg);
	}
	free(rec);
	ldap_msgfree(res);
	return 0;
}

static int
ld_domain(void *h, const char *domain)
{
	struct ld *d = h;
	struct buf filter = BUF_INIT;
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res;
	int r;

	if (userdb_query_off(d->conf->ldap_domain_filter))
		return 0;
	if (ld_fill(d->conf->ldap_domain_filter, domain, "", domain,
	    &filter) < 0 || filter.len > LDAP_FILTER_MAX) {
		buf_free(&filter);
		return ld_bad_filter("ldap_domain_filter", domain);
	}
	r = ld_search(d, filter.data, attrs, 1, domain, &res);
	buf_free(&filter);
	if (r < 0)
		return -1;
	/* Stopped at the limit: at least one entry. */
	r = r == 1 || ldap_first_entry(d->l, res) != NULL ? 1 : 0;
	ldap_msgfree(res);
	return r;
}

/* The values of the alias attribute of entry e appended to out
 * ("a, b"); -1 for a value that cannot be an address (NUL, comma, line
 * end, too long). */
static int
ld_targets(struct ld *d, LDAPMessage *e, struct buf *out)
{
	struct berval **v = ldap_get_values_len(d->l, e,
	    d->conf->ldap_alias_attribute);
	int r = 0;

	for (size_t i = 0; v != NULL && v[i] != NULL && r == 0; i++) {
		if (v[i]->bv_len == 0 || v[i]->bv_len > USERDB_ADDRESS_MAX)
			r = -1;
		for (size_t j = 0; j < v[i]->bv_len && r == 0; j++)
			if (strchr(",\r\n", v[i]->bv_val[j]) != NULL)
				r = -1;   /* strchr also finds the NUL */
		if (r < 0)
			break;
		if (out->len > 0)
			buf_append_str(out, ", ");
		buf_append(out, v[i]->bv_val, v[i]->bv_len);
	}
	ldap_value_free_len(v);
	return r;
}

static int
ld_alias(void *h, const char *key, struct buf *out)
{
	struct ld *d = h;
	struct buf filter = BUF_INIT;
	char *attrs[] = { d->conf->ldap_alias_attribute, NULL };
	LDAPMessage *res, *e;
	int r;

	if (userdb_query_off(d->conf->ldap_alias_filter))
		return 0;
	if (userdb_ldap_filter(d->conf->ldap_alias_filter, key, &filter) < 0 ||
	    filter.len > LDAP_FILTER_MAX) {
		buf_free(&filter);
		return ld_bad_filter("ldap_alias_filter", key);
	}
	r = ld_search(d, filter.data, attrs, LDAP_ALIAS_ENTRIES, key, &res);
	buf_free(&filter);
	if (r != 0) {
		ldap_msgfree(res);
		if (r == 1)
			log_error("event=userdb-failed backend=ldap key=%s "
			    "limit=%d reason=\"ldap_alias_filter matches too "
			    "many entries\"", key, LDAP_ALIAS_ENTRIES);
		return -1;
	}
	for (e = ldap_first_entry(d->l, res); e != NULL && r == 0;
	    e = ldap_next_entry(d->l, e))
		r = ld_targets(d, e, out);
	ldap_msgfree(res);
	if (r < 0) {
		log_error("event=userdb-damaged backend=ldap key=%s "
		    "reason=\"an alias target is empty, too long or holds a "
		    "comma\"", key);
		return -1;
	}
	return out->len > 0 ? 1 : 0;
}

static int
ld_readonly(struct buf *err)
{
	buf_printf(err, "the LDAP account backend is read-only: change "
	    "accounts with the directory's own tools (ldapmodify)");
	return -1;
}

static int
ld_put(void *h, const struct user_record *rec, struct buf *err)
{
	(void)h;
	(void)rec;
	return ld_readonly(err);
}

static int
ld_del(void *h, const char *key, struct buf *err)
{
	(void)h;
	(void)key;
	return ld_readonly(err);
}

const struct userdb_backend userdb_ldap_backend = {
	.name = "ldap",
	.open = ld_open,
	.close = ld_close,
	.lookup = ld_lookup,
	.put = ld_put,
	.del = ld_del,
	.foreach = ld_foreach,
	.domain = ld_domain,
	.alias = ld_alias,
};

#endif /* HAVE_LIBLDAP */
