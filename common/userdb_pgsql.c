/*
 * userdb_pgsql.c - accounts in PostgreSQL (userdb_backend pgsql), through
 * libpq: the backend table userdb_pgsql_backend (userdb_dir.h).
 *
 * Connection: pgsql_conninfo, any libpq connection string or URI. One
 * connection per process, made at the first operation with
 * PQconnectStart/PQconnectPoll and dropped after any error; every wait
 * (connect, send, result) is a poll() bounded by userdb_timeout, so a
 * server that hangs costs a lookup at most that long. A query that
 * times out drops the connection (the server cancels it when the
 * client goes away).
 *
 * Queries are configuration (pgsql_user_query, pgsql_list_query,
 * pgsql_put_query, pgsql_delete_query; defaults in common/conf.c and
 * dmail.conf(5), matching contrib/pgsql/schema.sql). Values are passed
 * as parameters ($1, $2, ...) bound by libpq (PQsendQueryParams), never
 * pasted into the SQL text. Rows are read by column name: address,
 * password, apop_secret, mailbox, quota_bytes, quota_messages, enabled;
 * a column the query leaves out takes its default ("" / 0 / enabled).
 * More than one row for one address is an error (-1), not a guess.
 *
 * Local domains: pgsql_domain_query with $1 = the lower-case domain; any
 * row makes it local. Aliases and forwards: pgsql_alias_query with $1 =
 * the address (or "@domain" for the catch-all); every row is one target,
 * read from the column "target" (NULL and empty values are skipped), at
 * most ALIAS_TARGETS_MAX of them. Defaults read the tables domains and
 * aliases of contrib/pgsql/schema.sql.
 *
 * Nothing here is fatal: errors are logged once (event=userdb-failed
 * backend=pgsql) or reported in err, and return -1.
 */
#include "config.h"

#ifdef HAVE_LIBPQ

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "aliases.h"
#include "log.h"
#include "userdb_dir.h"
#include "util.h"

struct pg {
	const struct dmail_conf *conf;
	PGconn *c;          /* NULL: not connected */
	bool in_tx;         /* between begin and commit/abort */
	bool tx_lost;       /* the connection of that transaction dropped:
	                     * every change fails until commit/abort */
};

static void *
pg_open(const struct dmail_conf *conf, struct buf *err)
{
	struct pg *p;

	(void)err;
	p = xcalloc(1, sizeof(*p));
	p->conf = conf;
	return p;
}

static void
pg_drop(struct pg *p)
{
	if (p->c != NULL)
		PQfinish(p->c);
	p->c = NULL;
	if (p->in_tx)
		p->tx_lost = true;
	p->in_tx = false;
}

static void
pg_close(void *h)
{
	pg_drop(h);
	free(h);
}

/* Log err's text once and drop the connection; -1. */
static int
pg_fail(struct pg *p, const char *what, const char *text, struct buf *err)
{
	char msg[256];
	size_t n;

	snprintf(msg, sizeof(msg), "%s", text != NULL ? text : "");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	for (char *q = msg; *q != '\0'; q++)
		if (*q == '"' || *q == '\n')
			*q = '\'';
	if (err != NULL)
		buf_printf(err, "PostgreSQL %s: %s", what, msg);
	else
		log_error("event=userdb-failed backend=pgsql stage=%s "
		    "error=\"%s\"", what, msg);
	pg_drop(p);
	return -1;
}

/* Connect if not connected; 0 or -1 (logged / err). */
static int
pg_connect(struct pg *p, int64_t deadline, struct buf *err)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (p->c != NULL && PQstatus(p->c) == CONNECTION_OK)
		return 0;
	pg_drop(p);
	p->c = PQconnectStart(p->conf->pgsql_conninfo);
	if (p->c == NULL)
		return pg_fail(p, "connect", "out of memory", err);
	if (PQstatus(p->c) == CONNECTION_BAD)
		return pg_fail(p, "connect", PQerrorMessage(p->c), err);
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			return pg_fail(p, "connect", PQerrorMessage(p->c), err);
		if (userdb_wait_fd(PQsocket(p->c), st == PGRES_POLLING_READING ?
		    POLLIN : POLLOUT, deadline) < 0)
			return pg_fail(p, "connect", strerror(errno), err);
		st = PQconnectPoll(p->c);
	}
	if (PQsetnonblocking(p->c, 1) != 0)
		return pg_fail(p, "connect", PQerrorMessage(p->c), err);
	return 0;
}

/* Wait for the whole answer of the query sent; the last result, NULL
 * after an error (logged / err, connection dropped). */
static PGresult *
pg_collect(struct pg *p, int64_t deadline, struct buf *err)
{
	PGresult *res, *last = NULL;
	int f;

	while ((f = PQflush(p->c)) == 1)
		if (userdb_wait_fd(PQsocket(p->c), POLLOUT | POLLIN,
		    deadline) < 0 || PQconsumeInput(p->c) == 0)
			break;
	if (f != 0) {
		pg_fail(p, "send", f < 0 ? PQerrorMessage(p->c) :
		    strerror(errno), err);
		return NULL;
	}
	for (;;) {
		while (PQisBusy(p->c)) {
			if (userdb_wait_fd(PQsocket(p->c), POLLIN,
			    deadline) < 0) {
				PQclear(last);
				pg_fail(p, "query", strerror(errno), err);
				return NULL;
			}
			if (PQconsumeInput(p->c) == 0) {
				PQclear(last);
				pg_fail(p, "query", PQerrorMessage(p->c), err);
				return NULL;
			}
		}
		if ((res = PQgetResult(p->c)) == NULL)
			return last;
		PQclear(last);
		last = res;
	}
}

/* Run query with n text parameters; the result (tuples or command
 * done), or NULL (logged / err; connection dropped). */
static PGresult *
pg_exec(struct pg *p, const char *query, int n, const char *const *params,
    struct buf *err)
{
	int64_t deadline = now_ms() + (int64_t)p->conf->userdb_timeout * 1000;
	ExecStatusType st;
	PGresult *res;

	if (p->tx_lost) {
		if (err != NULL)
			buf_printf(err, "PostgreSQL: the transaction was lost "
			    "with its connection");
		return NULL;
	}
	if (pg_connect(p, deadline, err) < 0)
		return NULL;
	if (PQsendQueryParams(p->c, query, n, NULL, params, NULL, NULL,
	    0) == 0) {
		pg_fail(p, "send", PQerrorMessage(p->c), err);
		return NULL;
	}
	if ((res = pg_collect(p, deadline, err)) == NULL)
		return NULL;
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		pg_fail(p, "query", PQresultErrorMessage(res), err);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Column col of row, or NULL when the query has no such column or the
 * value is SQL NULL. */
static const char *
pg_field(const PGresult *res, int row, const char *col)
{
	int i = PQfnumber(res, col);

	if (i < 0 || PQgetisnull(res, row, i))
		return NULL;
	return PQgetvalue(res, row, i);
}

/* Copy column col into out ("" when absent); -1 if it does not fit. */
static int
pg_copy(const PGresult *res, int row, const char *col, char *out,
    size_t outlen)
{
	const char *v = pg_field(res, row, col);

	if (v == NULL)
		v = "";
	if (strlen(v) >= outlen)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* Row row of res into rec; 0 or -1 (a field that does not fit). */
static int
pg_row(const PGresult *res, int row, struct user_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (pg_copy(res, row, "address", rec->address,
	    sizeof(rec->address)) < 0 ||
	    pg_copy(res, row, "password", rec->hash, sizeof(rec->hash)) < 0 ||
	    pg_copy(res, row, "apop_secret", rec->apop_secret,
	    sizeof(rec->apop_secret)) < 0 ||
	    pg_copy(res, row, "mailbox", rec->mailbox,
	    sizeof(rec->mailbox)) < 0 ||
	    userdb_parse_count(pg_field(res, row, "quota_bytes"),
	    &rec->quota_bytes) < 0 ||
	    userdb_parse_count(pg_field(res, row, "quota_messages"),
	    &rec->quota_messages) < 0)
		return -1;
	rec->enabled = userdb_parse_enabled(pg_field(res, row, "enabled"));
	return 0;
}

static int
pg_lookup(void *h, const char *key, struct user_record *out)
{
	struct pg *p = h;
	const char *params[1] = { key };
	PGresult *res;
	int rows, r = 1;

	if ((res = pg_exec(p, p->conf->pgsql_user_query, 1, params,
	    NULL)) == NULL)
		return -1;
	rows = PQntuples(res);
	if (rows == 0)
		r = 0;
	else if (rows > 1) {
		log_error("event=userdb-failed backend=pgsql key=%s count=%d "
		    "reason=\"pgsql_user_query gave several rows\"", key, rows);
		r = -1;
	} else if (pg_row(res, 0, out) < 0) {
		log_error("event=userdb-damaged backend=pgsql key=%s "
		    "reason=\"a field is too long or not a number\"", key);
		r = -1;
	}
	PQclear(res);
	return r;
}

static int
pg_put(void *h, const struct user_record *rec, struct buf *err)
{
	struct pg *p = h;
	char qb[24], qm[24];
	const char *params[7] = { rec->address, rec->hash, rec->apop_secret,
		rec->mailbox, qb, qm, rec->enabled ? "true" : "false" };
	PGresult *res;

	snprintf(qb, sizeof(qb), "%llu", (unsigned long long)rec->quota_bytes);
	snprintf(qm, sizeof(qm), "%llu",
	    (unsigned long long)rec->quota_messages);
	if ((res = pg_exec(p, p->conf->pgsql_put_query, 7, params, err)) ==
	    NULL)
		return -1;
	PQclear(res);
	return 0;
}

static int
pg_del(void *h, const char *key, struct buf *err)
{
	struct pg *p = h;
	const char *params[1] = { key };
	PGresult *res;
	int r;

	if ((res = pg_exec(p, p->conf->pgsql_delete_query, 1, params,
	    err)) == NULL)
		return -1;
	r = atoi(PQcmdTuples(res)) > 0 ? 1 : 0;
	PQclear(res);
	return r;
}

static int
pg_foreach(void *h, userdb_each_fn *fn, void *arg)
{
	struct pg *p = h;
	struct user_record *rec;
	PGresult *res;
	int r = 0;

	if ((res = pg_exec(p, p->conf->pgsql_list_query, 0, NULL, NULL)) ==
	    NULL)
		return -1;
	rec = xmalloc(sizeof(*rec));
	for (int i = 0; i < PQntuples(res) && r == 0; i++) {
		if (pg_row(res, i, rec) < 0 || rec->address[0] == '\0') {
			log_error("event=userdb-damaged backend=pgsql "
			    "reason=\"row %d skipped: no address, or a field "
			    "too long\"", i);
			continue;
		}
		str_lower(rec->address);
		r = fn(rec, arg);
	}
	free(rec);
	PQclear(res);
	return 0;
}

static int
pg_domain(void *h, const char *domain)
{
	struct pg *p = h;
	const char *params[1] = { domain };
	PGresult *res;
	int r;

	if (userdb_query_off(p->conf->pgsql_domain_query))
		return 0;
	if ((res = pg_exec(p, p->conf->pgsql_domain_query, 1, params,
	    NULL)) == NULL)
		return -1;
	r = PQntuples(res) > 0 ? 1 : 0;
	PQclear(res);
	return r;
}

static int
pg_alias(void *h, const char *key, struct buf *out)
{
	struct pg *p = h;
	const char *params[1] = { key }, *t;
	PGresult *res;
	int rows, r = 0;

	if (userdb_query_off(p->conf->pgsql_alias_query))
		return 0;
	if ((res = pg_exec(p, p->conf->pgsql_alias_query, 1, params,
	    NULL)) == NULL)
		return -1;
	if ((rows = PQntuples(res)) > ALIAS_TARGETS_MAX) {
		log_error("event=userdb-failed backend=pgsql key=%s count=%d "
		    "reason=\"pgsql_alias_query gave too many rows\"", key,
		    rows);
		r = -1;
	}
	for (int i = 0; i < rows && r == 0; i++) {
		if ((t = pg_field(res, i, "target")) == NULL || *t == '\0')
			continue;
		if (strlen(t) > USERDB_ADDRESS_MAX ||
		    strpbrk(t, ",\r\n") != NULL) {
			log_error("event=userdb-damaged backend=pgsql key=%s "
			    "reason=\"an alias target is too long or holds a "
			    "comma\"", key);
			r = -1;
			break;
		}
		if (out->len > 0)
			buf_append_str(out, ", ");
		buf_append_str(out, t);
	}
	PQclear(res);
	return r < 0 ? -1 : out->len > 0 ? 1 : 0;
}

/* BEGIN, COMMIT or ROLLBACK. */
static int
pg_simple(struct pg *p, const char *sql, struct buf *err)
{
	PGresult *res = pg_exec(p, sql, 0, NULL, err);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static int
pg_begin(void *h, struct buf *err)
{
	struct pg *p = h;

	if (p->in_tx)
		return 0;
	if (pg_simple(p, "BEGIN", err) < 0)
		return -1;
	p->in_tx = true;
	return 0;
}

static int
pg_commit(void *h, struct buf *err)
{
	struct pg *p = h;

	if (p->tx_lost) {
		p->tx_lost = false;
		buf_printf(err, "PostgreSQL: the transaction was lost with its "
		    "connection; nothing was changed");
		return -1;
	}
	if (!p->in_tx)
		return 0;
	p->in_tx = false;
	return pg_simple(p, "COMMIT", err);
}

static void
pg_abort(void *h)
{
	struct pg *p = h;
	struct buf err = BUF_INIT;

	if (p->in_tx && pg_simple(p, "ROLLBACK", &err) < 0)
		pg_drop(p);
	p->in_tx = false;
	p->tx_lost = false;
	buf_free(&err);
}

const struct userdb_backend userdb_pgsql_backend = {
	.name = "pgsql",
	.open = pg_open,
	.close = pg_close,
	.lookup = pg_lookup,
	.put = pg_put,
	.del = pg_del,
	.foreach = pg_foreach,
	.domain = pg_domain,
	.alias = pg_alias,
	.begin = pg_begin,
	.commit = pg_commit,
	.abort = pg_abort,
};

#endif /* HAVE_LIBPQ */
