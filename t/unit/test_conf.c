/*
 * test_conf.c - unit tests for the dmail.conf parser (common/conf.c).
 *
 * Every error path of the parser is driven from a table: a configuration
 * text and the exact message an operator would see. Valid texts are
 * checked field by field against the defaults and the documented rules
 * (repeatable keys accumulate, relative paths resolve against the
 * directory of the file, sizes and durations take suffixes).
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "conf.h"

/* Loads text under name; returns conf_load_text()'s result, the errors
 * in err (caller frees). */
static int
load(const char *name, const char *text, struct dmail_conf *c,
    struct buf *err)
{
	buf_reset(err);
	memset(c, 0, sizeof(*c));
	return conf_load_text(name, text, strlen(text), c, err);
}

/* Valid text: must load with no error. */
static void
load_ok(const char *text, struct dmail_conf *c)
{
	struct buf err = BUF_INIT;
	int rc = load("/etc/dmail/dmail.conf", text, c, &err);

	if (rc != 0)
		fail_msg("unexpected errors:\n%s", buf_cstr(&err));
	assert_int_equal(err.len, 0);
	buf_free(&err);
}

/* ---- error paths, table driven -------------------------------------- */

struct bad_case {
	const char *text;
	const char *message;   /* the complete error output */
};

static const struct bad_case bad_cases[] = {
	/* unknown key, with file and line */
	{ "hostname mx.example.test\n\n# comment\n"
	  "smtp_listen 127.0.0.1:25\n\n\n\n\n\n\n\nsmtp_lisen 127.0.0.1:26\n",
	  "dmail.conf:12: unknown key 'smtp_lisen'\n" },
	{ "Hostname x\n", "dmail.conf:1: unknown key 'Hostname'\n" },
	/* missing value */
	{ "hostname\n", "dmail.conf:1: key 'hostname' needs a value\n" },
	{ "hostname   \t \n", "dmail.conf:1: key 'hostname' needs a value\n" },
	{ "smtp_listen\n", "dmail.conf:1: key 'smtp_listen' needs a value\n" },
	{ "local_domains ,\n",
	  "dmail.conf:1: key 'local_domains' needs a value\n" },
	{ "smtp_listen , ,\n",
	  "dmail.conf:1: key 'smtp_listen' needs a value\n" },
	{ "log ,\n", "dmail.conf:1: key 'log' needs a value\n" },
	/* duplicate non-repeatable key */
	{ "hostname a\nhostname b\n",
	  "dmail.conf:2: key 'hostname' given twice\n" },
	{ "smtp_max_use 5\n#\nsmtp_max_use 5\n",
	  "dmail.conf:3: key 'smtp_max_use' given twice\n" },
	/* numbers */
	{ "smtp_workers_max ten\n",
	  "dmail.conf:1: key 'smtp_workers_max': 'ten' is not a number\n" },
	{ "smtp_workers_max -1\n",
	  "dmail.conf:1: key 'smtp_workers_max': '-1' is not a number\n" },
	{ "smtp_workers_max 12x\n",
	  "dmail.conf:1: key 'smtp_workers_max': '12x' is not a number\n" },
	{ "smtp_workers_max 99999999999\n",
	  "dmail.conf:1: key 'smtp_workers_max': '99999999999' is not a "
	  "number\n" },
	{ "smtp_workers_max 0\n",
	  "dmail.conf:1: key 'smtp_workers_max': must be at least 1\n" },
	{ "max_recipients +5\n",
	  "dmail.conf:1: key 'max_recipients': '+5' is not a number\n" },
	/* sizes */
	{ "max_message_size 10X\n",
	  "dmail.conf:1: key 'max_message_size': '10X' is not a size "
	  "(number with optional k, M or G)\n" },
	{ "max_message_size 1.5M\n",
	  "dmail.conf:1: key 'max_message_size': '1.5M' is not a size "
	  "(number with optional k, M or G)\n" },
	{ "max_message_size M\n",
	  "dmail.conf:1: key 'max_message_size': 'M' is not a size "
	  "(number with optional k, M or G)\n" },
	{ "max_message_size 10MB\n",
	  "dmail.conf:1: key 'max_message_size': '10MB' is not a size "
	  "(number with optional k, M or G)\n" },
	{ "max_message_size 99999999999999G\n",
	  "dmail.conf:1: key 'max_message_size': '99999999999999G' is not a "
	  "size (number with optional k, M or G)\n" },
	/* durations */
	{ "shutdown_grace 5w\n",
	  "dmail.conf:1: key 'shutdown_grace': '5w' is not a duration "
	  "(number with optional s, m, h or d)\n" },
	{ "shutdown_grace 5 m\n",
	  "dmail.conf:1: key 'shutdown_grace': '5 m' is not a duration "
	  "(number with optional s, m, h or d)\n" },
	{ "queue_lifetime 99999999d\n",
	  "dmail.conf:1: key 'queue_lifetime': '99999999d' is not a duration "
	  "(number with optional s, m, h or d)\n" },
	{ "smtp_command_timeout 0\n",
	  "dmail.conf:1: key 'smtp_command_timeout': must be at least 1 "
	  "second(s)\n" },
	/* booleans */
	{ "smtp_vrfy maybe\n",
	  "dmail.conf:1: key 'smtp_vrfy': 'maybe' is not yes or no\n" },
	{ "pop3_plaintext_auth 1\n",
	  "dmail.conf:1: key 'pop3_plaintext_auth': '1' is not yes or no\n" },
	/* enums */
	{ "smtp_bare_lf accept\n",
	  "dmail.conf:1: key 'smtp_bare_lf': 'accept' is not one of "
	  "reject|normalize\n" },
	{ "smtp_bare_lf rejec\n",
	  "dmail.conf:1: key 'smtp_bare_lf': 'rejec' is not one of "
	  "reject|normalize\n" },
	{ "password_scheme md5\n",
	  "dmail.conf:1: key 'password_scheme': 'md5' is not one of "
	  "yescrypt|sha512\n" },
	{ "list_dmarc_rewrite sometimes\n",
	  "dmail.conf:1: key 'list_dmarc_rewrite': 'sometimes' is not one of "
	  "auto|always|never\n" },
	/* log */
	{ "log file\n",
	  "dmail.conf:1: key 'log': 'file' is not syslog or stderr\n" },
	{ "log stderr loud\n",
	  "dmail.conf:1: key 'log': 'loud' is not a level (debug, info, "
	  "warning, error)\n" },
	{ "log stderr info extra\n",
	  "dmail.conf:1: key 'log': use 'log syslog|stderr "
	  "[debug|info|warning|error]'\n" },
	/* listen addresses */
	{ "smtp_listen 127.0.0.1\n",
	  "dmail.conf:1: key 'smtp_listen': '127.0.0.1' is not ADDR:PORT or "
	  "[IPV6]:PORT\n" },
	{ "smtp_listen 127.0.0.1:0\n",
	  "dmail.conf:1: key 'smtp_listen': '127.0.0.1:0' is not ADDR:PORT or "
	  "[IPV6]:PORT\n" },
	{ "smtp_listen 127.0.0.1:65536\n",
	  "dmail.conf:1: key 'smtp_listen': '127.0.0.1:65536' is not ADDR:PORT "
	  "or [IPV6]:PORT\n" },
	{ "smtp_listen 127.0.0.1:smtp\n",
	  "dmail.conf:1: key 'smtp_listen': '127.0.0.1:smtp' is not ADDR:PORT "
	  "or [IPV6]:PORT\n" },
	{ "smtp_listen 256.0.0.1:25\n",
	  "dmail.conf:1: key 'smtp_listen': '256.0.0.1:25' is not ADDR:PORT "
	  "or [IPV6]:PORT\n" },
	{ "smtp_listen mail.example.test:25\n",
	  "dmail.conf:1: key 'smtp_listen': 'mail.example.test:25' is not "
	  "ADDR:PORT or [IPV6]:PORT\n" },
	{ "smtp_listen ::1:25\n",
	  "dmail.conf:1: key 'smtp_listen': '::1:25' is not ADDR:PORT or "
	  "[IPV6]:PORT\n" },
	{ "smtp_listen [::1]25\n",
	  "dmail.conf:1: key 'smtp_listen': '[::1]25' is not ADDR:PORT or "
	  "[IPV6]:PORT\n" },
	{ "smtp_listen [::1:25\n",
	  "dmail.conf:1: key 'smtp_listen': '[::1:25' is not ADDR:PORT or "
	  "[IPV6]:PORT\n" },
	{ "smtp_listen []:25\n",
	  "dmail.conf:1: key 'smtp_listen': '[]:25' is not ADDR:PORT or "
	  "[IPV6]:PORT\n" },
	{ "smtp_listen [127.0.0.1]:25\n",
	  "dmail.conf:1: key 'smtp_listen': '[127.0.0.1]:25' is not ADDR:PORT "
	  "or [IPV6]:PORT\n" },
	{ "smtp_listen :25\n",
	  "dmail.conf:1: key 'smtp_listen': ':25' is not ADDR:PORT or "
	  "[IPV6]:PORT\n" },
	/* duplicate listener, in one line, across lines and across roles */
	{ "smtp_listen 127.0.0.1:25 127.0.0.1:25\n",
	  "dmail.conf:1: key 'smtp_listen': 127.0.0.1:25 is already a "
	  "listener\n" },
	{ "smtp_listen [::1]:25\npop3_listen [0:0::1]:25\n",
	  "dmail.conf:2: key 'pop3_listen': [0:0::1]:25 is already a "
	  "listener\n" },
	{ "smtp_listen *:25\nsubmission_listen 0.0.0.0:25\n",
	  "dmail.conf:2: key 'submission_listen': 0.0.0.0:25 is already a "
	  "listener\n" },
	/* CIDR */
	{ "relay_networks 10.0.0.0/33\n",
	  "dmail.conf:1: key 'relay_networks': '10.0.0.0/33' is not an address "
	  "or network (CIDR)\n" },
	{ "relay_networks 10.0.0.0/\n",
	  "dmail.conf:1: key 'relay_networks': '10.0.0.0/' is not an address "
	  "or network (CIDR)\n" },
	{ "relay_networks 10.0.0/8\n",
	  "dmail.conf:1: key 'relay_networks': '10.0.0/8' is not an address "
	  "or network (CIDR)\n" },
	{ "relay_networks ::1/129\n",
	  "dmail.conf:1: key 'relay_networks': '::1/129' is not an address "
	  "or network (CIDR)\n" },
	{ "relay_networks 10.0.0.0/-1\n",
	  "dmail.conf:1: key 'relay_networks': '10.0.0.0/-1' is not an "
	  "address or network (CIDR)\n" },
	{ "relay_networks /8\n",
	  "dmail.conf:1: key 'relay_networks': '/8' is not an address "
	  "or network (CIDR)\n" },
	/* domains */
	{ "local_domains example.test -bad.test\n",
	  "dmail.conf:1: key 'local_domains': '-bad.test' is not a domain\n" },
	{ "local_domains exa_mple.test\n",
	  "dmail.conf:1: key 'local_domains': 'exa_mple.test' is not a "
	  "domain\n" },
	/* pairs */
	{ "alias postmaster\n",
	  "dmail.conf:1: key 'alias': needs a name and a value\n" },
	{ "transport example.test mx.example.test\n",
	  "dmail.conf:1: key 'transport': 'mx.example.test' is not "
	  "HOST:PORT\n" },
	{ "transport example.test mx.example.test:99999\n",
	  "dmail.conf:1: key 'transport': 'mx.example.test:99999' is not "
	  "HOST:PORT\n" },
	{ "transport example.test mx.example.test:0\n",
	  "dmail.conf:1: key 'transport': 'mx.example.test:0' is not "
	  "HOST:PORT\n" },
	{ "transport example.test mx.example.test:25x\n",
	  "dmail.conf:1: key 'transport': 'mx.example.test:25x' is not "
	  "HOST:PORT\n" },
	{ "transport example.test mx.example.test:25 backup:25\n",
	  "dmail.conf:1: key 'transport': 'mx.example.test:25 backup:25' is "
	  "not HOST:PORT\n" },
	{ "transport example.test :25\n",
	  "dmail.conf:1: key 'transport': ':25' is not HOST:PORT\n" },
	{ "node_name node a\n",
	  "dmail.conf:1: key 'node_name': 'node a' is not a node name "
	  "(letters, digits, '.', '-', '_')\n" },
	{ "node_name a\"b\n",
	  "dmail.conf:1: key 'node_name': 'a\"b' is not a node name "
	  "(letters, digits, '.', '-', '_')\n" },
	/* one refusal per setter type not covered above */
	{ "tls_cert\n", "dmail.conf:1: key 'tls_cert' needs a value\n" },
	{ "listen_backlog 0\n",
	  "dmail.conf:1: key 'listen_backlog': must be at least 1\n" },
	{ "pop3_idle_timeout 0s\n",
	  "dmail.conf:1: key 'pop3_idle_timeout': must be at least 1 "
	  "second(s)\n" },
	{ "client_limit_exempt 10.0.0.1/40\n",
	  "dmail.conf:1: key 'client_limit_exempt': '10.0.0.1/40' is not an "
	  "address or network (CIDR)\n" },
	{ "tls_required example.test bad!.test\n",
	  "dmail.conf:1: key 'tls_required': 'bad!.test' is not a domain\n" },
	{ "forward a@example.test\n",
	  "dmail.conf:1: key 'forward': needs a name and a value\n" },
	{ "worker_spawn fork\n",
	  "dmail.conf:1: key 'worker_spawn': 'fork' is not one of "
	  "template|exec\n" },
	{ "password_scheme SHA512\n",
	  "dmail.conf:1: key 'password_scheme': 'SHA512' is not one of "
	  "yescrypt|sha512\n" },
	{ "log syslog\nlog stderr\n",
	  "dmail.conf:2: key 'log' given twice\n" },
	{ "smtp_bare_lf reject\nsmtp_bare_lf normalize\n",
	  "dmail.conf:2: key 'smtp_bare_lf' given twice\n" },
	/* a refused value stores nothing: the same key may come again */
	{ "transport a.test h\ntransport a.test h:0\n",
	  "dmail.conf:1: key 'transport': 'h' is not HOST:PORT\n"
	  "dmail.conf:2: key 'transport': 'h:0' is not HOST:PORT\n" },
	/* checks over the whole file (no line number) */
	{ "smtp_workers_min 10\nsmtp_workers_max 5\n",
	  "dmail.conf: smtp_workers_min (10) is larger than smtp_workers_max "
	  "(5)\n" },
	{ "pop3_workers_max 1\n",
	  "dmail.conf: pop3_workers_min (2) is larger than pop3_workers_max "
	  "(1)\n" },
	{ "queue_retry_min 2h\nqueue_retry_max 1h\n",
	  "dmail.conf: queue_retry_min is larger than queue_retry_max\n" },
	{ "tls_cert cert.pem\n",
	  "dmail.conf: tls_cert and tls_key must be given together\n" },
	{ "tls_key key.pem\n",
	  "dmail.conf: tls_cert and tls_key must be given together\n" },
	{ "smtps_listen 127.0.0.1:465\n",
	  "dmail.conf: smtps_listen needs tls_cert and tls_key\n" },
	{ "pop3s_listen [::1]:995\n",
	  "dmail.conf: pop3s_listen needs tls_cert and tls_key\n" },
	/* several errors are all reported, in order */
	{ "bogus 1\nhostname\nsmtp_vrfy perhaps\n",
	  "dmail.conf:1: unknown key 'bogus'\n"
	  "dmail.conf:2: key 'hostname' needs a value\n"
	  "dmail.conf:3: key 'smtp_vrfy': 'perhaps' is not yes or no\n" },
	/* a trailing comment is not a comment: the value is wrong */
	{ "max_recipients 10 # ten\n",
	  "dmail.conf:1: key 'max_recipients': '10 # ten' is not a number\n" },
	/* no trailing newline: the last line still counts */
	{ "hostname a\nfoo bar",
	  "dmail.conf:2: unknown key 'foo'\n" },
	/* CRLF line ends are accepted, the line number stays right */
	{ "hostname a\r\nhostname b\r\n",
	  "dmail.conf:2: key 'hostname' given twice\n" },
};

static void
test_error_table(void **state)
{
	struct buf err = BUF_INIT;
	struct dmail_conf c;
	(void)state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *t = &bad_cases[i];
		int rc = load("dmail.conf", t->text, &c, &err);
		if (rc != -1)
			fail_msg("case %zu: accepted:\n%s", i, t->text);
		if (strcmp(buf_cstr(&err), t->message) != 0)
			fail_msg("case %zu:\n%s\nexpected: %s\ngot:      %s", i,
			    t->text, t->message, buf_cstr(&err));
	}
	buf_free(&err);
}

/* The output struct is untouched on failure (staging-copy contract). */
static void
test_failure_leaves_output_untouched(void **state)
{
	struct buf err = BUF_INIT;
	struct dmail_conf c, before;
	const char *text = "hostname new\nbogus x\n";
	(void)state;

	memset(&c, 0xA5, sizeof(c));
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(conf_load_text("x.conf", text, strlen(text), &c, &err),
	    -1);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_string_equal(buf_cstr(&err), "x.conf:2: unknown key 'bogus'\n");
	buf_free(&err);
}

/* Errors use the name as given, with its directories. */
static void
test_error_names_full_path(void **state)
{
	struct buf err = BUF_INIT;
	struct dmail_conf c;
	(void)state;

	assert_int_equal(load("/etc/dmail/dmail.conf", "\n\nsmtp_lisen x\n",
	    &c, &err), -1);
	assert_string_equal(buf_cstr(&err),
	    "/etc/dmail/dmail.conf:3: unknown key 'smtp_lisen'\n");
	buf_free(&err);
}

/* A NUL byte anywhere in a line is an error on that line. */
static void
test_nul_byte(void **state)
{
	static const char text[] = "hostname a\nstate_dir /var/\0lib\n"
	    "run_as nobody\n";
	static const char last[] = "hostname a\nrun_as no\0body";
	struct buf err = BUF_INIT;
	struct dmail_conf c;
	(void)state;

	assert_int_equal(conf_load_text("dmail.conf", text, sizeof(text) - 1,
	    &c, &err), -1);
	assert_string_equal(buf_cstr(&err), "dmail.conf:2: NUL byte in line\n");

	/* On the last line, without a newline. */
	buf_reset(&err);
	assert_int_equal(conf_load_text("dmail.conf", last, sizeof(last) - 1,
	    &c, &err), -1);
	assert_string_equal(buf_cstr(&err), "dmail.conf:2: NUL byte in line\n");
	buf_free(&err);
}

static void
test_load_file_errors(void **state)
{
	struct buf err = BUF_INIT;
	struct dmail_conf c;
	char dir[] = "/tmp/test_conf.XXXXXX";
	char path[PATH_MAX];
	FILE *f;
	(void)state;

	assert_int_equal(conf_load_file("/nonexistent/dmail.conf", &c, &err),
	    -1);
	assert_string_equal(buf_cstr(&err),
	    "/nonexistent/dmail.conf: cannot read: No such file or "
	    "directory\n");

	/* A real file: errors name it; relative paths resolve next to it. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dmail.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("state_dir state\ntls_cert certs/c.pem\ntls_key /k.pem\n", f);
	fclose(f);
	buf_reset(&err);
	assert_int_equal(conf_load_file(path, &c, &err), 0);
	{
		char want[PATH_MAX + 32], real[PATH_MAX];
		assert_non_null(realpath(dir, real));
		snprintf(want, sizeof(want), "%s/state", real);
		assert_string_equal(c.state_dir, want);
		snprintf(want, sizeof(want), "%s/certs/c.pem", real);
		assert_string_equal(c.tls_cert, want);
		assert_string_equal(c.tls_key, "/k.pem");
		snprintf(want, sizeof(want), "%s/state/run/control", real);
		assert_string_equal(c.control_socket, want);
		assert_string_equal(c.path, path);
	}
	conf_free(&c);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hostname a\n\nsmtp_lisen 1.2.3.4:25\n", f);
	fclose(f);
	buf_reset(&err);
	assert_int_equal(conf_load_file(path, &c, &err), -1);
	{
		char want[PATH_MAX + 64];
		snprintf(want, sizeof(want), "%s:3: unknown key 'smtp_lisen'\n",
		    path);
		assert_string_equal(buf_cstr(&err), want);
	}

	/* An empty file is valid: every default. */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	buf_reset(&err);
	assert_int_equal(conf_load_file(path, &c, &err), 0);
	assert_string_equal(c.state_dir, "/var/lib/dmail");
	conf_free(&c);

	unlink(path);
	rmdir(dir);
	buf_free(&err);
}

/* ---- valid configurations ------------------------------------------- */

static void
test_defaults(void **state)
{
	struct dmail_conf c;
	(void)state;

	load_ok("", &c);
	assert_non_null(c.hostname);
	assert_true(strlen(c.hostname) > 0);
	assert_string_equal(c.node_name, c.hostname);
	assert_int_equal(c.local_domains.count, 0);
	assert_string_equal(c.state_dir, "/var/lib/dmail");
	assert_null(c.run_as);
	assert_string_equal(c.control_socket, "/var/lib/dmail/run/control");
	assert_string_equal(c.status_socket, "/var/lib/dmail/run/status");
	assert_int_equal(c.log_target, LOG_TO_SYSLOG);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	assert_int_equal(c.shutdown_grace, 30);
	assert_int_equal(c.worker_idle_timeout, 60);
	assert_int_equal(c.listen_backlog, 4096);
	assert_int_equal(c.listen_count, 0);
	assert_int_equal(c.pool[POOL_SMTP].workers_min, 2);
	assert_int_equal(c.pool[POOL_SMTP].workers_max, 100);
	assert_int_equal(c.pool[POOL_SMTP].max_use, 100);
	assert_int_equal(c.pool[POOL_POP3].workers_min, 2);
	assert_int_equal(c.pool[POOL_POP3].workers_max, 100);
	assert_int_equal(c.pool[POOL_LIST].workers_min, 1);
	assert_int_equal(c.pool[POOL_LIST].workers_max, 10);
	assert_non_null(strstr(c.pool[POOL_SMTP].program, "/dmail-smtpd"));
	assert_non_null(strstr(c.pool[POOL_POP3].program, "/dmail-pop3d"));
	assert_non_null(strstr(c.pool[POOL_LIST].program, "/dmail-listd"));
	assert_non_null(strstr(c.pool[POOL_QUEUE].program, "/dmail-queued"));
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_int_equal(c.max_message_size, 25 * 1024 * 1024);
	assert_int_equal(c.max_recipients, 1000);
	assert_int_equal(c.smtp_max_errors, 20);
	assert_int_equal(c.smtp_command_timeout, 300);
	assert_int_equal(c.smtp_data_timeout, 600);
	assert_int_equal(c.smtp_session_timeout, 3600);
	assert_int_equal(c.smtp_bare_lf, BARE_LF_REJECT);
	assert_false(c.smtp_vrfy);
	assert_int_equal(c.max_hops, 50);
	assert_int_equal(c.relay_network_count, 0);
	assert_int_equal(c.client_connection_limit, 20);
	assert_int_equal(c.client_limit_exempt_count, 0);
	assert_int_equal(c.smtp_command_time_limit, 60);
	assert_int_equal(c.smtp_data_time_limit, 1200);
	assert_int_equal(c.pop3_command_time_limit, 60);
	assert_false(c.pop3_plaintext_auth);
	assert_int_equal(c.pop3_login_delay, 0);
	assert_int_equal(c.pop3_max_failed_logins, 3);
	assert_int_equal(c.pop3_idle_timeout, 600);
	assert_int_equal(c.auth_throttle_failures, 5);
	assert_int_equal(c.auth_throttle_max_delay, 30);
	assert_string_equal(c.password_scheme, "yescrypt");
	assert_int_equal(c.queue_retry_min, 300);
	assert_int_equal(c.queue_retry_max, 3600);
	assert_int_equal(c.queue_lifetime, 5 * 86400);
	assert_int_equal(c.queue_warn_after, 0);
	assert_int_equal(c.smtp_dest_concurrency, 10);
	assert_int_equal(c.delivery_workers_max, 20);
	assert_int_equal(c.smtp_connect_timeout, 30);
	assert_int_equal(c.smtp_reply_timeout, 0);
	assert_int_equal(c.null_sender_bounces, NULL_BOUNCE_DROP);
	assert_null(c.relayhost);
	assert_null(c.lists_file);
	assert_int_equal(c.list_dmarc_rewrite, DMARC_REWRITE_AUTO);
	conf_free(&c);
}

static void
test_full_config(void **state)
{
	struct dmail_conf c;
	const char *text =
	    "# DMail test configuration\n"
	    "   # indented comment\n"
	    "\n"
	    "hostname   mx.example.test  \n"
	    "\tlocal_domains Example.TEST, other.test\n"
	    "local_domains third.test\n"
	    "state_dir /srv/dmail\n"
	    "run_as nobody\n"
	    "log stderr debug\n"
	    "shutdown_grace 2m\n"
	    "worker_idle_timeout 1h\n"
	    "listen_backlog 128\n"
	    "smtp_listen 127.0.0.1:2525 [::1]:2525\n"
	    "smtp_listen *:25\n"
	    "submission_listen 127.0.0.1:587\n"
	    "smtps_listen 127.0.0.1:465\n"
	    "pop3_listen [::]:110\n"
	    "pop3s_listen 127.0.0.1:995\n"
	    "smtp_workers_min 0\n"
	    "smtp_workers_max 7\n"
	    "smtp_max_use 1\n"
	    "pop3_workers_min 3\n"
	    "pop3_workers_max 3\n"
	    "list_program bin/listd\n"
	    "tls_cert /etc/ssl/c.pem\n"
	    "tls_key /etc/ssl/k.pem\n"
	    "max_message_size 10M\n"
	    "max_recipients 5\n"
	    "smtp_bare_lf normalize\n"
	    "smtp_vrfy yes\n"
	    "relay_networks 127.0.0.0/8, ::1\n"
	    "relay_networks 192.168.0.0/16\n"
	    "client_limit_exempt 10.0.0.0/8 2001:db8::/32\n"
	    "client_connection_limit 0\n"
	    "smtp_data_time_limit 30m\n"
	    "alias postmaster root@example.test\n"
	    "alias Abuse  a@example.test, b@example.test\n"
	    "forward joe@example.test joe@elsewhere.test\n"
	    "pop3_plaintext_auth on\n"
	    "pop3_login_delay 1d\n"
	    "password_scheme sha512\n"
	    "queue_warn_after 4h\n"
	    "transport example.net [192.0.2.1]:2525\n"
	    "transport example.org mx.example.org:25\n"
	    "tls_required example.net\n"
	    "null_sender_bounces postmaster\n"
	    "list_dmarc_rewrite never\n";
	(void)state;

	load_ok(text, &c);
	assert_string_equal(c.hostname, "mx.example.test");
	assert_int_equal(c.local_domains.count, 3);
	assert_string_equal(c.local_domains.items[0], "example.test");
	assert_string_equal(c.local_domains.items[1], "other.test");
	assert_string_equal(c.local_domains.items[2], "third.test");
	assert_true(conf_is_local_domain(&c, "EXAMPLE.test"));
	assert_false(conf_is_local_domain(&c, "example.org"));
	assert_string_equal(c.state_dir, "/srv/dmail");
	assert_string_equal(c.control_socket, "/srv/dmail/run/control");
	assert_string_equal(c.run_as, "nobody");
	assert_int_equal(c.log_target, LOG_TO_STDERR);
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c.shutdown_grace, 120);
	assert_int_equal(c.worker_idle_timeout, 3600);
	assert_int_equal(c.listen_backlog, 128);

	assert_int_equal(c.listen_count, 7);
	{
		static const struct {
			enum listen_role role;
			const char *text;
			int family;
			unsigned port;
		} want[] = {
			{ ROLE_SMTP, "127.0.0.1:2525", AF_INET, 2525 },
			{ ROLE_SMTP, "[::1]:2525", AF_INET6, 2525 },
			{ ROLE_SMTP, "*:25", AF_INET, 25 },
			{ ROLE_SUBMISSION, "127.0.0.1:587", AF_INET, 587 },
			{ ROLE_SMTPS, "127.0.0.1:465", AF_INET, 465 },
			{ ROLE_POP3, "[::]:110", AF_INET6, 110 },
			{ ROLE_POP3S, "127.0.0.1:995", AF_INET, 995 },
		};
		for (size_t i = 0; i < 7; i++) {
			const struct listen_addr *la = &c.listen[i];
			assert_int_equal(la->role, want[i].role);
			assert_string_equal(la->text, want[i].text);
			assert_int_equal(la->ss.ss_family, want[i].family);
			if (want[i].family == AF_INET) {
				const struct sockaddr_in *sin =
				    (const struct sockaddr_in *)&la->ss;
				assert_int_equal(ntohs(sin->sin_port),
				    want[i].port);
				assert_int_equal(la->sslen, sizeof(*sin));
			} else {
				const struct sockaddr_in6 *sin6 =
				    (const struct sockaddr_in6 *)&la->ss;
				assert_int_equal(ntohs(sin6->sin6_port),
				    want[i].port);
				assert_int_equal(la->sslen, sizeof(*sin6));
			}
		}
		const struct sockaddr_in6 *v6 =
		    (const struct sockaddr_in6 *)&c.listen[1].ss;
		assert_true(IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr));
		const struct sockaddr_in *any =
		    (const struct sockaddr_in *)&c.listen[2].ss;
		assert_int_equal(any->sin_addr.s_addr, htonl(INADDR_ANY));
	}
	assert_int_equal(role_pool(ROLE_POP3S), POOL_POP3);
	assert_int_equal(role_pool(ROLE_SUBMISSION), POOL_SMTP);

	assert_int_equal(c.pool[POOL_SMTP].workers_min, 0);
	assert_int_equal(c.pool[POOL_SMTP].workers_max, 7);
	assert_int_equal(c.pool[POOL_SMTP].max_use, 1);
	assert_int_equal(c.pool[POOL_POP3].workers_min, 3);
	assert_int_equal(c.pool[POOL_POP3].workers_max, 3);
	assert_string_equal(c.pool[POOL_LIST].program,
	    "/etc/dmail/bin/listd");
	assert_string_equal(c.tls_cert, "/etc/ssl/c.pem");
	assert_string_equal(c.tls_key, "/etc/ssl/k.pem");
	assert_int_equal(c.max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c.max_recipients, 5);
	assert_int_equal(c.smtp_bare_lf, BARE_LF_NORMALIZE);
	assert_true(c.smtp_vrfy);
	assert_int_equal(c.relay_network_count, 3);
	assert_int_equal(c.relay_networks[0].family, AF_INET);
	assert_int_equal(c.relay_networks[0].prefix, 8);
	assert_int_equal(c.relay_networks[1].family, AF_INET6);
	assert_int_equal(c.relay_networks[1].prefix, 128);
	assert_int_equal(c.relay_networks[2].prefix, 16);
	/* The same CIDR list parser, into its own list. */
	assert_int_equal(c.client_limit_exempt_count, 2);
	assert_int_equal(c.client_limit_exempt[0].prefix, 8);
	assert_int_equal(c.client_limit_exempt[1].family, AF_INET6);
	assert_int_equal(c.client_connection_limit, 0);
	assert_int_equal(c.smtp_data_time_limit, 1800);

	assert_int_equal(c.aliases.count, 2);
	assert_string_equal(c.aliases.items[0].key, "postmaster");
	assert_string_equal(c.aliases.items[0].value, "root@example.test");
	assert_string_equal(c.aliases.items[1].key, "abuse");
	assert_string_equal(c.aliases.items[1].value,
	    "a@example.test, b@example.test");
	assert_int_equal(c.forwards.count, 1);
	assert_string_equal(c.forwards.items[0].key, "joe@example.test");
	assert_true(c.pop3_plaintext_auth);
	assert_int_equal(c.pop3_login_delay, 86400);
	assert_string_equal(c.password_scheme, "sha512");
	assert_int_equal(c.queue_warn_after, 4 * 3600);
	assert_int_equal(c.transports.count, 2);
	assert_string_equal(c.transports.items[0].key, "example.net");
	assert_string_equal(c.transports.items[0].value, "[192.0.2.1]:2525");
	assert_int_equal(c.tls_required.count, 1);
	assert_int_equal(c.null_sender_bounces, NULL_BOUNCE_POSTMASTER);
	assert_int_equal(c.list_dmarc_rewrite, DMARC_REWRITE_NEVER);
	assert_non_null(c.text);
	assert_int_equal(c.text_len, strlen(text));
	assert_memory_equal(c.text, text, c.text_len);
	conf_free(&c);
}

/* Relative paths are resolved against the directory of the file name. */
static void
test_relative_paths(void **state)
{
	struct buf err = BUF_INIT;
	struct dmail_conf c;
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	(void)state;

	assert_int_equal(load("/etc/dmail/dmail.conf",
	    "state_dir ../var\ntls_cert c.pem\ntls_key ./k.pem\n"
	    "aliases_file /abs/aliases\n", &c, &err), 0);
	/* /etc/dmail may not exist here: the name's directory is used. */
	assert_string_equal(c.state_dir, "/etc/dmail/../var");
	assert_string_equal(c.tls_cert, "/etc/dmail/c.pem");
	assert_string_equal(c.tls_key, "/etc/dmail/./k.pem");
	assert_string_equal(c.aliases_file, "/abs/aliases");
	assert_string_equal(c.dir, "/etc/dmail");
	conf_free(&c);

	/* A bare file name: the current directory, made absolute. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(load("dmail.conf", "state_dir st\n", &c, &err), 0);
	snprintf(want, sizeof(want), "%s/st", cwd);
	assert_string_equal(c.state_dir, want);
	assert_true(c.dir[0] == '/');
	conf_free(&c);

	/* A file in the root directory. */
	assert_int_equal(load("/dmail.conf", "state_dir st\n", &c, &err), 0);
	assert_string_equal(c.state_dir, "//st");
	conf_free(&c);
	buf_free(&err);
}

static void
test_size_duration_suffixes(void **state)
{
	uint64_t sz;
	unsigned d;
	(void)state;

	assert_int_equal(parse_size("0", &sz), 0);
	assert_int_equal(sz, 0);
	assert_int_equal(parse_size("512", &sz), 0);
	assert_int_equal(sz, 512);
	assert_int_equal(parse_size("4k", &sz), 0);
	assert_int_equal(sz, 4096);
	assert_int_equal(parse_size("4K", &sz), 0);
	assert_int_equal(sz, 4096);
	assert_int_equal(parse_size("3m", &sz), 0);
	assert_int_equal(sz, 3 * 1024 * 1024);
	assert_int_equal(parse_size("2G", &sz), 0);
	assert_int_equal(sz, 2ULL * 1024 * 1024 * 1024);
	assert_int_equal(parse_size("16777216G", &sz), 0);
	assert_int_equal(sz, 1ULL << 54);
	assert_int_equal(parse_size("17179869184G", &sz), -1);
	assert_int_equal(parse_size("", &sz), -1);
	assert_int_equal(parse_size(" 5", &sz), -1);
	assert_int_equal(parse_size("5T", &sz), -1);
	assert_int_equal(parse_size("99999999999999999999", &sz), -1);

	assert_int_equal(parse_duration("0", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(parse_duration("45", &d), 0);
	assert_int_equal(d, 45);
	assert_int_equal(parse_duration("45s", &d), 0);
	assert_int_equal(d, 45);
	assert_int_equal(parse_duration("2m", &d), 0);
	assert_int_equal(d, 120);
	assert_int_equal(parse_duration("3h", &d), 0);
	assert_int_equal(d, 10800);
	assert_int_equal(parse_duration("5d", &d), 0);
	assert_int_equal(d, 432000);
	assert_int_equal(parse_duration("4294967295", &d), 0);
	assert_int_equal(d, 4294967295U);
	assert_int_equal(parse_duration("4294967296", &d), -1);
	assert_int_equal(parse_duration("49710d", &d), 0);
	assert_int_equal(d, 49710U * 86400);
	assert_int_equal(parse_duration("49711d", &d), -1);
	assert_int_equal(parse_duration("1w", &d), -1);
	assert_int_equal(parse_duration("", &d), -1);
	assert_int_equal(parse_duration("-1", &d), -1);
	assert_int_equal(parse_duration("1ms", &d), -1);
}

/* Every key that may repeat accumulates; each line adds its words. */
static void
test_repeatable_keys_accumulate(void **state)
{
	struct dmail_conf c;
	(void)state;

	load_ok("local_domains a.test\nlocal_domains b.test c.test\n"
	    "smtp_listen 127.0.0.1:2001\nsmtp_listen 127.0.0.1:2002\n"
	    "pop3_listen 127.0.0.1:2003,127.0.0.1:2004\n"
	    "relay_networks 10.0.0.0/8\nrelay_networks 10.1.0.0/16\n"
	    "alias a x\nalias b y\nalias a z\n"
	    "tls_required a.test\ntls_required b.test\n"
	    "transport a.test h:1\ntransport b.test h:2\n"
	    "forward a@a.test b@b.test\nforward c@a.test d@b.test\n", &c);
	assert_int_equal(c.local_domains.count, 3);
	assert_int_equal(c.listen_count, 4);
	assert_int_equal(c.listen[2].role, ROLE_POP3);
	assert_string_equal(c.listen[3].text, "127.0.0.1:2004");
	assert_int_equal(c.relay_network_count, 2);
	assert_int_equal(c.aliases.count, 3);
	assert_string_equal(c.aliases.items[2].key, "a");
	assert_string_equal(c.aliases.items[2].value, "z");
	assert_int_equal(c.tls_required.count, 2);
	assert_int_equal(c.transports.count, 2);
	assert_int_equal(c.forwards.count, 2);
	conf_free(&c);
}

/* Many values on one line are kept, none silently dropped. */
static void
test_many_words_on_one_line(void **state)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	struct dmail_conf c;
	int rc;
	(void)state;

	buf_append_str(&text, "local_domains");
	for (int i = 0; i < 100; i++)
		buf_printf(&text, " d%d.test", i);
	buf_append_str(&text, "\nsmtp_listen");
	for (int i = 0; i < 100; i++)
		buf_printf(&text, " 127.0.0.1:%d", 3000 + i);
	buf_append_char(&text, '\n');
	rc = conf_load_text("dmail.conf", text.data, text.len, &c, &err);
	if (rc == 0) {
		assert_int_equal(c.local_domains.count, 100);
		assert_string_equal(c.local_domains.items[99], "d99.test");
		assert_int_equal(c.listen_count, 100);
		conf_free(&c);
	} else {
		/* Refusing is fine too, as long as it says so. */
		assert_non_null(strstr(buf_cstr(&err), "dmail.conf:1:"));
		assert_non_null(strstr(buf_cstr(&err), "dmail.conf:2:"));
	}
	buf_free(&text);
	buf_free(&err);
}

/* Every list key takes at most 64 values on one line and says so past
 * that (no silent cut); the values before the refusal are not half
 * kept either (the load fails). */
static void
test_words_per_line_limit(void **state)
{
	/* Value i is before, i, after. */
	static const struct {
		const char *key;
		const char *before, *after;
	} keys[] = {
		{ "local_domains", " d", ".test" },
		{ "tls_required", " d", ".test" },
		{ "relay_domains", " r", ".test" },
		{ "smtp_listen", " 127.0.0.1:", "" },
		{ "relay_networks", " 10.0.", ".0/24" },
		{ "client_limit_exempt", " 10.1.", ".0/24" },
	};
	struct buf text = BUF_INIT, err = BUF_INIT, want = BUF_INIT;
	struct dmail_conf c;
	(void)state;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (int n = 64; n <= 65; n++) {
			buf_reset(&text);
			buf_append_str(&text, keys[k].key);
			for (int i = 1; i <= n; i++)
				buf_printf(&text, "%s%d%s", keys[k].before, i,
				    keys[k].after);
			buf_append_char(&text, '\n');
			if (n == 64) {
				load_ok(text.data, &c);
				conf_free(&c);
				continue;
			}
			assert_int_equal(load("dmail.conf", text.data, &c, &err),
			    -1);
			buf_reset(&want);
			buf_printf(&want, "dmail.conf:1: key '%s': more than 64 "
			    "values on one line; use several lines\n",
			    keys[k].key);
			assert_string_equal(buf_cstr(&err), want.data);
		}
	}
	buf_free(&text);
	buf_free(&err);
	buf_free(&want);
}

/* Accepted values of the setters whose results the table tests cannot
 * see: limits exactly at the edge, the enum stored as a word. */
static void
test_setter_edges(void **state)
{
	struct dmail_conf c;
	(void)state;

	load_ok("listen_backlog 1\nmax_recipients 4294967295\n"
	    "pop3_idle_timeout 1\nmax_message_size 0\n"
	    "password_scheme sha512\nworker_spawn exec\n"
	    "transport Example.TEST [192.0.2.1]:65535\n", &c);
	assert_int_equal(c.listen_backlog, 1);
	assert_int_equal(c.max_recipients, 4294967295U);
	assert_int_equal(c.pop3_idle_timeout, 1);
	assert_int_equal(c.max_message_size, 0);
	assert_string_equal(c.password_scheme, "sha512");
	assert_int_equal(c.worker_spawn, WORKER_SPAWN_EXEC);
	assert_string_equal(c.transports.items[0].key, "example.test");
	assert_string_equal(c.transports.items[0].value, "[192.0.2.1]:65535");
	conf_free(&c);
}

static void
test_enum_and_bool_values(void **state)
{
	struct dmail_conf c;
	static const char *const yes[] = { "yes", "true", "on" };
	static const char *const no[] = { "no", "false", "off" };
	char text[64];
	(void)state;

	for (size_t i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "smtp_vrfy %s\n", yes[i]);
		load_ok(text, &c);
		assert_true(c.smtp_vrfy);
		conf_free(&c);
		snprintf(text, sizeof(text), "smtp_vrfy %s\n", no[i]);
		load_ok(text, &c);
		assert_false(c.smtp_vrfy);
		conf_free(&c);
	}
	load_ok("list_dmarc_rewrite always\nsmtp_bare_lf reject\n", &c);
	assert_int_equal(c.list_dmarc_rewrite, DMARC_REWRITE_ALWAYS);
	assert_int_equal(c.smtp_bare_lf, BARE_LF_REJECT);
	conf_free(&c);
	load_ok("log syslog\n", &c);
	assert_int_equal(c.log_target, LOG_TO_SYSLOG);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	conf_free(&c);
	load_ok("log stderr warning\n", &c);
	assert_int_equal(c.log_level, LOG_LEVEL_WARN);
	conf_free(&c);
	/* TLS listeners are fine once cert and key are there. */
	load_ok("tls_cert c\ntls_key k\nsmtps_listen 127.0.0.1:465\n", &c);
	assert_int_equal(c.listen[0].role, ROLE_SMTPS);
	conf_free(&c);
}

/* ---- CIDR matching ------------------------------------------------------ */

static struct sockaddr_storage
addr4(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
addr6(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
	return ss;
}

static bool
match(const char *net_s, const char *addr)
{
	struct cidr net;
	struct sockaddr_storage ss;

	assert_int_equal(parse_cidr(net_s, &net), 0);
	ss = strchr(addr, ':') ? addr6(addr) : addr4(addr);
	return cidr_match(&net, (const struct sockaddr *)&ss);
}

static void
test_cidr_match(void **state)
{
	(void)state;

	/* IPv4 */
	assert_true(match("127.0.0.0/8", "127.0.0.1"));
	assert_true(match("127.0.0.0/8", "127.255.255.255"));
	assert_false(match("127.0.0.0/8", "128.0.0.1"));
	assert_true(match("192.168.1.7", "192.168.1.7"));
	assert_false(match("192.168.1.7", "192.168.1.8"));
	assert_true(match("10.0.0.0/9", "10.127.0.1"));
	assert_false(match("10.0.0.0/9", "10.128.0.1"));
	assert_true(match("10.1.2.3/31", "10.1.2.2"));
	assert_false(match("10.1.2.3/32", "10.1.2.2"));
	assert_true(match("0.0.0.0/0", "203.0.113.9"));
	/* IPv6 */
	assert_true(match("::1", "::1"));
	assert_false(match("::1", "::2"));
	assert_true(match("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(match("2001:db8::/32", "2001:db9::1"));
	assert_true(match("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(match("2001:db8::/33", "2001:db8:8000::1"));
	assert_true(match("::/0", "fe80::1"));
	/* families do not mix... */
	assert_false(match("::/0", "127.0.0.1"));
	assert_false(match("0.0.0.0/0", "::1"));
	/* ...except an IPv4 client seen through an IPv6 socket */
	assert_true(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_true(match("192.0.2.0/24", "::ffff:192.0.2.200"));
	assert_false(match("192.0.2.0/24", "::ffff:192.0.3.1"));
	assert_false(match("192.0.2.0/24", "::192.0.2.1"));
	/* An IPv6 network written with a mapped address matches as IPv6. */
	assert_true(match("::ffff:0:0/96", "::ffff:10.0.0.1"));
}

static void
test_parse_listen_addr_direct(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	(void)state;

	assert_int_equal(parse_listen_addr("[::1]:25", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 25);
	assert_int_equal(parse_listen_addr("[fe80::1%eth0]:25", &ss, &len),
	    -1);
	assert_int_equal(parse_listen_addr("1.2.3.4:65535", &ss, &len), 0);
	assert_int_equal(parse_listen_addr("1.2.3.4:1", &ss, &len), 0);
	assert_int_equal(parse_listen_addr("1.2.3.4:25x", &ss, &len), -1);
	assert_int_equal(parse_listen_addr("1.2.3.4:-25", &ss, &len), -1);
	assert_int_equal(parse_listen_addr("1.2.3.4:99999999999999999999",
	    &ss, &len), -1);
	assert_int_equal(parse_listen_addr("", &ss, &len), -1);
	assert_int_equal(parse_listen_addr("[", &ss, &len), -1);
	assert_int_equal(parse_listen_addr("[]", &ss, &len), -1);
	assert_int_equal(parse_listen_addr(
	    "[1111:2222:3333:4444:5555:6666:7777:8888:9999]:25", &ss, &len),
	    -1);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(pool_name(POOL_SMTP), "smtp");
	assert_string_equal(pool_name(POOL_QUEUE), "queue");
	assert_string_equal(pool_name((enum pool_id)99), "?");
	assert_string_equal(role_name(ROLE_SUBMISSION), "submission");
	assert_string_equal(role_name((enum listen_role)-1), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_failure_leaves_output_untouched),
		cmocka_unit_test(test_error_names_full_path),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_size_duration_suffixes),
		cmocka_unit_test(test_repeatable_keys_accumulate),
		cmocka_unit_test(test_many_words_on_one_line),
		cmocka_unit_test(test_words_per_line_limit),
		cmocka_unit_test(test_setter_edges),
		cmocka_unit_test(test_enum_and_bool_values),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_parse_listen_addr_direct),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
