/*
 * test_scoreboard.c - unit tests for the shared-memory scoreboard
 * (common/scoreboard.c): slot allocation, updates, the generation seen
 * through a worker's read-only mapping, seals, bad input; the event
 * counters (counted by worker processes that then die, read by the
 * master) and the class of an SMTP refusal, as a table.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "scoreboard.h"
#include "worker.h"

static void
test_create_defaults(void **state)
{
	struct scoreboard *sb = scoreboard_create(8);
	(void)state;
	assert_non_null(sb);
	assert_int_equal(scoreboard_nslots(sb), 8);
	for (uint32_t i = 0; i < POOL_COUNT; i++)
		assert_int_equal(scoreboard_generation(sb, i), 1);
	assert_int_equal(scoreboard_generation(sb, POOL_COUNT), 0);
	assert_int_equal(scoreboard_used(sb), 0);
	assert_true(scoreboard_fd(sb) >= 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(scoreboard_slot(sb, i)->pid, 0);
	assert_null(scoreboard_slot(sb, 8));
	assert_null(scoreboard_slot(sb, -1));
	scoreboard_free(sb);
	assert_null(scoreboard_create(0));
}

static void
test_alloc_until_full_and_reuse(void **state)
{
	struct scoreboard *sb = scoreboard_create(4);
	int got[4];
	(void)state;
	for (int i = 0; i < 4; i++) {
		got[i] = scoreboard_slot_alloc(sb, 100 + i, 1, 1);
		/* lowest numbers first */
		assert_int_equal(got[i], i);
		assert_int_equal(scoreboard_slot(sb, i)->pid, 100 + i);
		assert_int_equal(scoreboard_slot(sb, i)->pool, 1);
	}
	assert_int_equal(scoreboard_used(sb), 4);
	assert_int_equal(scoreboard_slot_alloc(sb, 200, 0, 1), -1);
	scoreboard_slot_free(sb, 2);
	assert_int_equal(scoreboard_slot(sb, 2)->pid, 0);
	assert_int_equal(scoreboard_used(sb), 3);
	/* A second free of the same slot must not corrupt the free list. */
	scoreboard_slot_free(sb, 2);
	scoreboard_slot_free(sb, 99);
	scoreboard_slot_free(sb, -5);
	assert_int_equal(scoreboard_used(sb), 3);
	assert_int_equal(scoreboard_slot_alloc(sb, 300, 0, 2), 2);
	assert_int_equal(scoreboard_slot(sb, 2)->generation, 2);
	assert_int_equal(scoreboard_slot_alloc(sb, 301, 0, 2), -1);
	scoreboard_free(sb);
}

static void
test_update_checks_pid(void **state)
{
	struct scoreboard *sb = scoreboard_create(4);
	int s;
	(void)state;
	s = scoreboard_slot_alloc(sb, -1, 0, 1);
	/* Not yet forked: nobody may report for it. */
	assert_false(scoreboard_update(sb, s, 1234, WORKER_IDLE, 0, 10));
	scoreboard_slot_set_pid(sb, s, 1234);
	assert_true(scoreboard_update(sb, s, 1234, WORKER_IDLE, 0, 10));
	assert_int_equal(scoreboard_slot(sb, s)->state, WORKER_IDLE);
	assert_int_equal(scoreboard_slot(sb, s)->changed_ms, 10);
	/* Same state: changed_ms stays; counters move. */
	assert_true(scoreboard_update(sb, s, 1234, WORKER_IDLE, 3, 20));
	assert_int_equal(scoreboard_slot(sb, s)->changed_ms, 10);
	assert_int_equal(scoreboard_slot(sb, s)->sessions, 3);
	assert_true(scoreboard_update(sb, s, 1234, WORKER_BUSY, 3, 30));
	assert_int_equal(scoreboard_slot(sb, s)->changed_ms, 30);
	/* Another pid, a free slot, a slot out of range: refused. */
	assert_false(scoreboard_update(sb, s, 999, WORKER_IDLE, 9, 40));
	assert_int_equal(scoreboard_slot(sb, s)->sessions, 3);
	assert_false(scoreboard_update(sb, s + 1, 0, WORKER_IDLE, 0, 40));
	assert_false(scoreboard_update(sb, 4, 1234, WORKER_IDLE, 0, 40));
	scoreboard_free(sb);
}

static void
test_worker_view_is_read_only_and_live(void **state)
{
	struct scoreboard *sb = scoreboard_create(16);
	struct scoreboard *view;
	int fd, status;
	pid_t pid;
	(void)state;
	fd = dup(scoreboard_fd(sb));
	assert_true(fd >= 0);
	view = scoreboard_attach(fd);
	assert_non_null(view);
	assert_int_equal(scoreboard_nslots(view), 16);
	assert_int_equal(scoreboard_generation(view, POOL_POP3), 1);
	/* One pool's generation moves, the others' stay. */
	scoreboard_set_generation(sb, POOL_POP3, 7);
	assert_int_equal(scoreboard_generation(view, POOL_POP3), 7);
	assert_int_equal(scoreboard_generation(view, POOL_SMTP), 1);
	assert_int_equal(scoreboard_slot_alloc(sb, 42, 0, 7), 0);
	assert_int_equal(scoreboard_slot(view, 0)->pid, 42);
	/* A worker cannot allocate or update. */
	assert_int_equal(scoreboard_slot_alloc(view, 43, 0, 7), -1);
	assert_false(scoreboard_update(view, 0, 42, WORKER_BUSY, 1, 1));
	/* Writing through the worker's mapping faults. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct scoreboard_slot *s =
		    (struct scoreboard_slot *)scoreboard_slot(view, 0);
		signal(SIGSEGV, SIG_DFL);
		s->pid = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_int_equal(scoreboard_slot(sb, 0)->pid, 42);
	/* Its size is sealed: a worker cannot shrink it under the master. */
	assert_int_equal(ftruncate(scoreboard_fd(sb), 0), -1);
	scoreboard_free(view);
	scoreboard_free(sb);
}

static void
key_of(const char *v4, uint8_t key[16])
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, v4, &in->sin_addr), 1);
	assert_true(scoreboard_peer_key(&ss, key));
}

/* Workers publish their clients through their own read-write view of the
 * peer pages; counts are per pool and address; the master's slot_free
 * clears the entry of a worker that died mid-session. */
static void
test_peers_counted_per_pool_and_cleared(void **state)
{
	struct scoreboard *sb = scoreboard_create(64);
	struct scoreboard *view;
	uint8_t a[16], b[16];
	int s0, s1, s2, s3;
	(void)state;
	key_of("192.0.2.1", a);
	key_of("192.0.2.2", b);
	view = scoreboard_attach(dup(scoreboard_fd(sb)));
	assert_non_null(view);
	s0 = scoreboard_slot_alloc(sb, 10, 0, 1);
	s1 = scoreboard_slot_alloc(sb, 11, 0, 1);
	s2 = scoreboard_slot_alloc(sb, 12, 1, 1);
	s3 = scoreboard_slot_alloc(sb, 13, 0, 1);
	assert_null(scoreboard_peer(sb, s0));
	scoreboard_peer_set(view, s0, 0, a);
	scoreboard_peer_set(view, s1, 0, a);
	scoreboard_peer_set(view, s2, 1, a);
	scoreboard_peer_set(view, s3, 0, b);
	assert_int_equal(scoreboard_peer_count(view, 0, a), 2);
	assert_int_equal(scoreboard_peer_count(sb, 1, a), 1);
	assert_int_equal(scoreboard_peer_count(sb, 0, b), 1);
	assert_non_null(scoreboard_peer(sb, s3));
	assert_memory_equal(scoreboard_peer(sb, s3)->addr, b, 16);
	/* Session over. */
	scoreboard_peer_clear(view, s1);
	assert_int_equal(scoreboard_peer_count(sb, 0, a), 1);
	/* Worker died mid-session: the master frees its slot. */
	scoreboard_slot_free(sb, s0);
	assert_int_equal(scoreboard_peer_count(view, 0, a), 0);
	assert_null(scoreboard_peer(sb, s0));
	/* The master's fields stay read-only in the worker's view. */
	assert_false(scoreboard_update(view, s3, 13, WORKER_BUSY, 1, 1));
	scoreboard_free(view);
	scoreboard_free(sb);
}

static void
test_attach_rejects_foreign_fd(void **state)
{
	int fd = memfd_create("junk", MFD_CLOEXEC);
	(void)state;
	assert_true(fd >= 0);
	assert_null(scoreboard_attach(fd));          /* empty */
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_null(scoreboard_attach(fd));          /* no magic */
	assert_int_equal(errno, EINVAL);
	close(fd);
	assert_null(scoreboard_attach(-1));
}

/* Two worker processes count through their own mappings and exit (one
 * killed by a signal): the master still reads every count, per pool and
 * role, and a slot freed and reused resets nothing. */
static void
test_counters_outlive_workers(void **state)
{
	static const struct {
		uint32_t pool;
		unsigned role;
		enum sb_counter c;
		uint64_t want;
	} rows[] = {
		{ POOL_SMTP, SB_ROLE_NONE, SBC_DEFERRED, 1 },
		{ POOL_SMTP, ROLE_SUBMISSION, SBC_ACCEPTED, 1 },
		{ POOL_SMTP, ROLE_SUBMISSION, SBC_DELIVERED_LOCAL, 3 },
		{ POOL_SMTP, ROLE_SUBMISSION, SBC_REJECT_UNKNOWN_USER, 1 },
		{ POOL_SMTP, ROLE_SMTP, SBC_ACCEPTED, 0 },
		{ POOL_QUEUE, SB_ROLE_NONE, SBC_DEFERRED, 1 },
		{ POOL_QUEUE, ROLE_SUBMISSION, SBC_ACCEPTED, 1 },
		{ POOL_COUNT, 0, SBC_ACCEPTED, 0 },       /* out of range */
		{ POOL_SMTP, SB_ROLES, SBC_ACCEPTED, 0 },
	};
	struct scoreboard *sb = scoreboard_create(8);
	int slot = scoreboard_slot_alloc(sb, 100, POOL_SMTP, 1);
	uint64_t messages;
	int64_t oldest;
	(void)state;
	for (int k = 0; k < 2; k++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct scoreboard *view =
			    scoreboard_attach(dup(scoreboard_fd(sb)));

			if (view == NULL)
				_exit(2);
			scoreboard_stats_bind(view, k == 0 ? POOL_SMTP :
			    POOL_QUEUE);
			scoreboard_count(SBC_DEFERRED);    /* no role yet */
			scoreboard_stats_role(ROLE_SUBMISSION);
			scoreboard_count(SBC_ACCEPTED);
			scoreboard_count_n(SBC_DELIVERED_LOCAL, 3);
			scoreboard_count_reject(550, "5.1.1");
			if (k == 1) {
				scoreboard_queue_publish(5, 1700000000);
				raise(SIGKILL);
			}
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
	}
	scoreboard_slot_free(sb, slot);
	assert_int_equal(scoreboard_slot_alloc(sb, 101, POOL_SMTP, 2), slot);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (scoreboard_counter(sb, rows[i].pool, rows[i].role,
		    rows[i].c) != rows[i].want)
			fail_msg("row %zu: pool %u role %u counter %d", i,
			    rows[i].pool, rows[i].role, (int)rows[i].c);
	scoreboard_queue_get(sb, &messages, &oldest);
	assert_int_equal(messages, 5);
	assert_int_equal(oldest, 1700000000);
	/* This process has no scoreboard bound: counting does nothing. */
	scoreboard_count(SBC_ACCEPTED);
	assert_int_equal(scoreboard_counter(sb, POOL_SMTP, SB_ROLE_NONE,
	    SBC_ACCEPTED), 0);
	scoreboard_free(sb);
}

/* The class of each refusal the SMTP server sends. */
static void
test_reject_class_table(void **state)
{
	static const struct {
		int code;
		const char *enhanced;
		enum sb_counter want;
	} rows[] = {
		{ 550, "5.1.1", SBC_REJECT_UNKNOWN_USER },  /* user unknown */
		{ 550, "5.2.1", SBC_REJECT_UNKNOWN_USER },  /* disabled */
		{ 550, "5.1.3", SBC_REJECT_SYNTAX },  /* needs a domain */
		{ 553, "5.1.7", SBC_REJECT_SYNTAX },  /* bad sender */
		{ 501, "5.5.4", SBC_REJECT_SYNTAX },
		{ 555, "5.5.4", SBC_REJECT_SYNTAX },
		{ 553, "5.6.7", SBC_REJECT_SYNTAX },  /* UTF-8 without SMTPUTF8 */
		{ 554, "5.6.0", SBC_REJECT_SYNTAX },  /* bare LF, long line */
		{ 552, "5.3.4", SBC_REJECT_SIZE },
		{ 552, "5.2.2", SBC_REJECT_SIZE },    /* over quota */
		{ 552, "5.2.3", SBC_REJECT_SIZE },
		{ 452, "4.2.2", SBC_REJECT_TEMPFAIL },  /* mailbox full */
		{ 451, "4.3.0", SBC_REJECT_TEMPFAIL },
		{ 452, NULL, SBC_REJECT_TEMPFAIL },
		{ 554, "5.4.6", SBC_REJECT_POLICY },  /* too many hops */
		{ 530, "5.7.0", SBC_REJECT_POLICY },
		{ 554, "5.7.1", SBC_REJECT_POLICY },  /* relay is the caller's */
		{ 554, "5.5.1", SBC_REJECT_SYNTAX },
		{ 550, NULL, SBC_REJECT_POLICY },
		{ 550, "junk", SBC_REJECT_POLICY },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (scoreboard_reject_class(rows[i].code, rows[i].enhanced) !=
		    rows[i].want)
			fail_msg("row %zu: %d %s", i, rows[i].code,
			    rows[i].enhanced ? rows[i].enhanced : "(none)");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_defaults),
		cmocka_unit_test(test_alloc_until_full_and_reuse),
		cmocka_unit_test(test_update_checks_pid),
		cmocka_unit_test(test_worker_view_is_read_only_and_live),
		cmocka_unit_test(test_attach_rejects_foreign_fd),
		cmocka_unit_test(test_peers_counted_per_pool_and_cleared),
		cmocka_unit_test(test_counters_outlive_workers),
		cmocka_unit_test(test_reject_class_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
