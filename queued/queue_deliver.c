/*
 * queue_deliver.c - one delivery process of dmail-queued: finds where a
 * destination's mail goes (transport / relayhost / MX, RFC 5321 5.1),
 * keeps one SMTP connection for all the jobs it is given, and reports
 * every recipient's result to the queue manager (protocol in queued.h).
 *
 * Routing:
 *   "[HOST]:PORT"  no MX look-up: HOST's addresses (or the literal)
 *   "HOST:PORT"    MX look-up of HOST (Postfix semantics), port PORT
 *   MX route       MX records of the recipient domain on port 25; no MX
 *                  record: the domain's own A/AAAA (implicit MX); domain
 *                  does not exist: bounce 5.1.2; null MX: bounce 5.1.10
 *                  (RFC 7505); DNS trouble: defer 4.4.3.
 * Hosts are tried in order until one connection is set up; a connection
 * failure defers the recipients (never a bounce).
 *
 * The lines to and from the queue manager are queue_wire.h's. A
 * malformed line from the queue manager (or more than QMGR_BATCH_MAX
 * jobs before "G") is logged and ends the process with status 1 before
 * anything of its batch is delivered: the queue manager defers the
 * batch. Fatal: that, and the queue manager gone (exit 0, it reads no
 * more results). No panics of its own (queue_wire.c's formatters panic
 * on a field of ours they cannot carry).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "dns.h"
#include "dsn.h"
#include "log.h"
#include "queued.h"
#include "queue_wire.h"
#include "smtp_client.h"
#include "spool.h"
#include "util.h"

#define SMTP_PORT 25

struct target {
	char name[DNS_NAME_MAX + 1];
	struct dns_addr *addrs;
	size_t count;
};

struct deliverer {
	struct qstate *qs;
	const struct qroute *route;
	int out;
	struct smtpc_conf cconf;
	struct smtpc *conn;
	/* Routing result, computed once. */
	bool routed;
	struct target *targets;
	size_t ntargets;
	int route_code;              /* 0 ok; 4xx/5xx: every rcpt gets it */
	char route_status[16];
	struct buf route_text;
	/* A connection failure in this batch: reused for its other jobs. */
	bool conn_failed;
	struct smtpc_reply conn_err;
};

/* Send lines to the queue manager; exit when it is gone. */
static void
emit(struct deliverer *dv, struct buf *lines)
{
	if (write_all(dv->out, lines->data, lines->len) < 0)
		_exit(0);        /* the queue manager is gone */
	buf_reset(lines);
}

/* One result line (queue_wire.c makes remote and text fit). */
static void
result(struct deliverer *dv, unsigned entry, size_t i, int code,
    const char *status, const char *remote, const char *text)
{
	struct buf b = BUF_INIT;

	qwire_fmt_result(&b, entry, i, code, status, remote, text);
	emit(dv, &b);
	buf_free(&b);
}

#ifdef DMAIL_TEST_HOOKS
/* Test builds (t/crashhook.c): "X-DMail-Test-Crash: garble" makes this
 * process send the queue manager a malformed line. */
static void
garble_hook(struct deliverer *dv, const struct buf *msg)
{
	static const char field[] = "X-DMail-Test-Crash: garble";
	struct buf bad = BUF_INIT;

	if (memmem(msg->data, msg->len, field, sizeof(field) - 1) == NULL)
		return;
	buf_set(&bad, "R 0 garbage\n");
	emit(dv, &bad);
	buf_free(&bad);
}
#endif

/* "[host]:port", "host:port", "host" -> host, port, mx wanted. */
static void
parse_relay(const char *relay, char *host, size_t hlen, unsigned *port,
    bool *mx)
{
	const char *colon;

	*port = SMTP_PORT;
	if (relay[0] == '[') {
		const char *close = strchr(relay, ']');
		size_t n = close ? (size_t)(close - relay - 1) : strlen(relay);
		snprintf(host, hlen, "%.*s", (int)n, relay + 1);
		*mx = false;
		if (close != NULL && close[1] == ':')
			*port = (unsigned)strtoul(close + 2, NULL, 10);
		return;
	}
	colon = strrchr(relay, ':');
	if (colon != NULL && strchr(relay, ':') == colon) {
		snprintf(host, hlen, "%.*s", (int)(colon - relay), relay);
		*port = (unsigned)strtoul(colon + 1, NULL, 10);
	} else {
		snprintf(host, hlen, "%s", relay);
	}
	*mx = true;
}

static void
add_target(struct deliverer *dv, const char *name, struct dns_addr *addrs,
    size_t n)
{
	struct target *t;

	dv->targets = xrealloc(dv->targets, (dv->ntargets + 1) *
	    sizeof(*dv->targets));
	t = &dv->targets[dv->ntargets++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->addrs = addrs;
	t->count = n;
}

static void
route_fail(struct deliverer *dv, int code, const char *status,
    const char *text)
{
	dv->route_code = code;
	snprintf(dv->route_status, sizeof(dv->route_status), "%s", status);
	buf_set(&dv->route_text, text);
}

/* Resolve hosts of name on port: MX (when mx) then addresses. */
static void
resolve(struct deliverer *dv, struct dns_resolver *res, const char *name,
    unsigned port, bool mx)
{
	struct buf err = BUF_INIT;
	struct dns_mx *mxs = NULL;
	size_t nmx = 0;
	enum dns_status st;
	char lit[DNS_NAME_MAX + 1];

	/* Address literal domains: user@[192.0.2.1], user@[IPv6:...]. */
	if (name[0] == '[') {
		size_t n = strcspn(name + 1, "]");
		const char *p = name + 1;
		if (strncasecmp(p, "IPv6:", 5) == 0) {
			p += 5;
			n -= 5;
		}
		snprintf(lit, sizeof(lit), "%.*s", (int)n, p);
		name = lit;
		mx = false;
	}
	{
		unsigned char raw[16];
		if (inet_pton(AF_INET, name, raw) == 1 ||
		    inet_pton(AF_INET6, name, raw) == 1)
			mx = false;      /* an address: nothing to look up */
	}
	if (mx) {
		st = dns_mx(res, name, &mxs, &nmx, &err);
		switch (st) {
		case DNS_OK:
			break;
		case DNS_NODATA:
			/* RFC 5321 5.1: the domain is its own MX. */
			mx = false;
			buf_reset(&err);
			break;
		case DNS_NOTFOUND:
			route_fail(dv, 550, "5.1.2", err.data);
			goto out;
		case DNS_NULLMX:
			route_fail(dv, 556, "5.1.10", err.data);
			goto out;
		default:
			route_fail(dv, 451, "4.4.3", err.data);
			goto out;
		}
	}
	if (!mx) {
		struct dns_addr *a;
		size_t n;
		st = dns_addrs(res, name, port, &a, &n, &err);
		if (st == DNS_OK)
			add_target(dv, name, a, n);
		else if (st == DNS_TEMPFAIL)
			route_fail(dv, 451, "4.4.3", err.data);
		else
			route_fail(dv, 550, "5.1.2", err.data);
		goto out;
	}
	for (size_t i = 0; i < nmx; i++) {
		struct dns_addr *a;
		size_t n;
		buf_reset(&err);
		st = dns_addrs(res, mxs[i].host, port, &a, &n, &err);
		if (st == DNS_OK)
			add_target(dv, mxs[i].host, a, n);
		else if (dv->route_text.len == 0)
			buf_set(&dv->route_text, err.data);
	}
	if (dv->ntargets == 0)
		route_fail(dv, 451, "4.4.3", dv->route_text.len ?
		    dv->route_text.data : "no address for any MX host");
out:
	free(mxs);
	buf_free(&err);
}

static void
route(struct deliverer *dv)
{
	const struct qroute *r = dv->route;
	struct dns_resolver *res;
	struct buf err = BUF_INIT;

	dv->routed = true;
	res = dns_open(dv->qs->conf->resolv_conf, &err);
	if (res == NULL) {
		route_fail(dv, 451, "4.4.3", err.data);
		buf_free(&err);
		return;
	}
	if (r->relay != NULL) {
		char host[DNS_NAME_MAX + 1];
		unsigned port;
		bool mx;
		parse_relay(r->relay, host, sizeof(host), &port, &mx);
		resolve(dv, res, host, port, mx);
		/* A relayhost that does not resolve is our configuration
		 * problem, never the sender's: defer. (A transport
		 * "HOST:PORT" asks for HOST's MX records, and a null MX or
		 * a missing domain there bounces as it would without.) */
		if (r->auth && dv->route_code >= 500) {
			dv->route_code = 451;
			strcpy(dv->route_status, "4.4.3");
		}
	} else {
		resolve(dv, res, r->domain, SMTP_PORT, true);
	}
	dns_close(res);
	buf_free(&err);
}

/* Set up a connection to the first host that answers. */
static bool
connect_any(struct deliverer *dv)
{
	struct smtpc_reply err;

	err.code = 0;
	snprintf(err.text, sizeof(err.text), "no host to connect to");
	for (size_t t = 0; t < dv->ntargets; t++)
		for (size_t a = 0; a < dv->targets[t].count; a++) {
			dv->conn = smtpc_open(&dv->cconf,
			    &dv->targets[t].addrs[a], dv->targets[t].name,
			    &err);
			if (dv->conn != NULL)
				return true;
			if (err.code == 554)
				goto fail;      /* a loop: no other host helps */
			log_info("action=connect-failed relay=%s "
			    "reason=\"%s\"", dv->targets[t].name, err.text);
		}
fail:
	dv->conn_failed = true;
	dv->conn_err = err;
	return false;
}

static void
deliver_job(struct deliverer *dv, unsigned entry, const char *id,
    const size_t *list, size_t nlist)
{
	struct spool_envelope env;
	struct buf path = BUF_INIT, err = BUF_INIT;
	size_t *idx = NULL, n = 0;
	const char **rcpts = NULL;
	struct smtpc_reply *res = NULL;
	struct smtpc_dsn sd;
	const char **notify = NULL, **orcpt = NULL;
	char status[16];
	int fd = -1;

	spool_path(dv->qs->conf, "queue", id, &path);
	if (spool_read(path.data, &env, &err) < 0) {
		log_warn("event=read-failed qid=%s reason=\"%s\"", id,
		    buf_cstr(&err));
		goto out_noenv;
	}
#ifdef DMAIL_TEST_HOOKS
	if (read_file(path.data, &err, 1024 * 1024) == 0) {
		test_crash_hook(err.data, err.len, 1, "delivery");
		garble_hook(dv, &err);
	}
	buf_reset(&err);
#endif
	idx = xcalloc(nlist, sizeof(*idx));
	for (size_t k = 0; k < nlist; k++)
		if (list[k] < env.rcpt_count &&
		    env.rcpts[list[k]].state == SPOOL_PENDING)
			idx[n++] = list[k];
	if (n == 0)
		goto out;
	if (!dv->routed)
		route(dv);
	if (dv->route_code != 0) {
		for (size_t k = 0; k < n; k++)
			result(dv, entry, idx[k], dv->route_code,
			    dv->route_status, NULL, dv->route_text.data);
		goto out;
	}
	if (dv->conn == NULL && !dv->conn_failed)
		(void)connect_any(dv);
	if (dv->conn == NULL) {
		const char *t = dv->conn_err.text;
		/* Only a mail loop is final; connection trouble defers. */
		bool loop = dv->conn_err.code == 554;
		for (size_t k = 0; k < n; k++)
			result(dv, entry, idx[k], loop ? 554 : 0, loop ?
			    "5.4.6" : strncmp(t, "4.7.", 4) ? "4.4.1" : "4.7.5",
			    NULL, t);
		goto out;
	}
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("event=read-failed qid=%s path=%s error=\"%s\"", id,
		    path.data, strerror(errno));
		goto out;
	}
	rcpts = xcalloc(n, sizeof(*rcpts));
	res = xcalloc(n, sizeof(*res));
	for (size_t k = 0; k < n; k++)
		rcpts[k] = env.rcpts[idx[k]].address;
	/* Pass the DSN parameters on to a peer that knows them. */
	notify = xcalloc(n, sizeof(*notify));
	orcpt = xcalloc(n, sizeof(*orcpt));
	for (size_t k = 0; k < n; k++) {
		notify[k] = dsn_notify_name(env.rcpts[idx[k]].notify);
		orcpt[k] = env.rcpts[idx[k]].orcpt;
	}
	sd.envid = env.envid;
	sd.ret = env.ret == DSN_RET_FULL ? "FULL" : env.ret == DSN_RET_HDRS ?
	    "HDRS" : NULL;
	sd.notify = notify;
	sd.orcpt = orcpt;
	if (smtpc_send(dv->conn, env.sender, rcpts, n, fd,
	    env.message_offset, &sd, res) < 0) {
		/* Connection broken: results below are code 0 (deferred). */
	}
	for (size_t k = 0; k < n; k++) {
		if (res[k].code == 0)
			strcpy(status, "4.4.2");
		else
			dsn_status(res[k].code, res[k].text, status);
		result(dv, entry, idx[k], res[k].code, status,
		    smtpc_peer(dv->conn), res[k].text);
	}
	log_info("action=relay qid=%s relay=%s tls=\"%s\" nrcpt=%zu", id,
	    smtpc_peer(dv->conn), *smtpc_tls(dv->conn) ?
	    smtpc_tls(dv->conn) : "none", n);
	if (res[0].code == 0) {
		smtpc_close(dv->conn, false);
		dv->conn = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(notify);
	free(orcpt);
	free(rcpts);
	free(res);
	free(idx);
	spool_envelope_free(&env);
out_noenv:
	buf_free(&path);
	buf_free(&err);
}

/* A job of the batch being collected. */
struct job {
	unsigned entry;
	char id[SPOOL_ID_MAX];
	size_t *idx;
	size_t n;
};

/* The next line from the queue manager into *msg: 1, 0 at end-of-file,
 * -1 when malformed (logged). */
static int
read_msg(int fd, struct buf *in, struct qwire_down *msg)
{
	struct buf err = BUF_INIT;
	char block[4096];
	size_t len;
	int rc;

	while ((rc = qwire_next_line(in, &len)) == 0) {
		ssize_t got = read(fd, block, sizeof(block));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return 0;
		buf_append(in, block, (size_t)got);
	}
	if (rc < 0 || qwire_parse_down(in->data, len, msg, &err) < 0) {
		log_error("event=wire-refused process=delivery reason=\"from "
		    "the queue manager: %s; stopping\"", rc < 0 ? "malformed "
		    "line (longer than QWIRE_LINE_MAX)" : buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	buf_consume(in, len + 1);
	return 1;
}

/* Collect a batch: J lines up to G. 1 with the batch, 0 at end-of-file
 * (the batch is empty or cut short: deliver nothing of it). A
 * malformed line ends the process (see the top of this file). */
static int
read_batch(struct deliverer *dv, int fd, struct buf *in, struct job *jobs,
    size_t *njobs)
{
	struct qwire_down *msg = xmalloc(sizeof(*msg));
	int rc;

	*njobs = 0;
	while ((rc = read_msg(fd, in, msg)) > 0 && msg->type == QWIRE_JOB) {
		struct job *j = &jobs[*njobs];

		if (*njobs == QMGR_BATCH_MAX) {
			log_error("event=wire-refused process=delivery "
			    "limit=%d reason=\"from the queue manager: too "
			    "many jobs in a batch; stopping\"", QMGR_BATCH_MAX);
			rc = -1;
			break;
		}
		j->entry = msg->entry;
		memcpy(j->id, msg->id, sizeof(j->id));
		j->n = msg->n;
		j->idx = xcalloc(msg->n, sizeof(*j->idx));
		memcpy(j->idx, msg->idx, msg->n * sizeof(*j->idx));
		(*njobs)++;
	}
	free(msg);
	if (rc < 0) {
		smtpc_close(dv->conn, true);
		_exit(1);
	}
	if (rc == 0) {
		for (size_t k = 0; k < *njobs; k++)
			free(jobs[k].idx);
		*njobs = 0;
	}
	return rc;
}

void
qdeliver_main(struct qstate *qs, const struct qroute *rt, int in_fd,
    int out_fd)
{
	struct deliverer dv;
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct job jobs[QMGR_BATCH_MAX];
	size_t njobs;

	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	memset(&dv, 0, sizeof(dv));
	dv.qs = qs;
	dv.route = rt;
	dv.out = out_fd;
	dv.cconf.helo = qs->conf->hostname;
	dv.cconf.tls = qs->tls;
	dv.cconf.tls_required = rt->tls_required;
	if (rt->auth && qs->auth_user != NULL) {
		dv.cconf.auth_user = qs->auth_user;
		dv.cconf.auth_pass = qs->auth_pass;
	}
	dv.cconf.connect_timeout_ms = (int)qs->conf->smtp_connect_timeout *
	    1000;
	dv.cconf.timeout_cap_ms = (int)qs->conf->smtp_reply_timeout * 1000;

	while (read_batch(&dv, in_fd, &in, jobs, &njobs) > 0) {
		dv.conn_failed = false;
		for (size_t k = 0; k < njobs; k++) {
			deliver_job(&dv, jobs[k].entry, jobs[k].id,
			    jobs[k].idx, jobs[k].n);
			qwire_fmt_end(&out, jobs[k].entry);
			emit(&dv, &out);
			free(jobs[k].idx);
		}
		qwire_fmt_idle(&out);
		emit(&dv, &out);
	}
	smtpc_close(dv.conn, true);
	_exit(0);
}
