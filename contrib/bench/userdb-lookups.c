/*
 * userdb-lookups.c - account lookups per second through userdb.h, as a
 * worker makes them at each login and RCPT: one process, one connection
 * to the directory (bdb: the users.db file), the worker cache on or off
 * as dmail.conf says (userdb_cache_ttl 0: every lookup reaches the
 * backend).
 *
 *   userdb-lookups CONF ADDRFMT USERS SECONDS
 *
 * looks up ADDRFMT with %d replaced by 1..USERS round-robin for SECONDS
 * seconds and prints "lookups=N seconds=S per_second=R failed=F
 * missing=M". Built and run by contrib/bench/directory.py against the
 * build tree's libdmail.a; not part of DMail and not installed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "log.h"
#include "userdb.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct dmail_conf conf;
	struct buf err = BUF_INIT;
	struct user_record rec;
	struct userdb *db;
	char addr[USERDB_ADDRESS_MAX + 1];
	unsigned long users, n = 0, failed = 0, missing = 0;
	int64_t start, end;

	if (argc != 5) {
		fprintf(stderr, "usage: userdb-lookups CONF ADDRFMT USERS "
		    "SECONDS\n");
		return 2;
	}
	log_open("userdb-lookups", LOG_TO_STDERR, LOG_LEVEL_WARN);
	if (conf_load_file(argv[1], &conf, &err) < 0) {
		fprintf(stderr, "%s", buf_cstr(&err));
		return 1;
	}
	users = strtoul(argv[3], NULL, 10);
	db = userdb_open(&conf, USERDB_READ, &err);
	if (db == NULL || users == 0) {
		fprintf(stderr, "userdb_open: %s\n", buf_cstr(&err));
		return 1;
	}
	start = now_ms();
	end = start + atoi(argv[4]) * 1000;
	do {
		for (int k = 0; k < 100; k++, n++) {
			snprintf(addr, sizeof(addr), argv[2],
			    (int)(n % users + 1));
			switch (userdb_lookup(db, addr, &rec)) {
			case 1: break;
			case 0: missing++; break;
			default: failed++; break;
			}
		}
	} while (now_ms() < end);
	printf("lookups=%lu seconds=%.2f per_second=%.0f failed=%lu "
	    "missing=%lu\n", n, (double)(now_ms() - start) / 1000,
	    (double)n * 1000 / (double)(now_ms() - start), failed, missing);
	userdb_close(db);
	conf_free(&conf);
	return 0;
}
