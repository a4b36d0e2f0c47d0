/*
 * dmail_dkim.c - dmail-dkim, DKIM keys and signatures for the operator.
 *
 *   dmail-dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--bits N]
 *                     [--out FILE]
 *       writes a new private key (PKCS#8 PEM, mode 0600; default
 *       ./DOMAIN.SELECTOR.key, refusing to overwrite) and prints the DNS
 *       TXT record to publish at SELECTOR._domainkey.DOMAIN.
 *   dmail-dkim record KEYFILE DOMAIN SELECTOR
 *       prints that record again for an existing key.
 *   dmail-dkim sign KEYFILE DOMAIN SELECTOR < MESSAGE
 *       prints the message with a DKIM-Signature field on top, as
 *       dmail-smtpd signs it (common/dkim.h); for checking a key and a
 *       DNS record with any verifier.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dkim.h"
#include "tool.h"
#include "util.h"

#define DKIM_MESSAGE_MAX (64 * 1024 * 1024)
#define TXT_STRING_MAX 255      /* one character-string of a TXT record */

static const char *const usage_lines[] = {
	"keygen DOMAIN SELECTOR [--type rsa|ed25519] [--bits N] [--out FILE]",
	"record KEYFILE DOMAIN SELECTOR",
	"sign KEYFILE DOMAIN SELECTOR < MESSAGE",
	NULL
};

static struct tool tool = {
	.name = "dmail-dkim",
	.usage = usage_lines,
	.usage_status = 2,
	.conf_status = 1,
	.log_level = LOG_LEVEL_WARN,
};

static void
usage(void)
{
	tool_usage(&tool);
}

static void
fail(const char *what, const struct buf *err)
{
	tool_error(&tool, "%s: %s", what, buf_cstr(err));
	exit(1);
}

/* A zone-file line: the record in strings of at most 255 bytes. */
static void
print_record(const struct dkim_key *k, const char *domain,
    const char *selector)
{
	struct buf rec = BUF_INIT, err = BUF_INIT;

	if (dkim_dns_record(k, &rec, &err) < 0)
		fail("public key", &err);
	printf("%s._domainkey.%s. IN TXT (", selector, domain);
	for (size_t i = 0; i < rec.len; i += TXT_STRING_MAX)
		printf(" \"%.*s\"", (int)(rec.len - i < TXT_STRING_MAX ?
		    rec.len - i : TXT_STRING_MAX), rec.data + i);
	printf(" )\n");
	buf_free(&rec);
	buf_free(&err);
}

static int
cmd_keygen(int argc, char **argv)
{
	const char *type = "rsa", *out = NULL;
	struct buf path = BUF_INIT, err = BUF_INIT;
	struct dkim_key *k;
	struct stat st;
	int bits = 2048;

	if (argc < 2)
		usage();
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--type") == 0)
			type = argv[i + 1];
		else if (strcmp(argv[i], "--bits") == 0)
			bits = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--out") == 0)
			out = argv[i + 1];
		else
			usage();
	}
	if (out == NULL)
		buf_printf(&path, "%s.%s.key", argv[0], argv[1]);
	else
		buf_append_str(&path, out);
	if (stat(path.data, &st) == 0) {
		tool_error(&tool, "%s exists; not overwritten", path.data);
		buf_free(&path);
		return 1;
	}
	if ((k = dkim_key_generate(type, bits, &err)) == NULL)
		fail("keygen", &err);
	if (dkim_key_save(k, path.data, &err) < 0)
		fail("keygen", &err);
	tool_error(&tool, "private key in %s (keep it secret; the server's "
	    "run_as user must be able to read it)", path.data);
	print_record(k, argv[0], argv[1]);
	dkim_key_free(k);
	buf_free(&path);
	return 0;
}

static struct dkim_key *
load(const char *path)
{
	struct buf err = BUF_INIT;
	struct dkim_key *k = dkim_key_load(path, &err);

	if (k == NULL)
		fail("key", &err);
	return k;
}

static int
cmd_sign(int argc, char **argv)
{
	struct buf msg = BUF_INIT, sig = BUF_INIT, err = BUF_INIT;
	struct dkim_key *k;
	char chunk[IO_CHUNK];
	size_t n;

	if (argc != 3)
		usage();
	k = load(argv[0]);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (msg.len + n > DKIM_MESSAGE_MAX) {
			tool_error(&tool, "message larger than 64 MB");
			return 1;
		}
		buf_append(&msg, chunk, n);
	}
	if (dkim_sign(k, argv[1], argv[2], time(NULL), msg.data != NULL ?
	    msg.data : "", msg.len, &sig, &err) < 0)
		fail("sign", &err);
	fwrite(sig.data, 1, sig.len, stdout);
	fwrite(msg.data != NULL ? msg.data : "", 1, msg.len, stdout);
	dkim_key_free(k);
	buf_free(&msg);
	buf_free(&sig);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	tool_start(&tool, argc, argv);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 2, argv + 2);
	if (strcmp(argv[1], "record") == 0) {
		struct dkim_key *k;

		if (argc != 5)
			usage();
		k = load(argv[2]);
		print_record(k, argv[3], argv[4]);
		dkim_key_free(k);
		return 0;
	}
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 2, argv + 2);
	usage();
	return 2;
}
