/*
 * addr.h - RFC 5321 paths and mailboxes: "<user@example.com>", "<>",
 * "<\"john doe\"@example.com>", "<@relay1,@relay2:user@example.com>",
 * "<user@[192.0.2.1]>", "<user@[IPv6:2001:db8::1]>".
 *
 * addr_parse_path() parses one Path (RFC 5321 4.1.2) at the start of a
 * string and stops after its closing '>'. A source route (A-d-l) is
 * accepted and ignored, as RFC 5321 C says servers SHOULD. Limits of
 * RFC 5321 4.5.3.1: local part 64 octets, domain 255, path 256 including
 * the angle brackets. UTF-8 in local parts and domain labels is allowed
 * only with ADDR_UTF8 (the client said SMTPUTF8, RFC 6531), and must be
 * well-formed.
 *
 * The result is the mailbox as written, without <> and without the
 * source route ("" for the null path). The local part keeps its exact
 * spelling, with one exception: a quoted local part whose content is a
 * plain Dot-string loses its quotes ("alice"@x is alice@x, the same
 * mailbox by RFC 5321 4.1.2); one that needs them ("john doe") stays
 * quoted. Nothing is lower-cased.
 */
#ifndef DMAIL_ADDR_H
#define DMAIL_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256

/* Flags for addr_parse_path(). */
#define ADDR_ALLOW_NULL 0x01        /* "<>" is valid (reverse-path) */
#define ADDR_ALLOW_POSTMASTER 0x02  /* "<Postmaster>" without domain */
#define ADDR_UTF8 0x04              /* SMTPUTF8 given: UTF-8 allowed */

enum addr_status {
	ADDR_OK = 0,
	ADDR_SYNTAX,          /* not a Path */
	ADDR_LOCAL_TOOLONG,   /* local part over 64 octets */
	ADDR_DOMAIN_TOOLONG,  /* domain over 255 octets */
	ADDR_PATH_TOOLONG,    /* path over 256 octets */
	ADDR_NEEDS_UTF8,      /* non-ASCII without SMTPUTF8 */
};

struct mailbox {
	char addr[ADDR_PATH_MAX + 1];   /* "local@domain", "" for <> */
	size_t local_len;               /* octets of the local part */
	const char *domain;             /* inside addr; "" when none */
	bool null;                      /* the null path <> */
	bool postmaster;                /* bare <Postmaster> */
	bool utf8;                      /* contains non-ASCII */
};

/* Parse a Path at s. On ADDR_OK fills *mb and sets *end (if not NULL) to
 * the first character after '>'. */
enum addr_status addr_parse_path(const char *s, unsigned flags,
    struct mailbox *mb, const char **end);

/* Checks a Domain (or address literal when literal is true) of length
 * len; used by HELO/EHLO too. */
bool addr_valid_domain(const char *s, size_t len, bool utf8);
bool addr_valid_literal(const char *s, size_t len);

/* Human readable reason for a status, for replies and logs. */
const char *addr_status_str(enum addr_status st);

#endif
