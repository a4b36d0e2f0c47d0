#!/usr/bin/env python3
"""The administrator's dashboard and queue pages against a real dmaild
with the web pool: the master's history (control command "history",
tellsmtp history, /api/v1/history, the ring file across a restart), the
dashboard's SVG charts and disk free figure, the queue search (API and
tellsmtp queue --sender ...), one message's detail page (recipient's
last error, header), invalid queue ids, and non-admins refused.

DMAIL_HISTORY_INTERVAL=1 (testing only, dmaild(8)) makes the master
sample every second instead of every minute."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import sink  # noqa: E402
import web_common as wc  # noqa: E402

USER = "user@example.test"


def history(c):
    st, j = c.api("GET", "/api/v1/history")
    assert st == 200, j
    return j["samples"]


def accepted(c):
    return sum(s["accepted"] for s in history(c))


def test_dashboard_and_queue():
    os.environ["DMAIL_HISTORY_INTERVAL"] = "1"
    # The remote server defers both, one with markup in its reply.
    s = sink.Sink(replies={"far@remote.test": "451 4.3.0 <script>x</script>"
                           " & later", "near@remote.test": "451 4.3.0 busy"})
    s.start()
    try:
        srv = wc.server(users=(USER,), queue=True,
                        extra="transport remote.test 127.0.0.1:%d\n" % s.port)
        with srv:
            c = wc.Client(srv, wc.token(srv, "--admin"))
            lc.send(srv, "alice@example.test", "far@remote.test",
                    subject="<b>alice</b>")
            lc.send(srv, "bob@example.test", "near@remote.test")
            dt.wait_for(lambda: accepted(c) >= 2, 20,
                        what="accepted in history")
            last = history(c)[-1]
            assert last["disk_free"] > 0 and last["smtp_max"] > 0, last

            # tellsmtp history prints the same samples.
            r = srv.tell("history")
            assert r.returncode == 0 and "sample time=" in r.stdout, r
            assert "disk_free=" in r.stdout and "smtp_busy=" in r.stdout

            # The queue: both messages, then deferred after a failed attempt.
            st, j = c.api("GET", "/api/v1/queue")
            assert st == 200 and j["total"] == 2, j
            dt.wait_for(lambda: c.api("GET", "/api/v1/queue?status=deferred")
                        [1]["total"] == 2, 30, what="deferred messages")
            dt.wait_for(lambda: history(c)[-1]["deferred"] == 2, 15,
                        what="deferred count in history")
            st, j = c.api("GET", "/api/v1/queue?sender=alice")
            assert st == 200 and j["total"] == 1, j
            msg = j["messages"][0]
            qid = msg["qid"]
            assert msg["sender"] == "alice@example.test", msg
            assert msg["recipients"][0]["address"] == "far@remote.test", msg
            assert "<script>x</script> & later" in \
                msg["recipients"][0]["last_error"], msg
            assert qid in j["output"] and "bob@" not in j["output"], j
            st, j = c.api("GET", "/api/v1/queue?rcpt=near@&status=deferred")
            assert j["total"] == 1 and j["messages"][0]["qid"] != qid, j
            st, j = c.api("GET", "/api/v1/queue?domain=remote.test&limit=1")
            assert j["total"] == 2 and len(j["messages"]) == 1, j
            st, j = c.api("GET", "/api/v1/queue?status=held")
            assert j["total"] == 0, j
            st, j = c.api("GET", "/api/v1/queue?min_age=86400")
            assert j["total"] == 0, j
            st, j = c.api("GET", "/api/v1/queue?status=bogus")
            assert st == 400, j
            r = srv.tell("queue", "--sender", "bob")
            assert r.returncode == 0 and "bob@example.test" in r.stdout, r
            assert "alice@" not in r.stdout, r.stdout
            r = srv.tell("queue", "show", qid)
            assert r.returncode == 0 and "status:     deferred" in r.stdout, r
            assert "Subject: <b>alice</b>" in r.stdout, r.stdout

            # One message as JSON, and bad ids.
            st, j = c.api("GET", "/api/v1/queue/" + qid)
            assert st == 200 and j["message"]["qid"] == qid, j
            assert "Subject: <b>alice</b>" in j["headers"], j
            assert c.api("GET", "/api/v1/queue/..%2Fetc")[0] == 400
            assert c.api("GET", "/api/v1/queue/not-an-id")[0] == 400
            assert c.api("GET", "/api/v1/queue/0123456789ABCDEF")[0] == 404

            # The pages, as the administrator.
            b = wc.Client(srv)
            b.login(wc.ADMIN)
            page = b.get("/dashboard").body
            assert page.count("<svg") >= 5, page
            m = re.search(r'id="disk-free">[^<(]*\((\d+) bytes\)', page)
            assert m and int(m.group(1)) > 0, page
            page = b.get("/queue?sender=alice").body
            assert qid in page and "bob@example.test" not in page, page
            page = b.get("/queue/" + qid).body
            err = msg["recipients"][0]["last_error"]
            assert "far@remote.test" in page and "deferred" in page, page
            assert (err.replace("&", "&amp;").replace("<", "&lt;")
                    .replace(">", "&gt;").replace('"', "&quot;")
                    in page), (err, page)
            assert "&lt;script&gt;x&lt;/script&gt; &amp; later" in page, page
            assert "Subject: &lt;b&gt;alice&lt;/b&gt;" in page, page
            assert "<b>alice</b>" not in page and "<script>" not in page
            assert b.get("/queue/..%2F..%2Fetc").status == 400
            assert b.get("/queue/0123456789ABCDEF").status == 404
            r = b.post("/queue/hold", {"qid": qid})
            assert r.status == 303 and r.getheader("Location") == \
                "/queue/" + qid, r.status
            dt.wait_for(lambda: c.api("GET", "/api/v1/queue?status=held")[1]
                        ["total"] == 1, 15, what="held")

            # Not for a member.
            u = wc.Client(srv)
            u.login(USER)
            for path in ("/dashboard", "/queue", "/queue/" + qid):
                assert u.get(path).status == 403, path

            # The ring file survives a restart of the master.
            ring = os.path.join(srv.state_dir, "run", "history")
            dt.wait_for(lambda: os.path.exists(ring), 10, what="history file")
            before = len(history(c))
            first = history(c)[0]["time"]
            srv.stop()
            srv.start()
            samples = history(c)
            assert len(samples) >= min(before, 60) - 1, (before, samples)
            assert samples[0]["time"] <= first + 60, samples[0]
            assert sum(x["accepted"] for x in samples) >= 2, samples
    finally:
        s.stop()


if __name__ == "__main__":
    dt.main([test_dashboard_and_queue])
