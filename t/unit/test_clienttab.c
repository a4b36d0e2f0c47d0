/*
 * test_clienttab.c - cmocka tests of the per-client table
 * (common/clienttab.c): the login penalty per address and per account
 * (thresholds, 1, 2, 4 ... s blocks, the cap, a success clearing only
 * its account), IPv6 /64 keys, forgetting after CLIENTTAB_FORGET_MS,
 * eviction of the least recently used slot when a window is full, the
 * connection bucket, the file shared by two openers and replaced when
 * its layout differs, and concurrency: forked processes hammering one
 * table lose no count, and processes killed at any instant (one of them
 * while holding the lock) never wedge it.
 *
 * Time is passed in explicitly, so nothing here sleeps to test a delay.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clienttab.h"

#define T0 1700000000000LL       /* an arbitrary wall-clock ms */

static char dir[64];
static char path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_clienttab.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/clients", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct clienttab *
open_table(uint32_t nslots)
{
	struct buf err = BUF_INIT;
	struct clienttab *t = clienttab_open(path, nslots, NULL, &err);

	if (t == NULL)
		fail_msg("clienttab_open: %s", buf_cstr(&err));
	buf_free(&err);
	return t;
}

/* An address as a socket address (static storage, one per slot). */
static const struct sockaddr *
addr(const char *text)
{
	static struct sockaddr_storage ss[8];
	static unsigned next;
	struct sockaddr_storage *s = &ss[next++ % 8];

	memset(s, 0, sizeof(*s));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)s;
		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)s;
		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
	}
	return (const struct sockaddr *)s;
}

static enum clienttab_block
attempt(struct clienttab *t, const struct clienttab_policy *pol,
    const char *ip, const char *account, int64_t now, unsigned *retry)
{
	struct clienttab_attempt a;
	enum clienttab_block b;
	unsigned r;

	/* A guess: let through, checked, failed. */
	b = clienttab_auth_begin(t, pol, ip ? addr(ip) : NULL, account, now,
	    &a, retry ? retry : &r);
	if (b == CLIENTTAB_OK)
		clienttab_auth_failure(t, &a);
	return b;
}

static void
test_ip_blocks_grow_and_cap(void **state)
{
	struct clienttab_policy pol = { 3, 0, 5 };
	struct clienttab *t = open_table(1024);
	int64_t now = T0;
	unsigned retry;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(attempt(t, &pol, "192.0.2.1", "v@x", now,
		    NULL), CLIENTTAB_OK);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.1"), NULL, now),
	    3);
	/* Accounts are not counted with a threshold of 0. */
	assert_int_equal(clienttab_failures(t, NULL, "v@x", now), 0);
	/* At the threshold: 1 s from the last failure, uncounted. */
	assert_int_equal(attempt(t, &pol, "192.0.2.1", "v@x", now + 999,
	    &retry), CLIENTTAB_BLOCKED_IP);
	assert_int_equal(retry, 1);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.1"), NULL, now),
	    3);
	/* Other addresses are not concerned. */
	assert_int_equal(attempt(t, &pol, "192.0.2.2", "v@x", now, NULL),
	    CLIENTTAB_OK);
	/* Then 2, 4, 5 (the cap), 5 s. */
	now += 1000;
	for (unsigned want = 2; want <= 16; want *= 2) {
		unsigned cap = want > 5 ? 5 : want;

		assert_int_equal(attempt(t, &pol, "192.0.2.1", NULL, now,
		    NULL), CLIENTTAB_OK);
		assert_int_equal(attempt(t, &pol, "192.0.2.1", NULL, now,
		    &retry), CLIENTTAB_BLOCKED_IP);
		assert_int_equal(retry, cap);
		assert_int_equal(attempt(t, &pol, "192.0.2.1", NULL,
		    now + cap * 1000 - 1, NULL), CLIENTTAB_BLOCKED_IP);
		now += cap * 1000;
	}
	/* A clock set back never blocks longer than one delay. */
	assert_int_equal(attempt(t, &pol, "192.0.2.1", NULL, now, NULL),
	    CLIENTTAB_OK);
	assert_int_equal(attempt(t, &pol, "192.0.2.1", NULL, now - 60000,
	    &retry), CLIENTTAB_BLOCKED_IP);
	assert_true(retry <= 5);
	/* max_delay 0: counted, never refused. */
	pol.max_delay = 0;
	assert_int_equal(attempt(t, &pol, "192.0.2.1", NULL, now, NULL),
	    CLIENTTAB_OK);
	clienttab_close(t);
}

static void
test_success_clears_only_the_account(void **state)
{
	struct clienttab_policy pol = { 4, 3, 30 };
	struct clienttab *t = open_table(1024);
	struct clienttab_attempt a;
	int64_t now = T0;
	unsigned retry;

	(void)state;
	/* Two guesses on the victim, then a login into the owned account
	 * from the same address. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(attempt(t, &pol, "198.51.100.7",
		    "victim@x", now, NULL), CLIENTTAB_OK);
	assert_int_equal(clienttab_auth_begin(t, &pol, addr("198.51.100.7"),
	    "mine@x", now, &a, &retry), CLIENTTAB_OK);
	clienttab_auth_success(t, &a);
	assert_int_equal(clienttab_failures(t, addr("198.51.100.7"), NULL,
	    now), 2);
	assert_int_equal(clienttab_failures(t, NULL, "victim@x", now), 2);
	assert_int_equal(clienttab_failures(t, NULL, "mine@x", now), 0);
	/* Two more guesses reach the address threshold: even the owned
	 * account is refused now, and its password is not looked at. */
	assert_int_equal(attempt(t, &pol, "198.51.100.7", "other@x", now,
	    NULL), CLIENTTAB_OK);
	assert_int_equal(attempt(t, &pol, "198.51.100.7", "other@x", now,
	    NULL), CLIENTTAB_OK);
	assert_int_equal(attempt(t, &pol, "198.51.100.7", "mine@x", now,
	    NULL), CLIENTTAB_BLOCKED_IP);
	/* The victim's account is over its own threshold from anywhere. */
	assert_int_equal(attempt(t, &pol, "203.0.113.9", "victim@x", now,
	    NULL), CLIENTTAB_OK);
	assert_int_equal(attempt(t, &pol, "203.0.113.10", "victim@x", now,
	    &retry), CLIENTTAB_BLOCKED_ACCOUNT);
	assert_int_equal(retry, 1);
	/* Once the block is over, the victim's own success clears it. */
	now += 1000;
	assert_int_equal(clienttab_auth_begin(t, &pol, addr("203.0.113.11"),
	    "victim@x", now, &a, &retry), CLIENTTAB_OK);
	clienttab_auth_success(t, &a);
	assert_int_equal(clienttab_failures(t, NULL, "victim@x", now), 0);
	assert_int_equal(clienttab_failures(t, addr("203.0.113.11"), NULL,
	    now), 0);
	/* An attempt that was not checked (database down) counts nothing. */
	assert_int_equal(clienttab_auth_begin(t, &pol, addr("203.0.113.12"),
	    "victim@x", now, &a, &retry), CLIENTTAB_OK);
	assert_int_equal(clienttab_failures(t, NULL, "victim@x", now), 0);
	assert_int_equal(clienttab_failures(t, addr("203.0.113.12"), NULL,
	    now), 0);
	clienttab_close(t);
}

static void
test_logins_in_flight_are_not_failures(void **state)
{
	struct clienttab_policy pol = { 3, 3, 30 };
	struct clienttab *t = open_table(1024);
	struct clienttab_attempt a[20];
	unsigned retry;
	char acct[16];

	(void)state;
	/* Twenty users behind one address log in at once: none is refused
	 * for the others' logins still being checked. */
	for (int i = 0; i < 20; i++) {
		snprintf(acct, sizeof(acct), "u%d@x", i);
		assert_int_equal(clienttab_auth_begin(t, &pol,
		    addr("192.0.2.50"), acct, T0, &a[i], &retry),
		    CLIENTTAB_OK);
	}
	for (int i = 0; i < 20; i++)
		clienttab_auth_success(t, &a[i]);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.50"), NULL, T0),
	    0);
	/* Failures are counted when the checks end: then it is blocked. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(clienttab_auth_begin(t, &pol,
		    addr("192.0.2.50"), "v@x", T0, &a[i], &retry),
		    CLIENTTAB_OK);
	for (int i = 0; i < 3; i++)
		clienttab_auth_failure(t, &a[i]);
	assert_int_equal(attempt(t, &pol, "192.0.2.50", "u1@x", T0 + 1,
	    NULL), CLIENTTAB_BLOCKED_IP);
	clienttab_close(t);
}

static void
test_keys_ipv6_64_and_mapped(void **state)
{
	struct clienttab_policy pol = { 100, 100, 30 };
	struct clienttab *t = open_table(1024);

	(void)state;
	attempt(t, &pol, "2001:db8:1:2::1", NULL, T0, NULL);
	attempt(t, &pol, "2001:db8:1:2:ffff::9", NULL, T0, NULL);
	attempt(t, &pol, "2001:db8:1:3::1", NULL, T0, NULL);
	assert_int_equal(clienttab_failures(t, addr("2001:db8:1:2::77"), NULL,
	    T0), 2);
	assert_int_equal(clienttab_failures(t, addr("2001:db8:1:3::"), NULL,
	    T0), 1);
	attempt(t, &pol, "192.0.2.200", NULL, T0, NULL);
	assert_int_equal(clienttab_failures(t, addr("::ffff:192.0.2.200"),
	    NULL, T0), 1);
	/* No address: nothing counted for any address. */
	attempt(t, &pol, NULL, "a@x", T0, NULL);
	assert_int_equal(clienttab_failures(t, NULL, "a@x", T0), 1);
	clienttab_close(t);
}

static void
test_forgetting(void **state)
{
	struct clienttab_policy pol = { 2, 2, 30 };
	struct clienttab *t = open_table(1024);
	int64_t later = T0 + CLIENTTAB_FORGET_MS;

	(void)state;
	attempt(t, &pol, "192.0.2.1", "a@x", T0, NULL);
	attempt(t, &pol, "192.0.2.1", "a@x", T0, NULL);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.1"), NULL,
	    later - 1), 2);
	assert_int_equal(clienttab_failures(t, NULL, "a@x", later - 1), 2);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.1"), NULL,
	    later), 0);
	assert_int_equal(clienttab_failures(t, NULL, "a@x", later), 0);
	/* Counting starts again from one. */
	attempt(t, &pol, "192.0.2.1", "a@x", later, NULL);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.1"), NULL,
	    later), 1);
	clienttab_close(t);
}

static void
test_eviction_when_full(void **state)
{
	struct clienttab_policy pol = { 100, 0, 30 };
	/* 16 slots: the probe window is the whole table. */
	struct clienttab *t = open_table(16);
	char ip[32];

	(void)state;
	for (int i = 0; i < 16; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		attempt(t, &pol, ip, NULL, T0 + i, NULL);
		attempt(t, &pol, ip, NULL, T0 + i, NULL);
	}
	for (int i = 0; i < 16; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		assert_int_equal(clienttab_failures(t, addr(ip), NULL, T0 + 20),
		    2);
	}
	/* Full: a new address takes the slot used longest ago. */
	attempt(t, &pol, "198.51.100.1", NULL, T0 + 20, NULL);
	assert_int_equal(clienttab_failures(t, addr("198.51.100.1"), NULL,
	    T0 + 20), 1);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.1"), NULL,
	    T0 + 20), 0);
	for (int i = 1; i < 16; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		assert_int_equal(clienttab_failures(t, addr(ip), NULL, T0 + 20),
		    2);
	}
	/* Refreshed entries survive; the next oldest goes. */
	attempt(t, &pol, "192.0.2.2", NULL, T0 + 30, NULL);
	attempt(t, &pol, "198.51.100.2", NULL, T0 + 31, NULL);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.2"), NULL,
	    T0 + 31), 3);
	assert_int_equal(clienttab_failures(t, addr("192.0.2.3"), NULL,
	    T0 + 31), 0);
	clienttab_close(t);
}

static void
test_free_slots_reused_first(void **state)
{
	struct clienttab_policy pol = { 100, 100, 30 };
	struct clienttab *t = open_table(16);
	struct clienttab_attempt a;
	unsigned retry;
	char ip[32];

	(void)state;
	for (int i = 0; i < 15; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		attempt(t, &pol, ip, NULL, T0 + i, NULL);
	}
	/* The 16th slot: an account, freed again by its success. */
	assert_int_equal(clienttab_auth_begin(t, &pol, NULL, "z@x", T0 + 15,
	    &a, &retry), CLIENTTAB_OK);
	clienttab_auth_success(t, &a);
	attempt(t, &pol, "198.51.100.1", NULL, T0 + 20, NULL);
	for (int i = 0; i < 15; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		assert_int_equal(clienttab_failures(t, addr(ip), NULL, T0 + 20),
		    1);
	}
	assert_int_equal(clienttab_failures(t, addr("198.51.100.1"), NULL,
	    T0 + 20), 1);
	clienttab_close(t);
}

static void
test_connection_bucket(void **state)
{
	struct clienttab *t = open_table(1024);
	const struct sockaddr *a = addr("192.0.2.9");
	unsigned refused;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(clienttab_connection(t, a, 3, T0, &refused));
	assert_false(clienttab_connection(t, a, 3, T0 + 100, &refused));
	assert_int_equal(refused, 1);
	assert_false(clienttab_connection(t, a, 3, T0 + 200, &refused));
	assert_int_equal(refused, 2);
	/* Another address has its own bucket; 0 means no limit. */
	assert_true(clienttab_connection(t, addr("192.0.2.10"), 3, T0, NULL));
	assert_true(clienttab_connection(t, a, 0, T0, NULL));
	/* One more every 20 s; refusals did not use the bucket. */
	assert_false(clienttab_connection(t, a, 3, T0 + 19999, NULL));
	assert_true(clienttab_connection(t, a, 3, T0 + 20000, &refused));
	assert_int_equal(refused, 0);
	assert_false(clienttab_connection(t, a, 3, T0 + 20000, NULL));
	/* A minute of quiet gives the whole burst back. */
	for (int i = 0; i < 3; i++)
		assert_true(clienttab_connection(t, a, 3, T0 + 90000, NULL));
	assert_false(clienttab_connection(t, a, 3, T0 + 90000, NULL));
	clienttab_close(t);
}

static void
test_file_shared_and_replaced(void **state)
{
	struct clienttab_policy pol = { 100, 100, 30 };
	struct clienttab *t1 = open_table(1024), *t2 = open_table(1024), *t3;

	(void)state;
	attempt(t1, &pol, "192.0.2.1", "a@x", T0, NULL);
	assert_int_equal(clienttab_failures(t2, addr("192.0.2.1"), NULL, T0),
	    1);
	assert_int_equal(clienttab_failures(t2, NULL, "a@x", T0), 1);
	/* Another size (an upgrade): the file is replaced, empty. */
	t3 = open_table(2048);
	assert_int_equal(clienttab_failures(t3, NULL, "a@x", T0), 0);
	clienttab_close(t1);
	clienttab_close(t2);
	clienttab_close(t3);
}

/* Children hammering one account and one address. */
#define KIDS 4
#define ROUNDS 2000

static void
test_concurrent_processes_lose_nothing(void **state)
{
	struct clienttab_policy pol = { 1u << 30, 1u << 30, 30 };
	struct clienttab *t = open_table(1024);
	pid_t kids[KIDS];
	int status;

	(void)state;
	for (int k = 0; k < KIDS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			/* Its own mapping, as an exec'd worker has. */
			struct buf err = BUF_INIT;
			struct clienttab *c = clienttab_open(path, 1024, NULL,
			    &err);
			if (c == NULL)
				_exit(2);
			for (int i = 0; i < ROUNDS; i++) {
				attempt(c, &pol, "192.0.2.1", "a@x", T0, NULL);
				clienttab_connection(c, addr("192.0.2.2"),
				    60, T0, NULL);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(clienttab_failures(t, addr("192.0.2.1"), NULL, T0),
	    KIDS * ROUNDS);
	assert_int_equal(clienttab_failures(t, NULL, "a@x", T0),
	    KIDS * ROUNDS);
	clienttab_close(t);
}

static void
test_killed_processes_never_wedge(void **state)
{
	struct clienttab_policy pol = { 1u << 30, 1u << 30, 30 };
	struct clienttab *t = open_table(1024);
	pid_t kids[KIDS], holder;
	int status;
	unsigned before;

	(void)state;
	/* If the table wedged, fail instead of hanging the suite. */
	alarm(60);
	/* One dies holding the lock. */
	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		clienttab_hold_lock_for_test(t);
		raise(SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(holder, &status, 0), holder);
	assert_true(WIFSIGNALED(status));
	attempt(t, &pol, "192.0.2.1", "a@x", T0, NULL);
	assert_int_equal(clienttab_failures(t, NULL, "a@x", T0), 1);
	/* Others are killed at random instants while hammering. */
	for (int round = 0; round < 5; round++) {
		for (int k = 0; k < KIDS; k++) {
			kids[k] = fork();
			assert_true(kids[k] >= 0);
			if (kids[k] == 0) {
				for (;;)
					attempt(t, &pol, "192.0.2.1", "a@x",
					    T0, NULL);
			}
		}
		/* Let them run into each other. */
		while (clienttab_failures(t, NULL, "a@x", T0) < 2000u *
		    (unsigned)(round + 1))
			;
		for (int k = 0; k < KIDS; k++) {
			kill(kids[k], SIGKILL);
			assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		}
	}
	before = clienttab_failures(t, NULL, "a@x", T0);
	attempt(t, &pol, "192.0.2.1", "a@x", T0, NULL);
	assert_int_equal(clienttab_failures(t, NULL, "a@x", T0), before + 1);
	alarm(0);
	clienttab_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ip_blocks_grow_and_cap,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_success_clears_only_the_account, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_logins_in_flight_are_not_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_ipv6_64_and_mapped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_forgetting, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eviction_when_full,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_slots_reused_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_bucket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_shared_and_replaced,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_concurrent_processes_lose_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_killed_processes_never_wedge, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
