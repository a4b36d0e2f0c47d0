#!/usr/bin/env python3
"""The pipe between the queue manager and its delivery processes
(queued/queue_wire.h): a delivery process that sends a malformed line
is refused once in the log and ended; nothing of the line is applied,
its recipients stay queued (deferred with the reason), the queue
manager goes on and other mail is delivered. The malformed line is
injected by the test build of the queue manager (t/crashhook.c,
"garble"). The table of malformed lines is t/unit/test_queue_wire.c.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import outbound_common as oc  # noqa: E402
from master_common import status  # noqa: E402
from sink import Sink  # noqa: E402

CRASHHOOK = dt.prog("t/crashhook/dmail-queued")
REFUSED = re.compile(r"event=wire-refused process=delivery pid=\d+ "
                     r"dest=\S+ reason=\"malformed line \(recipient\): "
                     r"\"R 0 garbage\"; ending it\"")


def message(subject, header=""):
    return ("From: alice@example.test\r\nTo: bob@remote.test\r\n"
            "Subject: %s\r\n%s\r\nbody\r\n" % (subject, header)).encode()


def refusals(srv):
    return [ln for ln in srv.log_text().splitlines() if REFUSED.search(ln)]


def test_malformed_result_ends_the_process():
    if not os.path.exists(CRASHHOOK):
        raise dt.SkipTest("t/crashhook/dmail-queued not built")
    oc.QUEUED = CRASHHOOK
    with Sink() as sk, oc.server("transport remote.test [127.0.0.1]:%d\n"
                                 % sk.port, users=["alice@example.test"],
                                 retry=("3600", "3600")) as srv:
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                message("garbled", "X-DMail-Test-Crash: garble\r\n"))
        dt.wait_for(lambda: refusals(srv), 20, what="the refusal")
        dt.wait_for(lambda: oc.log_count(
            srv, "delivery process broke the protocol"), 20,
            what="the recipient deferred")
        # Logged once; not taken for a crash of the process or the
        # manager; the message stays queued for its next attempt.
        assert len(refusals(srv)) == 1, refusals(srv)
        assert oc.log_count(srv, "ended abnormally") == 0, srv.log_text()
        assert int(status(srv)["queue"]["crashes"]) == 0
        assert len(oc.queue_ids(srv)) == 1
        # Other mail goes on.
        oc.send(srv, "alice@example.test", ["bob@remote.test"],
                message("after"))
        dt.wait_for(lambda: any(b"Subject: after" in m.data
                                for m in sk.messages), 20,
                    what="the next message delivered")
        assert "panic:" not in srv.log_text()


if __name__ == "__main__":
    dt.main([test_malformed_result_ends_the_process])
