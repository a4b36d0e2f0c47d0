/*
 * crashhook.c - the crash hook of the test builds of the spool workers
 * (t/crashhook/dmail-listd, t/crashhook/dmail-queued; see test_crash_hook() in
 * common/poison.h). Compiled only into check programs: the installed
 * dmail-listd and dmail-queued have no such code.
 *
 * A message whose header has "X-DMail-Test-Crash: WHAT" makes the
 * worker processing it: segv - raise SIGSEGV (in sanitizer builds the
 * tests set ASAN_OPTIONS=allow_user_segv_handler=1 so that AddressSanitizer
 * leaves SIGSEGV to the quarantine handler, as a production build does);
 * abort - abort() (SIGABRT); exit - _exit(1), a death no signal handler
 * sees; sleep - log "test hook: sleeping pid=N" and sleep 60 s, on the
 * first attempt only (a later attempt goes on normally); garble - a
 * delivery process sends the queue manager a malformed line (done in
 * queued/queue_deliver.c, which has the pipe). "WHAT WHERE"
 * acts only at the hook named WHERE (list, load, bounce, delivery,
 * pickup).
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "poison.h"

#define FIELD "X-DMail-Test-Crash: "

void
test_crash_hook(const char *msg, size_t len, unsigned attempt,
    const char *where)
{
	const char *f = msg != NULL ? memmem(msg, len, FIELD, strlen(FIELD)) :
	    NULL;
	const char *v, *end = msg + len, *w, *eol;

	if (f == NULL)
		return;
	v = f + strlen(FIELD);
	eol = memchr(v, '\n', (size_t)(end - v));
	if (eol == NULL)
		eol = end;
	/* "WHAT WHERE": only at that place. */
	w = memchr(v, ' ', (size_t)(eol - v));
	if (w != NULL && ((size_t)(eol - w - 1) < strlen(where) ||
	    memcmp(w + 1, where, strlen(where)) != 0))
		return;
	if (end - v >= 4 && memcmp(v, "segv", 4) == 0) {
		/* raise(): no undefined behaviour for UBSan to report; the
		 * handler sees the same SIGSEGV from this process. */
		log_info("test hook: crashing with SIGSEGV");
		raise(SIGSEGV);
	} else if (end - v >= 5 && memcmp(v, "abort", 5) == 0) {
		abort();
	} else if (end - v >= 4 && memcmp(v, "exit", 4) == 0) {
		_exit(1);
	} else if (end - v >= 5 && memcmp(v, "sleep", 5) == 0 &&
	    attempt <= 1) {
		log_info("test hook: sleeping pid=%ld", (long)getpid());
		sleep(60);
	}
}
