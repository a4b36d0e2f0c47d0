/*
 * queuectl.c - test driver for util/queue_cmds.c (test only, not
 * installed): "queuectl -c FILE COMMAND [ARGS]" runs queue_command()
 * exactly as tellsmtp does, so the queue tools can be tested on their own.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "queue_cmds.h"

int
main(int argc, char **argv)
{
	struct dmail_conf conf;
	struct buf err = BUF_INIT;
	int rc;

	if (argc < 4 || strcmp(argv[1], "-c") != 0 ||
	    !queue_command_known(argv[3])) {
		fprintf(stderr, "usage: queuectl -c FILE queue|flush|delete|"
		    "hold|release [QUEUEID]\n");
		return 2;
	}
	if (conf_load_file(argv[2], &conf, &err) < 0) {
		fprintf(stderr, "%s", buf_cstr(&err));
		return 1;
	}
	rc = queue_command(&conf, argc - 3, argv + 3);
	conf_free(&conf);
	buf_free(&err);
	return rc;
}
