#!/usr/bin/env python3
"""DList fan-out through real SMTP: a list of 1,000 members, half local
accounts and half on a remote domain served by an SMTP sink behind a
transport line (delivered by the outbound queue manager), gets one post;
every local member has exactly one copy in its Maildir (all hard links
of one stored copy) and the sink saw every remote member exactly once,
with VERP envelope senders (default) or in one batch (verp no).

DMAIL_LIST_FANOUT=N changes the member count (benchmarks); the time from
the post's 250 to the last delivery is printed, never asserted."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import sink  # noqa: E402

LIST = "big@example.test"
N = int(os.environ.get("DMAIL_LIST_FANOUT", "1000"))
# SHA-512 crypt of "secret" (openssl passwd -6 -salt abcdefgh secret).
HASH = ("$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72"
        "N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.")


def run(verp):
    nl = N // 2
    nr = N - nl
    local = ["m%05d@example.test" % i for i in range(nl)]
    remote = ["r%05d@remote.test" % i for i in range(nr)]
    with sink.Sink() as sk:
        srv = lc.server(queue=True, start=False,
                        extra="transport remote.test [127.0.0.1]:%d\n"
                        % sk.port)
        with srv:
            imp = os.path.join(srv.tmp, "users.txt")
            with open(imp, "w") as f:
                for a in local + ["owner@example.test"]:
                    f.write("%s:%s\n" % (a, HASH))
            srv.dmail_user("import", imp)
            srv.start()
            lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
            if not verp:
                lc.set_list_option(srv, LIST, "verp no")
            members = os.path.join(srv.tmp, "members.txt")
            with open(members, "w") as f:
                f.write("\n".join(local + remote) + "\n")
            r = lc.dlist(srv, "import", LIST, members)
            assert "imported %d new member(s)" % N in r.stdout, r.stdout
            t0 = time.monotonic()
            lc.send(srv, "owner@example.test", LIST, subject="fan out",
                    body="To everyone.\n")
            t_250 = time.monotonic()

            def local_done():
                return all(len(srv.maildir_messages(a)) >= 1
                           for a in (local[0], local[-1])) and \
                    sum(len(srv.maildir_messages(a)) for a in local) >= nl

            dt.wait_for(local_done, 60 + N / 50, interval=0.2,
                        what="local deliveries")
            t_local = time.monotonic()
            deadline = time.monotonic() + 120 + N / 20
            while time.monotonic() < deadline:
                with sk.lock:
                    got = sum(len(m.rcpts) for m in sk.messages)
                if got >= nr:
                    break
                time.sleep(0.2)
            t_remote = time.monotonic()
            lc.settle(srv, 1.5)
            # Exactly once each, locally: one file, and a hard link of one
            # stored copy.
            inodes = set()
            for a in local:
                files = srv.maildir_messages(a)
                assert len(files) == 1, (a, files)
                inodes.add(os.stat(files[0]).st_ino)
            assert len(inodes) == 1, "%d stored copies" % len(inodes)
            # Exactly once each, remotely.
            with sk.lock:
                msgs = list(sk.messages)
            seen = {}
            for m in msgs:
                for rc in m.rcpts:
                    seen[rc.lower()] = seen.get(rc.lower(), 0) + 1
            assert sorted(seen) == sorted(remote), \
                "sink saw %d of %d remote members" % (len(seen), nr)
            assert all(v == 1 for v in seen.values()), \
                [k for k, v in seen.items() if v != 1][:5]
            if verp:
                assert len(msgs) == nr
                for m in msgs:
                    user, dom = m.rcpts[0].split("@")
                    assert m.mail_from == "big-bounces+%s=%s@example.test" \
                        % (user, dom), m.mail_from
            else:
                assert all(m.mail_from == "big-bounces@example.test"
                           for m in msgs)
                assert len(msgs) < nr
            data = msgs[0].data.decode()
            assert "List-Id: <big.example.test>" in data
            assert "Subject: [big] fan out" in data
            print("fan-out %d members (%d local, %d remote, verp %s): "
                  "250 after %.2fs; local done %.2fs after 250; remote "
                  "done %.2fs after 250" % (N, nl, nr,
                                            "yes" if verp else "no",
                                            t_250 - t0, t_local - t_250,
                                            t_remote - t_250), flush=True)


def test_one_click_remote():
    """A remote member's own copy carries an RFC 8058 one-click URI whose
    token dlist oneclick accepts (and a wrong one it refuses)."""
    import urllib.parse
    with sink.Sink() as sk:
        srv = lc.server(queue=True, users=["owner@example.test"],
                        extra="transport remote.test [127.0.0.1]:%d\n"
                        "list_web_url https://lists.example.test/u\n"
                        % sk.port)
        with srv:
            lc.dlist(srv, "create", LIST, "--owner", "owner@example.test")
            lc.dlist(srv, "subscribe", LIST, "ann@remote.test",
                     "ben@remote.test")
            lc.send(srv, "owner@example.test", LIST, subject="click")
            msgs = sk.wait(2, 60)
            urls = {}
            for m in msgs:
                text = m.data.decode()
                assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" \
                    in text
                line = [ln for ln in text.split("\r\n")
                        if ln.startswith("List-Unsubscribe: ")][0]
                url = line.split(", <")[1].rstrip(">")
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
                assert url.startswith("https://lists.example.test/u?")
                assert q["list"] == [LIST]
                urls[m.rcpts[0]] = (q["member"][0], q["token"][0])
            assert urls["ann@remote.test"][0] == "ann@remote.test"
            ann_tok = urls["ann@remote.test"][1]
            assert ann_tok != urls["ben@remote.test"][1]
            # ben's token does not unsubscribe ann
            r = lc.dlist(srv, "oneclick", LIST, "ann@remote.test",
                         urls["ben@remote.test"][1], check=False)
            assert r.returncode == 1 and "does not match" in r.stderr
            assert "ann@remote.test" in lc.members(srv, LIST)
            r = lc.dlist(srv, "oneclick", LIST, "ann@remote.test", ann_tok)
            assert "unsubscribed" in r.stdout
            assert lc.members(srv, LIST) == ["ben@remote.test"]
            lc.assert_workers_healthy(srv)


def test_fanout_verp():
    run(True)


def test_fanout_batch():
    run(False)


if __name__ == "__main__":
    dt.main([test_one_click_remote, test_fanout_verp, test_fanout_batch])
