#!/usr/bin/env python3
"""mbox_import - dmail-user import-mbox moves a qpopper mbox spool into an
account's Maildir: messages split at From_ lines, >From unquoted, each
message's X-UIDL kept as its POP3 UIDL (checked with poplib, as a "leave
mail on server" client sees it), Status: RO as seen; a second run adds
nothing; --all imports a /var/mail-like directory by user name."""

import os
import poplib
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
from pop3_session import server  # noqa: E402

USER = "alice@example.test"

# As qpopper leaves a spool: From_ separators, a blank line before each,
# X-UIDL and Status headers, a body line quoted as >From, one as >>From.
MBOX = (
    b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
    b"From: Mail System Internal Data <MAILER-DAEMON@host>\n"
    b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
    b"X-IMAP: 1234567890 0000000003\n"
    b"Status: RO\n"
    b"\n"
    b"This text is part of the internal format of your mail folder.\n"
    b"\n"
    b"From bob@example.org Tue Jan  2 10:00:00 2024\n"
    b"From: bob@example.org\n"
    b"Subject: one\n"
    b"X-UIDL: 3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c\n"
    b"Status: RO\n"
    b"\n"
    b"first body\n"
    b">From the start of a line\n"
    b">>From twice quoted\n"
    b"\n"
    b"From carol@example.org Wed Jan  3 11:00:00 2024\n"
    b"From: carol@example.org\n"
    b"Subject: two\n"
    b"X-UIDL: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
    b"Status: O\n"
    b"\n"
    b"second body\n"
    b"\n"
    b"with an empty line inside\n"
    b"\n"
    b"From dave@example.org Thu Jan  4 12:00:00 2024\n"
    b"From: dave@example.org\n"
    b"Subject: three, no status, unusable uidl\n"
    b"X-UIDL: has/a/slash\n"
    b"\n"
    b"third body\n"
    b"\n"
    b"From erin@example.org Fri Jan  5 13:00:00 2024\n"
    b"From: erin@example.org\n"
    b"Subject: four, same uidl as one\n"
    b"X-UIDL: 3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c\n"
    b"\n"
    b"fourth body\n"
    b"\n"
)


def write_mbox(dirname, name, data):
    path = os.path.join(dirname, name)
    with open(path, "wb") as f:
        f.write(data)
    # As /var/mail: readable by the owner and group mail only; the tool
    # opens it with its own rights before becoming the worker user.
    os.chmod(path, 0o600)
    return path


def pop_all(srv, user, password="secret"):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=30)
    try:
        p.user(user)
        p.pass_(password)
        uidls = [l.split(b" ", 1)[1].decode() for l in p.uidl()[1]]
        bodies = [b"\n".join(p.retr(i + 1)[1]) for i in range(len(uidls))]
        return uidls, bodies
    finally:
        p.quit()


def subject(body):
    for line in body.split(b"\n"):
        if line.startswith(b"Subject: "):
            return line[9:].decode()
    return None


def test_import_one_mbox_keeps_uidls():
    with server() as srv, tempfile.TemporaryDirectory() as tmp:
        srv.add_user(USER, "secret")
        path = write_mbox(tmp, "alice", MBOX)
        r = srv.dmail_user("import-mbox", USER, path)
        assert "4 messages" in r.stdout and "2 kept their UIDL" in \
            r.stdout and "1 seen" in r.stdout, r.stdout
        files = srv.maildir_messages(USER)
        names = sorted(os.path.basename(f) for f in files)
        # Status: RO -> cur/ seen; Status: O -> cur/ not seen; none -> new/
        assert any(n.endswith(",U=3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c:2,S")
                   for n in names), names
        assert any(n.endswith(",U=0a1b2c3d4e5f60718293a4b5c6d7e8f9:2,")
                   for n in names), names
        assert len(srv.maildir_messages(USER, ("new",))) == 2
        # The message files belong to the worker user, not root.
        if dt.IS_ROOT and dt.RUN_AS:
            import pwd
            uid = pwd.getpwnam(dt.RUN_AS).pw_uid
            assert all(os.stat(f).st_uid == uid for f in files)
        uidls, bodies = pop_all(srv, USER)
        # POP3 numbers them in the mbox's order.
        assert [subject(b) for b in bodies] == [
            "one", "two", "three, no status, unusable uidl",
            "four, same uidl as one"], [subject(b) for b in bodies]
        by_subject = dict(zip((subject(b) for b in bodies), uidls))
        assert by_subject["one"] == "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c"
        assert by_subject["two"] == "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
        # Unusable X-UIDL, or one already taken: a new unique name.
        assert "/" not in by_subject["three, no status, unusable uidl"]
        assert by_subject["four, same uidl as one"] not in \
            (by_subject["one"], by_subject["two"])
        assert len(set(uidls)) == 4
        assert "FOLDER INTERNAL DATA" not in str(list(by_subject))
        one = [b for b in bodies if subject(b) == "one"][0]
        assert b"\nFrom the start of a line\n>From twice quoted" in one, one
        assert not one.endswith(b"\n\n")
        two = [b for b in bodies if subject(b) == "two"][0]
        assert two.endswith(b"second body\n\nwith an empty line inside"), two
        # Again: what has a usable X-UIDL is there already (the fourth
        # message's is taken by the first); the one without is added
        # again, as the manual page says.
        r = srv.dmail_user("import-mbox", USER, path)
        assert "1 messages" in r.stdout and "3 already there" in \
            r.stdout, r.stdout
        uidls2, _ = pop_all(srv, USER)
        assert set(uidls) <= set(uidls2) and len(uidls2) == 5


def test_import_all_by_user_name():
    with server() as srv, tempfile.TemporaryDirectory() as tmp:
        srv.add_user(USER, "secret")
        write_mbox(tmp, "alice", MBOX)
        write_mbox(tmp, "nosuchuser", MBOX)
        write_mbox(tmp, "alice.lock", b"")
        r = srv.dmail_user("import-mbox", "--all", tmp, check=False)
        assert "alice@example.test: 4 messages" in r.stdout, r.stdout
        assert "nosuchuser@example.test: no such account" in r.stdout
        assert r.returncode == 3, r
        uidls, _ = pop_all(srv, USER)
        assert len(uidls) == 4


def test_not_an_mbox_changes_nothing():
    with server() as srv, tempfile.TemporaryDirectory() as tmp:
        srv.add_user(USER, "secret")
        path = write_mbox(tmp, "alice", b"Subject: no From_ line\n\nx\n")
        r = srv.dmail_user("import-mbox", USER, path, check=False)
        assert r.returncode == 1 and "not an mbox file" in r.stderr, r
        assert srv.maildir_messages(USER, ("new", "cur", "tmp")) == []


if __name__ == "__main__":
    dt.main([test_import_one_mbox_keeps_uidls, test_import_all_by_user_name,
             test_not_an_mbox_changes_nothing])
