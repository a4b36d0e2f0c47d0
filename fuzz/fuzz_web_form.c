/*
 * fuzz_web_form.c - libFuzzer target: the request bodies of the web
 * manager that DMail parses itself (webd/): a form
 * (application/x-www-form-urlencoded, web_form_urlencoded()) and a JSON
 * object of the API (web_json_parse()). multipart/form-data is read by
 * libmicrohttpd's post processor and needs a connection: not here.
 *
 * Input: first byte even: a form, odd: JSON; the rest is the body.
 * Checks: at most WEB_MAX_FIELDS fields, each with a name and a value
 * that are C strings no longer than the body (decoding only shortens);
 * a JSON refusal says why.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "webd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_req r;
	const char *why = NULL;
	bool json;

	if (size == 0)
		return 0;
	json = data[0] & 1;
	memset(&r, 0, sizeof(r));
	buf_init(&r.body);
	/* Exactly the body's bytes, as libmicrohttpd hands them over in
	 * pieces: no NUL after them unless the input has one. */
	r.body.data = malloc(size - 1 > 0 ? size - 1 : 1);
	if (r.body.data == NULL)
		abort();
	memcpy(r.body.data, data + 1, size - 1);
	r.body.len = size - 1;
	r.body.cap = size - 1;
	if (json) {
		if (web_json_parse(&r, &why) < 0 && (why == NULL || *why == '\0'))
			abort();
	} else
		web_form_urlencoded(&r);
	if (r.nfields > WEB_MAX_FIELDS)
		abort();
	for (size_t i = 0; i < r.nfields; i++) {
		if (r.fields[i].name == NULL || r.fields[i].value == NULL ||
		    strlen(r.fields[i].name) > r.body.len ||
		    strlen(r.fields[i].value) > r.body.len)
			abort();
	}
	for (size_t i = 0; i < r.nfields; i++) {
		free(r.fields[i].name);
		free(r.fields[i].value);
	}
	free(r.body.data);
	return 0;
}
