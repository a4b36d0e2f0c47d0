/*
 * sasl.c - strict base64 and the SASL PLAIN message (see sasl.h).
 */
#include "config.h"

#include <string.h>

#include "sasl.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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
base64_decode(const char *in, size_t len, struct buf *out)
{
	size_t i;

	buf_reset(out);
	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		int v[4], j, pad = 0;
		for (j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + j];
			if (c == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = b64_value(c)) < 0)
				return -1;
		}
		/* RFC 4648 3.5: the bits a pad leaves over must be zero,
		 * or two texts decode to the same bytes ("YQ==", "YR=="). */
		if ((pad == 2 && (v[1] & 15) != 0) ||
		    (pad == 1 && (v[2] & 3) != 0))
			return -1;
		buf_append_char(out, (char)(v[0] << 2 | v[1] >> 4));
		if (pad < 2)
			buf_append_char(out, (char)((v[1] & 15) << 4 |
			    v[2] >> 2));
		if (pad < 1)
			buf_append_char(out, (char)((v[2] & 3) << 6 | v[3]));
	}
	return 0;
}

void
base64_encode(const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		buf_append_char(out, b64_alphabet[p[i] >> 2]);
		buf_append_char(out, b64_alphabet[(p[i] & 3) << 4 |
		    p[i + 1] >> 4]);
		buf_append_char(out, b64_alphabet[(p[i + 1] & 15) << 2 |
		    p[i + 2] >> 6]);
		buf_append_char(out, b64_alphabet[p[i + 2] & 63]);
	}
	if (len - i == 1) {
		buf_append_char(out, b64_alphabet[p[i] >> 2]);
		buf_append_char(out, b64_alphabet[(p[i] & 3) << 4]);
		buf_append_str(out, "==");
	} else if (len - i == 2) {
		buf_append_char(out, b64_alphabet[p[i] >> 2]);
		buf_append_char(out, b64_alphabet[(p[i] & 3) << 4 |
		    p[i + 1] >> 4]);
		buf_append_char(out, b64_alphabet[(p[i + 1] & 15) << 2]);
		buf_append_char(out, '=');
	}
}

int
sasl_plain_split(const char *data, size_t len, const char **authzid,
    const char **authcid, const char **passwd)
{
	const char *nul1, *nul2;

	/* message = [authzid] UTF8NUL authcid UTF8NUL passwd */
	if ((nul1 = memchr(data, '\0', len)) == NULL)
		return -1;
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - data));
	if (nul2 == NULL)
		return -1;
	if (memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - data)) != NULL)
		return -1;
	if (nul2 == nul1 + 1 || nul2 + 1 == data + len)
		return -1;   /* empty authcid or password */
	*authzid = data;
	*authcid = nul1 + 1;
	*passwd = nul2 + 1;
	return 0;
}
