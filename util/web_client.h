/*
 * web_client.h - the small HTTP(S) client of tellsmtp -H: one request to
 * the web manager's API (webd/, man dmail-webd) with a bearer token.
 *
 * web_client_call(url, token, method, path, &status, body, err): url is
 * "https://HOST:PORT" (or "http://HOST:PORT" for a loopback address);
 * the server's certificate is verified against $DMAIL_WEB_CA when set,
 * else the system's CAs, and its name against HOST. Returns 0 with the
 * HTTP status and the response body (at most WEB_CLIENT_MAX bytes), or
 * -1 with a sentence in err (connect, TLS, verification, timeout).
 *
 * json_string_field(json, name, out): the value of the first string
 * field "name" of a flat JSON object, unescaped, into out (empty when
 * absent): enough for the API's {"ok":..,"output":"..."} answers.
 */
#ifndef DMAIL_WEB_CLIENT_H
#define DMAIL_WEB_CLIENT_H

#include "buf.h"

#define WEB_CLIENT_MAX (4 * 1024 * 1024)
#define WEB_CLIENT_TIMEOUT_S 30

int web_client_call(const char *url, const char *token, const char *method,
    const char *path, int *status, struct buf *body, struct buf *err);
void json_string_field(const char *json, const char *name, struct buf *out);

#endif
