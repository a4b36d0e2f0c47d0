/*
 * fuzz_mbox.c - libFuzzer target: the mbox importer of dmail-user
 * import-mbox (util/mbox.c) on a whole mbox file, which comes from an
 * old server and may hold anything: mbox_import() into an empty Maildir
 * in fuzz_tmpdir(), then again into the same Maildir.
 *
 * Checks: an input refused (not an mbox) stores nothing; the files in
 * new/ and cur/ are exactly the messages counted,
 * none is empty-named or left in tmp/; the stored bytes are at most the
 * input's (the importer only drops "From " lines, separators and one
 * '>' of quoted From lines); at most every message keeps its X-UIDL and
 * at most every message is seen; the second run sees the same messages:
 * stored plus skipped equals the first run's stored, and it skips at
 * least every message the first run stored under its X-UIDL.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz.h"
#include "mbox.h"

/* Files in maildir/sub, their total size added to *bytes; removed when
 * clear. */
static unsigned
count_dir(const char *maildir, const char *sub, size_t *bytes, bool clear)
{
	char path[512];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", maildir, sub);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char f[1024];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (stat(f, &st) < 0)
			abort();
		*bytes += (size_t)st.st_size;
		n++;
		if (clear && unlink(f) < 0)
			abort();
	}
	closedir(d);
	return n;
}

static int
import(const uint8_t *data, size_t size, const char *maildir,
    struct mbox_result *r)
{
	struct buf err = BUF_INIT;
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof(path));
	int rc;

	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	rc = mbox_import(fd, maildir, "fuzz.example.test", r, &err);

	if (rc < 0 && err.len == 0)
		abort();
	buf_free(&err);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbox_result r1, r2;
	char maildir[300];
	size_t bytes = 0, dummy = 0;
	unsigned files;

	snprintf(maildir, sizeof(maildir), "%s/Maildir", fuzz_tmpdir("mbox"));
	if (import(data, size, maildir, &r1) < 0) {
		/* Only "not an mbox file" (the memory file reads fine, the
		 * Maildir is writable): refused before anything is stored. */
		if (r1.messages != 0 || count_dir(maildir, "new", &bytes,
		    false) + count_dir(maildir, "cur", &bytes, false) != 0)
			abort();
		return 0;
	}
	if (r1.uidl_kept > r1.messages || r1.seen > r1.messages ||
	    r1.skipped != 0)
		abort();
	files = count_dir(maildir, "new", &bytes, false) +
	    count_dir(maildir, "cur", &bytes, false);
	if (files != r1.messages || bytes > size ||
	    count_dir(maildir, "tmp", &dummy, false) != 0)
		abort();
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "messages=%u uidl=%u seen=%u bytes=%zu\n",
		    r1.messages, r1.uidl_kept, r1.seen, bytes);
	if (import(data, size, maildir, &r2) < 0)
		abort();
	if (r2.messages + r2.skipped != r1.messages ||
	    r2.skipped < r1.uidl_kept)
		abort();
	(void)count_dir(maildir, "new", &dummy, true);
	(void)count_dir(maildir, "cur", &dummy, true);
	return 0;
}
