/*
 * unit_tmpdir.h - the temporary directory of a cmocka unit test:
 * unit_tmpdir_make("NAME") creates /tmp/NAME.XXXXXX into tmpdir,
 * unit_tmpdir_remove() removes it with everything in it. Static
 * functions in a header, included by each test program that needs one.
 * Both return 0, or -1 (the test's setup or teardown then fails).
 */
#ifndef DMAIL_UNIT_TMPDIR_H
#define DMAIL_UNIT_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char tmpdir[64];

static inline int
unit_tmpdir_make(const char *name)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", name);
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static inline int
unit_tmpdir_remove(void)
{
	char cmd[sizeof(tmpdir) + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
