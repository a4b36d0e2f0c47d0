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
-- The workers only SELECT; give them a role with SELECT on users, and
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
