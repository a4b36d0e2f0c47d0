-- contrib/pgsql/schema.sql - DMail accounts in PostgreSQL
-- (userdb_backend pgsql, dmail.conf(5)). The default pgsql_*_query keys
-- read and write this table; with your own table, set the queries and
-- name the columns as below (SELECT ... AS address, ...).
--
--   psql -d dmail -f schema.sql
--
-- address         lower-case user@domain (the key of every lookup)
-- password        crypt(3) hash ($y$, $6$, ...); '' or '!...' = no login
-- apop_secret     APOP shared secret, '' = none
-- mailbox         absolute Maildir path, '' = state_dir/mail/DOMAIN/USER
-- quota_bytes     0 = unlimited
-- quota_messages  0 = unlimited
-- enabled         false: RCPT gets 550 5.2.1 and logins are refused
--
-- Local domains and aliases (pgsql_domain_query, pgsql_alias_query) are
-- in the tables domains and aliases below: a row added there is used by
-- every node at its next lookup (at most userdb_cache_negative_ttl
-- later), without a reload; they add to local_domains and the aliases of
-- dmail.conf and the aliases file, which are consulted first.
--
-- domains.domain    a lower-case domain whose mail is delivered here
-- aliases.address   lower-case user@domain, or @domain (the catch-all of
--                   that domain); one row per target
-- aliases.target    where the mail goes: an account, another alias, a
--                   list, or a remote address (a forward); a row whose
--                   target is the address itself keeps a copy in its
--                   own mailbox
--
-- DMail never writes domains or aliases: keep them with your own tools.
-- Tables made by an older schema.sql: run this file again (IF NOT EXISTS).
--
-- The workers only SELECT; give them a role with SELECT on users,
-- domains and aliases, and
-- dmail-user (add, passwd, del, import ...) one with INSERT, UPDATE and
-- DELETE as well.
CREATE TABLE IF NOT EXISTS users (
	address        text PRIMARY KEY CHECK (address = lower(address)
	                                      AND address LIKE '%_@_%'),
	password       text NOT NULL DEFAULT '',
	apop_secret    text NOT NULL DEFAULT '',
	mailbox        text NOT NULL DEFAULT '',
	quota_bytes    bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
	quota_messages bigint NOT NULL DEFAULT 0 CHECK (quota_messages >= 0),
	enabled        boolean NOT NULL DEFAULT true
);

CREATE TABLE IF NOT EXISTS domains (
	domain text PRIMARY KEY CHECK (domain = lower(domain) AND domain <> '')
);

CREATE TABLE IF NOT EXISTS aliases (
	address text NOT NULL CHECK (address = lower(address)
	                             AND address LIKE '%@_%'),
	target  text NOT NULL CHECK (target <> '' AND position(',' IN target) = 0),
	PRIMARY KEY (address, target)
);
