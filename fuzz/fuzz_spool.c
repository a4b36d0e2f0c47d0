/*
 * fuzz_spool.c - libFuzzer target: spool files read back from disk.
 * Queue files and maildrop files (common/spool.c spool_read(); any local
 * user can write a maildrop file, so its content is hostile), and list
 * spool files (common/listspool.c listspool_read()), whose message part
 * comes from the SMTP client.
 *
 * Input: one byte (bit 0: list spool file, else queue/maildrop file),
 * then the file. The file is handed over as a memfd under /proc/self/fd.
 * Checks: an accepted queue file has an id without '/', a sender, valid
 * recipient state bytes whose offsets point at that byte, and a message
 * offset inside the file; an accepted list spool file has a sender and
 * recipients.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "listspool.h"
#include "spool.h"

static void
queue_file(const uint8_t *data, size_t size)
{
	struct spool_envelope env;
	struct buf err = BUF_INIT;
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof(path));

	if (spool_read(path, &env, &err) == 0) {
		if (env.id[0] == '\0' || strchr(env.id, '/') != NULL ||
		    env.sender == NULL || env.message_offset < 0 ||
		    (size_t)env.message_offset > size)
			abort();
		for (size_t i = 0; i < env.rcpt_count; i++) {
			off_t o = env.rcpts[i].state_offset;

			if (env.rcpts[i].address == NULL || o < 0 ||
			    (size_t)o >= size || data[o] != env.rcpts[i].state)
				abort();
		}
		spool_envelope_free(&env);
	} else if (err.len == 0) {
		abort();
	}
	buf_free(&err);
	close(fd);
}

static void
list_file(const uint8_t *data, size_t size)
{
	struct listspool_msg msg;
	struct buf err = BUF_INIT;
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof(path));

	if (listspool_read(path, &msg, 1024 * 1024, &err) == 0) {
		if (msg.sender == NULL || msg.rcpts.count == 0 ||
		    msg.message.len > size)
			abort();
		listspool_msg_free(&msg);
	} else if (err.len == 0) {
		abort();
	}
	buf_free(&err);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		list_file(data + 1, size - 1);
	else
		queue_file(data + 1, size - 1);
	return 0;
}
