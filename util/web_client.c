/*
 * web_client.c - one HTTP/1.1 request to the web manager's API (see
 * web_client.h). Blocking socket with SO_RCVTIMEO/SO_SNDTIMEO, OpenSSL
 * for https, "Connection: close" and the body read to end-of-file.
 */
#include "config.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "web_client.h"

struct conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

/* "https://HOST:PORT" or "http://[::1]:PORT" -> host, port, tls. */
static int
parse_url(const char *url, char *host, size_t hlen, char *port, size_t plen,
    bool *tls)
{
	const char *h, *p;
	size_t n;

	if (strncmp(url, "https://", 8) == 0) {
		*tls = true;
		h = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		*tls = false;
		h = url + 7;
	} else
		return -1;
	if (*h == '[') {
		p = strchr(h, ']');
		if (p == NULL)
			return -1;
		n = (size_t)(p - h - 1);
		h++;
		p++;
	} else {
		p = h + strcspn(h, ":/");
		n = (size_t)(p - h);
	}
	if (n == 0 || n >= hlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*p == ':') {
		n = strcspn(p + 1, "/");
		if (n == 0 || n >= plen)
			return -1;
		memcpy(port, p + 1, n);
		port[n] = '\0';
	} else
		snprintf(port, plen, "%s", *tls ? "443" : "80");
	return 0;
}

static int
tcp_connect(const char *host, const char *port, struct buf *err)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { WEB_CLIENT_TIMEOUT_S, 0 };
	int fd = -1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		buf_printf(err, "%s: %s", host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		buf_printf(err, "cannot connect to %s port %s", host, port);
	return fd;
}

static int
tls_start(struct conn *c, const char *host, struct buf *err)
{
	const char *ca = getenv("DMAIL_WEB_CA");

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL)
		goto fail;
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if ((ca != NULL ? SSL_CTX_load_verify_locations(c->ctx, ca, NULL) :
	    SSL_CTX_set_default_verify_paths(c->ctx)) != 1)
		goto fail;
	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, host) != 1 ||
	    SSL_set1_host(c->ssl, host) != 1 || SSL_connect(c->ssl) != 1)
		goto fail;
	return 0;
fail:
	buf_printf(err, "TLS: %s", c->ssl != NULL &&
	    SSL_get_verify_result(c->ssl) != X509_V_OK ?
	    X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)) :
	    ERR_reason_error_string(ERR_get_error()));
	return -1;
}

static int
conn_write(struct conn *c, const struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		int n = c->ssl != NULL ?
		    SSL_write(c->ssl, b->data + off, (int)(b->len - off)) :
		    (int)send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int
conn_read_all(struct conn *c, struct buf *out)
{
	char chunk[8192];

	for (;;) {
		int n = c->ssl != NULL ? SSL_read(c->ssl, chunk, sizeof(chunk)) :
		    (int)recv(c->fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			return out->len > 0 ? 0 : -1;
		if (out->len + (size_t)n > WEB_CLIENT_MAX)
			return -1;
		buf_append(out, chunk, (size_t)n);
	}
}

/* Status line and header end of a whole response in raw. */
static int
split_response(const struct buf *raw, int *status, struct buf *body)
{
	const char *s = buf_cstr(raw), *end = strstr(s, "\r\n\r\n");

	if (end == NULL || sscanf(s, "HTTP/1.%*c %d", status) != 1)
		return -1;
	buf_reset(body);
	buf_append(body, end + 4, raw->len - (size_t)(end + 4 - s));
	return 0;
}

int
web_client_call(const char *url, const char *token, const char *method,
    const char *path, int *status, struct buf *body, struct buf *err)
{
	struct conn c = { -1, NULL, NULL };
	struct buf req = BUF_INIT, raw = BUF_INIT;
	char host[256], port[16];
	bool tls;
	int rc = -1;

	if (parse_url(url, host, sizeof(host), port, sizeof(port), &tls) < 0) {
		buf_set(err, "not an http(s)://HOST:PORT address");
		return -1;
	}
	c.fd = tcp_connect(host, port, err);
	if (c.fd < 0 || (tls && tls_start(&c, host, err) < 0))
		goto out;
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: "
	    "Bearer %s\r\nAccept: application/json\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n", method, path, host, token);
	if (conn_write(&c, &req) < 0 || conn_read_all(&c, &raw) < 0 ||
	    split_response(&raw, status, body) < 0) {
		buf_set(err, "no valid HTTP answer");
		goto out;
	}
	rc = 0;
out:
	SSL_free(c.ssl);
	SSL_CTX_free(c.ctx);
	if (c.fd >= 0)
		close(c.fd);
	buf_free(&req);
	buf_free(&raw);
	return rc;
}

void
json_string_field(const char *json, const char *name, struct buf *out)
{
	struct buf key = BUF_INIT;
	const char *s;

	buf_reset(out);
	buf_printf(&key, "\"%s\":\"", name);
	s = json != NULL ? strstr(json, key.data) : NULL;
	buf_free(&key);
	if (s == NULL)
		return;
	for (s += strlen(name) + 4; *s != '\0' && *s != '"'; s++) {
		if (*s != '\\') {
			buf_append_char(out, *s);
			continue;
		}
		switch (*++s) {
		case 'n': buf_append_char(out, '\n'); break;
		case 't': buf_append_char(out, '\t'); break;
		case 'r': buf_append_char(out, '\r'); break;
		case 'u': {
			unsigned v = 0;
			if (sscanf(s + 1, "%4x", &v) == 1 && v < 0x80)
				buf_append_char(out, (char)v);
			s += strspn(s + 1, "0123456789abcdefABCDEF") > 4 ? 4 :
			    strspn(s + 1, "0123456789abcdefABCDEF");
			break;
		}
		case '\0': return;
		default: buf_append_char(out, *s); break;
		}
	}
}
