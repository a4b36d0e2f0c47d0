/*
 * queue_cmds.h - the outbound queue commands of tellsmtp (the listing
 * also of dmail-sendmail -bp and mailq, which call queue_command() with
 * "mailq"):
 *
 *     queue, mailq       list the messages of the queue, then those of
 *                        the maildrop not yet picked up (marked
 *                        "(maildrop)"): queue id, size, age, sender, hold
 *                        state, attempts, and every recipient with its
 *                        state and last error; then the quarantine
 *     flush              retry every deferred message now
 *     delete QUEUEID     remove a message (no bounce)
 *     hold QUEUEID       stop delivery attempts until released
 *     release QUEUEID    end a hold and retry now
 *     release NAME       put a quarantined file (poison.h) back into its
 *                        spool: list, queue or maildrop
 *     quarantine         list the quarantined files of every spool with
 *                        the reason (also shown after "queue")
 *
 * flush, delete, hold and release are requests to the queue manager
 * through its control FIFO (state_dir/spool/control), so only one process
 * ever writes queue files; the command waits (a few seconds) until the
 * change is visible on disk. When no queue manager runs, delete, hold and
 * release change the files directly and flush says it cannot.
 *
 * queue_command() takes the command's own argv (argv[0] is the command
 * name) and returns an exit status: 0 done, 1 failed (message unknown,
 * queue manager needed but not running), 2 usage error. Output goes to
 * stdout, errors to stderr.
 */
#ifndef DMAIL_QUEUE_CMDS_H
#define DMAIL_QUEUE_CMDS_H

#include <stdbool.h>

#include "conf.h"

/* True when argv[0] is one of the commands above. */
bool queue_command_known(const char *name);
int queue_command(const struct dmail_conf *c, int argc, char **argv);
/* One line "quarantined list=N queue=N maildrop=N" on stdout. */
void queue_quarantine_summary(const struct dmail_conf *c);

#endif
