/*
 * smtp_auth.c - the AUTH command (RFC 4954) with the PLAIN (RFC 4616)
 * and LOGIN mechanisms, and the strict base64 they need (RFC 4648).
 *
 * Replies: 235 2.7.0 success; 535 5.7.8 bad credentials (also disabled
 * accounts, so nobody learns which accounts exist); 454 4.7.0 when the
 * user database fails; 538 5.7.11 when AUTH is tried without TLS off
 * loopback; 504 5.5.4 unknown mechanism; 501 5.7.0 when the client
 * cancels with "*"; 501 5.5.2 undecodable base64; 500 5.5.6 for an
 * over-long exchange line.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "smtpd.h"

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
smtp_b64_decode(const char *in, size_t len, struct buf *out)
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
smtp_b64_encode(const void *in, size_t len, struct buf *out)
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
smtp_sasl_plain_split(const char *data, size_t len, const char **authzid,
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

enum auth_step {
	AUTH_STEP_OK = 0,
	AUTH_STEP_REPLIED,     /* a reply was sent; the exchange is over */
	AUTH_STEP_CLOSED,      /* connection gone or timed out */
};

/* Sends a 334 challenge and reads the base64 response into out. */
static enum auth_step
auth_exchange(struct smtp_session *ss, const char *challenge,
    struct buf *out)
{
	enum line_ending ending;
	int rc;

	stream_printf(ss->s, "334 %s\r\n", challenge);
	rc = stream_read_line(ss->s, &ss->line, SMTP_AUTH_LINE_MAX, &ending);
	if (rc == STREAM_TOOLONG) {
		smtp_reply(ss, 500, "5.5.6",
		    "Authentication Exchange line is too long");
		return AUTH_STEP_REPLIED;
	}
	if (rc != STREAM_OK) {
		smtp_io_failed(ss, rc, "AUTH");
		return AUTH_STEP_CLOSED;
	}
	if (strcmp(buf_cstr(&ss->line), "*") == 0) {
		smtp_reply(ss, 501, "5.7.0", "Authentication cancelled");
		return AUTH_STEP_REPLIED;
	}
	if (smtp_b64_decode(buf_cstr(&ss->line), ss->line.len, out) != 0) {
		smtp_reply(ss, 501, "5.5.2", "Cannot decode response");
		return AUTH_STEP_REPLIED;
	}
	return AUTH_STEP_OK;
}

/* Checks a login and password against the user database and replies. */
static void
auth_verify(struct smtp_session *ss, const char *mech, const char *login,
    const char *password)
{
	char address[USERDB_ADDRESS_MAX + 1];
	struct user_record rec;
	const char *why = "bad password";
	int found;

	if (userdb_login_address(ss->conf, login, address,
	    sizeof(address)) != 0) {
		why = "bad login name";
		goto fail;
	}
	found = userdb_lookup(ss->sd->udb, address, &rec);
	if (found < 0) {
		log_error("sid=%s action=auth mech=%s user=%s status=tempfail "
		    "reason=\"user database failure\"", ss->ws->id, mech,
		    address);
		smtp_reply(ss, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	if (found == 0)
		why = "no such account";
	else if (!rec.enabled)
		why = "account disabled";
	else if (userdb_check_password(&rec, password)) {
		snprintf(ss->auth_user, sizeof(ss->auth_user), "%s", address);
		explicit_bzero(&rec, sizeof(rec));
		log_info("sid=%s action=auth mech=%s user=%s client=%s "
		    "status=ok", ss->ws->id, mech, address, ss->ws->peer_ip);
		smtp_reply(ss, 235, "2.7.0", "Authentication successful");
		return;
	}
	explicit_bzero(&rec, sizeof(rec));
fail:
	ss->auth_failures++;
	log_info("sid=%s action=auth mech=%s user=\"%.64s\" client=%s "
	    "status=failed reason=\"%s\"", ss->ws->id, mech, login,
	    ss->ws->peer_ip, why);
	smtp_reply(ss, 535, "5.7.8", "Authentication credentials invalid");
}

void
smtp_cmd_auth(struct smtp_session *ss, const char *arg)
{
	struct buf resp = BUF_INIT, user = BUF_INIT;
	char mech[32];
	const char *initial, *authzid, *authcid, *passwd;
	size_t n;
	enum auth_step st;

	if (!stream_is_tls(ss->s) && !ss->ws->peer_loopback) {
		smtp_reply(ss, 538, "5.7.11", "Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	if (ss->sd->udb == NULL) {
		smtp_reply(ss, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	n = strcspn(arg, " ");
	if (n == 0 || n >= sizeof(mech)) {
		smtp_reply(ss, 501, "5.5.4", "Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	initial = arg + n;
	while (*initial == ' ')
		initial++;
	if (*initial == '\0')
		initial = NULL;

	if (strcasecmp(mech, "PLAIN") == 0) {
		if (initial == NULL) {
			if ((st = auth_exchange(ss, "", &resp)) != AUTH_STEP_OK)
				goto out;
		} else if (strcmp(initial, "=") == 0) {
			buf_reset(&resp);   /* empty initial response */
		} else if (strcmp(initial, "*") == 0) {
			smtp_reply(ss, 501, "5.7.0", "Authentication cancelled");
			goto out;
		} else if (smtp_b64_decode(initial, strlen(initial),
		    &resp) != 0) {
			smtp_reply(ss, 501, "5.5.2", "Cannot decode response");
			goto out;
		}
		if (smtp_sasl_plain_split(resp.data ? resp.data : "",
		    resp.len, &authzid, &authcid, &passwd) != 0) {
			smtp_reply(ss, 501, "5.5.2",
			    "Malformed PLAIN response");
			goto out;
		}
		if (*authzid != '\0' && strcmp(authzid, authcid) != 0) {
			/* No proxy authorisation: treat as invalid. */
			ss->auth_failures++;
			smtp_reply(ss, 535, "5.7.8",
			    "Authentication credentials invalid");
			goto out;
		}
		auth_verify(ss, "PLAIN", authcid, passwd);
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		if (initial != NULL) {
			if (strcmp(initial, "*") == 0) {
				smtp_reply(ss, 501, "5.7.0",
				    "Authentication cancelled");
				goto out;
			}
			if (smtp_b64_decode(initial, strlen(initial),
			    &user) != 0) {
				smtp_reply(ss, 501, "5.5.2",
				    "Cannot decode response");
				goto out;
			}
		} else {
			/* "Username:" */
			st = auth_exchange(ss, "VXNlcm5hbWU6", &user);
			if (st != AUTH_STEP_OK)
				goto out;
		}
		/* "Password:" */
		if ((st = auth_exchange(ss, "UGFzc3dvcmQ6", &resp)) !=
		    AUTH_STEP_OK)
			goto out;
		if (user.len == 0 || memchr(user.data, '\0', user.len) ||
		    resp.len == 0 || memchr(resp.data, '\0', resp.len)) {
			ss->auth_failures++;
			smtp_reply(ss, 535, "5.7.8",
			    "Authentication credentials invalid");
			goto out;
		}
		auth_verify(ss, "LOGIN", user.data, resp.data);
	} else {
		smtp_reply(ss, 504, "5.5.4",
		    "Unrecognized authentication type");
	}
out:
	if (resp.data != NULL)
		explicit_bzero(resp.data, resp.cap);
	buf_free(&resp);
	buf_free(&user);
	if (ss->line.data != NULL)
		explicit_bzero(ss->line.data, ss->line.len);
}
