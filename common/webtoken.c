/*
 * webtoken.c - API tokens of the web manager, stored hashed (see
 * webtoken.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "util.h"
#include "webtoken.h"

void
random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];
	size_t got = 0;

	log_assert(nbytes <= sizeof(raw));
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	out[2 * nbytes] = '\0';
}

void
sha256_hex(const char *s, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	if (EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) != 1 ||
	    len != 32)
		log_panic("EVP_Digest sha256 failed");
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

static void
tokens_path(const struct dmail_conf *conf, const char *suffix,
    struct buf *out)
{
	conf_state_path(conf, "db/web-tokens", out);
	buf_append_str(out, suffix);
}

int
webtoken_create(const struct dmail_conf *conf, const char *scope,
    struct buf *token, struct buf *err)
{
	struct buf path = BUF_INIT, lock = BUF_INIT, text = BUF_INIT;
	char rnd[2 * WEBTOKEN_RANDOM + 1], hash[65];
	int fd, rc = -1;

	tokens_path(conf, "", &path);
	tokens_path(conf, ".lock", &lock);
	fd = open(lock.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		buf_printf(err, "%s: %s", lock.data, strerror(errno));
		goto out;
	}
	if (read_file(path.data, &text, WEBTOKEN_FILE_MAX) < 0 &&
	    errno != ENOENT) {
		buf_printf(err, "%s: %s", path.data, strerror(errno));
		goto out;
	}
	random_hex(rnd, WEBTOKEN_RANDOM);
	buf_reset(token);
	buf_printf(token, "%s%s", WEBTOKEN_PREFIX, rnd);
	sha256_hex(token->data, hash);
	buf_printf(&text, "%s %s %lld\n", hash, scope, (long long)time(NULL));
	if (write_file_durable(path.data, text.data, text.len, 0600) < 0) {
		buf_printf(err, "%s: %s", path.data, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_free(&path);
	buf_free(&lock);
	buf_free(&text);
	return rc;
}

int
webtoken_check(const struct dmail_conf *conf, const char *token,
    struct buf *scope, struct buf *err)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	char hash[65];
	const char *line;
	int rc = 0;

	if (strncmp(token, WEBTOKEN_PREFIX, strlen(WEBTOKEN_PREFIX)) != 0)
		return 0;
	tokens_path(conf, "", &path);
	if (read_file(path.data, &text, WEBTOKEN_FILE_MAX) < 0) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc < 0)
			buf_printf(err, "%s: %s", path.data, strerror(errno));
		goto out;
	}
	sha256_hex(token, hash);
	for (line = buf_cstr(&text); *line != '\0';
	    line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0')) {
		const char *sc = line + 65;
		size_t n;

		if (strncmp(line, hash, 64) != 0 || line[64] != ' ')
			continue;
		n = strcspn(sc, " \n");
		buf_reset(scope);
		buf_append(scope, sc, n);
		rc = 1;
		break;
	}
out:
	buf_free(&path);
	buf_free(&text);
	return rc;
}
