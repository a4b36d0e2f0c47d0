/*
 * psl.c - public suffix list and organizational domains (see psl.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "psl.h"
#include "util.h"

/* Longest list accepted (Debian's is about 230 KB). */
#define PSL_FILE_MAX (8 * 1024 * 1024)

struct psl {
	char **rules;          /* "com", "*.ck", "!www.ck": lower case */
	size_t count;
};

static int
rule_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct psl *
psl_parse(const char *text, size_t len)
{
	struct psl *p = xcalloc(1, sizeof(*p));
	const char *s = text, *end = text + len;
	size_t cap = 0;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl != NULL ? nl : end;
		size_t n = 0;

		/* the rule is the line up to the first blank */
		while (s + n < le && s[n] != ' ' && s[n] != '\t' &&
		    s[n] != '\r')
			n++;
		if (n > 0 && n < 256 && !(n >= 2 && s[0] == '/' &&
		    s[1] == '/')) {
			if (p->count == cap) {
				cap = cap ? cap * 2 : 1024;
				p->rules = xrealloc(p->rules,
				    cap * sizeof(*p->rules));
			}
			p->rules[p->count] = xstrndup(s, n);
			str_lower(p->rules[p->count++]);
		}
		s = nl != NULL ? nl + 1 : end;
	}
	if (p->count > 0)
		qsort(p->rules, p->count, sizeof(*p->rules), rule_cmp);
	return p;
}

struct psl *
psl_load(const char *path, struct buf *err)
{
	struct buf text = BUF_INIT;
	struct psl *p;

	if (read_file(path, &text, PSL_FILE_MAX) < 0) {
		buf_printf(err, "%s: cannot read the public suffix list",
		    path);
		buf_free(&text);
		return NULL;
	}
	p = psl_parse(buf_cstr(&text), text.len);
	buf_free(&text);
	return p;
}

void
psl_free(struct psl *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->count; i++)
		free(p->rules[i]);
	free(p->rules);
	free(p);
}

static bool
has_rule(const struct psl *p, const char *prefix, const char *name)
{
	char key[512];
	const char *k = key;

	if (p == NULL || p->count == 0)
		return false;
	if (snprintf(key, sizeof(key), "%s%s", prefix, name) >=
	    (int)sizeof(key))
		return false;
	return bsearch(&k, p->rules, p->count, sizeof(*p->rules),
	    rule_cmp) != NULL;
}

void
psl_org_domain(const struct psl *p, const char *domain, struct buf *out)
{
	const char *labels[128];
	size_t n = 0, suffix_at;
	const char *d = domain;

	/* labels[i]: where the name from label i on starts */
	while (n < 128) {
		labels[n++] = d;
		if ((d = strchr(d, '.')) == NULL)
			break;
		d++;
	}
	suffix_at = n - 1;             /* the implicit rule "*" */
	for (size_t i = 0; i < n; i++) {
		if (has_rule(p, "!", labels[i])) {
			suffix_at = i + 1 < n ? i + 1 : i;
			break;
		}
		if (has_rule(p, "", labels[i]) || (i + 1 < n &&
		    has_rule(p, "*.", labels[i + 1]))) {
			suffix_at = i;
			break;
		}
	}
	buf_reset(out);
	buf_append_str(out, labels[suffix_at > 0 ? suffix_at - 1 : 0]);
}
