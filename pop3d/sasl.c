/*
 * sasl.c - base64 (RFC 4648) and the SASL PLAIN message (RFC 4616), as
 * used by AUTH PLAIN (RFC 5034).
 */
#include "config.h"

#include <string.h>

#include "pop3d.h"

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(const char *in, struct buf *out)
{
	size_t n = strlen(in);

	buf_reset(out);
	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int j = 0; j < 4; j++) {
			unsigned char c = in[i + j];

			if (c == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = b64_value(c)) < 0)
				return -1;
		}
		unsigned long w = ((unsigned long)v[0] << 18) | (v[1] << 12) |
		    (v[2] << 6) | v[3];
		char bytes[3] = { (char)(w >> 16), (char)(w >> 8), (char)w };
		buf_append(out, bytes, 3 - pad);
	}
	return 0;
}

int
sasl_plain_split(const struct buf *msg, const char **authzid,
    const char **authcid, const char **passwd)
{
	const char *p = msg->data, *end = msg->data + msg->len;
	const char *nul1, *nul2;

	if (msg->len == 0)
		return -1;
	nul1 = memchr(p, '\0', msg->len);
	if (nul1 == NULL)
		return -1;
	nul2 = memchr(nul1 + 1, '\0', end - nul1 - 1);
	if (nul2 == NULL || memchr(nul2 + 1, '\0', end - nul2 - 1) != NULL)
		return -1;
	if (nul2 == nul1 + 1 || nul2 + 1 == end)
		return -1;          /* empty authcid or password */
	*authzid = p;
	*authcid = nul1 + 1;
	*passwd = nul2 + 1;     /* msg is NUL-terminated by struct buf */
	return 0;
}
