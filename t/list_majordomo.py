#!/usr/bin/env python3
"""DList's majordomo command set by mail through real SMTP: unknown
commands named in the reply, a command in Subject and body run once,
owners authenticated by the list password ("approve PASSWORD subscribe",
newinfo/newintro, config/newconfig, writelist, mkdigest, passwd) or by
an approval token mailed to the owner (From: alone changes nothing),
which and intro, and the shared files (dlist files/putfile/delfile,
putfile/getfile/files/delfile by mail with MIME attachments)."""

import email.policy
import os
import re
import pwd
import smtplib
import sys
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402

LIST = "club@example.test"
REQ = "club-request@example.test"
OWNER = "owner@example.test"
PW = "s3cret-pw"
USERS = ["alice@example.test", "bob@example.test", "carol@example.test",
         OWNER]
_n = [0]


def ask(srv, who, body, subject=None, to=REQ, from_hdr=None):
    """Send commands; return the body of the reply (Subject Re: ...)."""
    _n[0] += 1
    subject = subject or "cmds %d" % _n[0]
    lc.send(srv, who, to, subject=subject, body=body, from_hdr=from_hdr)
    r = lc.wait_message(srv, who, lc.subject_has("Re: " + subject),
                        what="reply to %r" % subject)
    return lc.body_of(r)


def club(srv, password=True):
    # Owners change lists.dat by mail only where the list server (run_as)
    # may replace it: its directory writable by run_as (lists.dat(5)).
    pw = pwd.getpwnam(dt.RUN_AS) if os.geteuid() == 0 else None
    if pw is not None:
        os.chown(srv.tmp, pw.pw_uid, pw.pw_gid)
    lc.dlist(srv, "create", LIST, "--owner", OWNER)
    if password:
        r = lc.dlist(srv, "passwd", LIST, PW)
        assert "password of club@example.test set" in r.stdout


def test_unknown_commands_and_subject_once():
    srv = lc.server(users=USERS)
    with srv:
        club(srv, password=False)
        lc.dlist(srv, "subscribe", LIST, "alice@example.test")
        body = ask(srv, "alice@example.test",
                   "frobnicate club\nwho club\nset club bogus extra words\n"
                   "info club\nend\nlists\n")
        assert ">>> frobnicate club\n**** unknown command" in body, body
        # reading went on after the unknown line, up to "end"
        assert "Members of club@example.test (1)" in body, body
        assert "**** wrong arguments" in body, body
        assert "Subscribe:   confirm" in body, body
        assert ">>> lists" not in body, body
        # A command in the Subject and the body runs once.
        body = ask(srv, "alice@example.test", "who club\n",
                   subject="who club")
        assert body.count("Members of club@example.test") == 1, body
        assert body.count(">>> who club") == 1, body
        lc.assert_workers_healthy(srv)


def test_owner_password_and_token():
    srv = lc.server(users=USERS)
    with srv:
        club(srv)
        with open(srv.lists_file) as f:
            text = f.read()
        assert "password $" in text and PW not in text, text
        # The password form subscribes bob at once: no confirmation.
        body = ask(srv, OWNER, "approve %s subscribe club bob@example.test\n"
                   % PW)
        assert "bob@example.test is now subscribed" in body, body
        assert PW not in body, "password echoed: " + body
        assert lc.members(srv, LIST) == ["bob@example.test"]
        lc.wait_message(srv, "bob@example.test",
                        lc.subject_has("Welcome to club"))
        # A wrong password changes nothing.
        body = ask(srv, OWNER, "approve wrongpass unsubscribe club "
                   "bob@example.test\n")
        assert "Wrong password" in body, body
        assert lc.members(srv, LIST) == ["bob@example.test"]
        # From: the owner without a password: the change waits for the
        # token mailed to the owner's own mailbox. carol forging the
        # owner's From: gets nothing and changes nothing.
        n_owner = len(srv.maildir_messages(OWNER))
        lc.send(srv, "carol@example.test", REQ, subject="forged",
                body="subscribe club carol@example.test\n", from_hdr=OWNER)
        req = lc.wait_message(
            srv, OWNER, lambda m: "approve" in (m["Subject"] or "") and
            "carol" in (m["Subject"] or ""), what="owner approval request")
        assert "carol@example.test" not in lc.members(srv, LIST)
        assert not [m for m in lc.messages(srv, "carol@example.test")
                    if "approve" in lc.body_of(m)]
        assert len(srv.maildir_messages(OWNER)) > n_owner
        tok = lc.token_in(req, "approve")
        body = ask(srv, OWNER, "approve %s\n" % tok)
        assert "carol@example.test is now subscribed" in body, body
        assert sorted(lc.members(srv, LIST)) == ["bob@example.test",
                                                 "carol@example.test"]
        # The owner removes bob the same way: no confirmation by bob.
        ask(srv, OWNER, "unsubscribe club bob@example.test\n")
        req = lc.wait_message(
            srv, OWNER, lambda m: "unsubscribe bob" in (m["Subject"] or ""),
            what="owner approval request")
        body = ask(srv, OWNER, "approve %s\n" % lc.token_in(req, "approve"))
        assert "bob@example.test has left" in body, body
        assert lc.members(srv, LIST) == ["carol@example.test"]
        lc.assert_workers_healthy(srv)


def test_texts_which_config():
    srv = lc.server(users=USERS)
    with srv:
        club(srv)
        lc.dlist(srv, "create", "other@example.test", "--owner", OWNER)
        lc.dlist(srv, "subscribe", LIST, "alice@example.test")
        lc.dlist(srv, "subscribe", "other@example.test",
                 "alice@example.test")
        body = ask(srv, OWNER, "newinfo club %s\nThe club meets on "
                   "Tuesdays.\nsubscribe club\nEOF\nnewintro club %s\n"
                   "Be nice.\nEOF\n" % (PW, PW))
        assert body.count("text of club@example.test was replaced") == 2, \
            body
        assert "unknown command" not in body, body
        body = ask(srv, "carol@example.test", "info club\nintro club\n")
        assert "The club meets on Tuesdays.\nsubscribe club\n" in body, body
        assert "Be nice." in body, body
        # which: alice's own lists; carol may not see alice's on lists
        # whose members she may not see.
        body = ask(srv, "alice@example.test", "which\n",
                   to="dlist@example.test")
        assert "club@example.test" in body and \
            "other@example.test" in body, body
        body = ask(srv, "carol@example.test", "which alice@example.test\n",
                   to="dlist@example.test")
        assert "club@example.test" not in body, body
        body = ask(srv, OWNER, "which alice@example.test\n",
                   to="dlist@example.test")
        assert "club@example.test" in body, body
        # config returns the block; newconfig replaces it when valid.
        body = ask(srv, OWNER, "config club %s\n" % PW)
        assert "list club@example.test\n" in body and \
            "owner owner@example.test" in body, body
        block = body[body.index("list club@example.test"):]
        block = block[:block.index("\n\n") + 1] if "\n\n" in block \
            else block
        new = block + "\tdescription Edited by mail\n"
        body = ask(srv, OWNER, "newconfig club %s\n%sEOF\n" % (PW, new))
        assert "Done: the block of club@example.test was replaced" in body, \
            body
        with open(srv.lists_file) as f:
            text = f.read()
        assert "description Edited by mail" in text, text
        dt.wait_for(lambda: "Edited by mail" in ask(
            srv, "carol@example.test", "info club\n"), what="new config")
        # The block sent back without its password line keeps the
        # password: the owner still gets in with it.
        assert "\tpassword " in text, text
        nopw = "".join(ln for ln in new.splitlines(True)
                       if not ln.strip().startswith("password"))
        assert "password" not in nopw, nopw
        body = ask(srv, OWNER, "newconfig club %s\n%sEOF\n" % (PW, nopw))
        assert "Done: the block of club@example.test was replaced" in body, \
            body
        with open(srv.lists_file) as f:
            text = f.read()
        assert "\tpassword " in text, text
        body = ask(srv, OWNER, "config club %s\n" % PW)
        assert "Wrong password" not in body and \
            "list club@example.test" in body, body
        # A bad block changes nothing and says why.
        for bad, why in ((new + "\tcolour blue\n", "unknown key 'colour'"),
                         (new.replace("list club@", "list club2@"),
                          "not club@example.test"),
                         (new + "list other@example.test\n\towner "
                          "x@example.test\n", "2 lists")):
            before = open(srv.lists_file).read()
            body = ask(srv, OWNER, "newconfig club %s\n%sEOF\n" % (PW, bad))
            assert "not valid; nothing changed" in body and why in body, \
                body
            assert open(srv.lists_file).read() == before
        body = ask(srv, OWNER, "newconfig club wrongpass\n%sEOF\n" % new)
        assert "Wrong password" in body and "unknown command" not in body
        lc.assert_workers_healthy(srv)


def test_passwd_writelist_mkdigest():
    srv = lc.server(users=USERS)
    with srv:
        club(srv)
        lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                 "bob@example.test")
        lc.dlist(srv, "set", LIST, "bob@example.test", "digest")
        body = ask(srv, OWNER, "passwd club %s new-password-1\n" % PW)
        assert "Done: the password of club@example.test" in body, body
        assert "new-password-1" not in body
        dt.wait_for(lambda: "Wrong password" in ask(
            srv, OWNER, "writelist club %s\n" % PW), what="old password "
            "refused")
        body = ask(srv, OWNER, "writelist club new-password-1\n")
        assert "2 member(s) of club@example.test written" in body, body
        with open(os.path.join(srv.state_dir, "lists", LIST,
                               "members.txt")) as f:
            assert f.read() == "alice@example.test\nbob@example.test " \
                "digest\n"
        lc.send(srv, "alice@example.test", LIST, subject="for the digest")
        lc.wait_message(srv, "alice@example.test",
                        lc.subject_has("for the digest"))
        body = ask(srv, OWNER, "mkdigest club new-password-1\n")
        assert "digest of club@example.test was sent" in body, body
        m = lc.wait_message(srv, "bob@example.test",
                            lc.subject_has("digest"), what="digest")
        assert "for the digest" in lc.body_of(m)
        # Where the list server may not replace lists.dat, by-mail edits
        # are refused and nothing changes.
        if os.geteuid() == 0:
            os.chown(srv.tmp, 0, 0)
            before = open(srv.lists_file).read()
            body = ask(srv, OWNER, "passwd club new-password-1 other-pw-22\n")
            assert "may not change lists.dat" in body, body
            assert open(srv.lists_file).read() == before
        lc.assert_workers_healthy(srv)


def send_mime(srv, sender, to, subject, text, name, data):
    msg = MIMEMultipart()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.attach(MIMEText(text))
    att = MIMEApplication(data, Name=name)
    att.add_header("Content-Disposition", "attachment", filename=name)
    msg.attach(att)
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        s.sendmail(sender, [to], msg.as_bytes(policy=email.policy.SMTP))


def attachment_of(m):
    for part in m.walk():
        if part.get_content_disposition() == "attachment":
            return part.get_filename(), part.get_payload(decode=True)
    raise AssertionError("no attachment in %r" % m["Subject"])


def test_shared_files():
    srv = lc.server(users=USERS)
    with srv:
        club(srv)
        lc.dlist(srv, "subscribe", LIST, "alice@example.test")
        # dlist on the command line
        src = os.path.join(srv.tmp, "rules.txt")
        with open(src, "w") as f:
            f.write("Rule 1: be nice.\n")
        r = lc.dlist(srv, "putfile", LIST, "rules.txt", src)
        assert "stored rules.txt" in r.stdout, r.stdout
        area = os.path.join(srv.state_dir, "lists", LIST, "files")
        with open(os.path.join(area, "rules.txt")) as f:
            assert f.read() == "Rule 1: be nice.\n"
        r = lc.dlist(srv, "files", LIST)
        assert r.stdout.split()[:2] == ["rules.txt", "17"], r.stdout
        for bad in ("../x", ".hidden", "a/b", "x" * 101, "a..b"):
            r = lc.dlist(srv, "putfile", LIST, bad, src, check=False)
            assert r.returncode == 1 and "not a usable file name" in \
                r.stderr, (bad, r.stderr)
        assert sorted(os.listdir(area)) == ["rules.txt"]
        # putfile by mail, with the file attached (binary bytes)
        data = bytes(range(256)) * 40
        send_mime(srv, OWNER, REQ, "put it", "putfile club %s logo.bin\n"
                  % PW, "logo.bin", data)
        r = lc.wait_message(srv, OWNER, lc.subject_has("Re: put it"))
        assert "Stored logo.bin (10240 bytes)" in lc.body_of(r), \
            lc.body_of(r)
        with open(os.path.join(area, "logo.bin"), "rb") as f:
            assert f.read() == data
        # a wrong password or a bad name stores nothing
        send_mime(srv, OWNER, REQ, "put bad", "putfile club %s .evil\n"
                  "putfile club wrongpass x.bin\n" % PW, "x", b"x")
        r = lc.wait_message(srv, OWNER, lc.subject_has("Re: put bad"))
        assert "not a usable file name" in lc.body_of(r)
        assert "Wrong password" in lc.body_of(r)
        # too large for the list's file_max_size
        lc.set_list_option(srv, LIST, "file_max_size 1k")
        send_mime(srv, OWNER, REQ, "put big", "putfile club %s big.bin\n"
                  % PW, "big.bin", b"y" * 2000)
        r = lc.wait_message(srv, OWNER, lc.subject_has("Re: put big"))
        assert "larger than 1024 bytes" in lc.body_of(r), lc.body_of(r)
        assert "big.bin" not in os.listdir(area)
        # members list and fetch; a non-member is refused
        body = ask(srv, "alice@example.test", "files club\n")
        assert "logo.bin" in body and "10240" in body and \
            "rules.txt" in body, body
        body = ask(srv, "alice@example.test", "getfile club logo.bin\n")
        assert "sent separately" in body, body
        m = lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("club file logo.bin"))
        name, got = attachment_of(m)
        assert name == "logo.bin" and got == data
        assert "Content-Transfer-Encoding: base64" in m.as_string()
        assert re.fullmatch(r"<\d+\.[0-9a-f]{16}@[^>]+>", m["Message-ID"]), \
            m["Message-ID"]
        body = ask(srv, "carol@example.test", "files club\n"
                   "getfile club rules.txt\n")
        assert body.count("Only members may fetch") == 2, body
        # delfile by mail and by dlist
        body = ask(srv, OWNER, "delfile club %s logo.bin\n" % PW)
        assert "Deleted logo.bin" in body, body
        r = lc.dlist(srv, "delfile", LIST, "rules.txt")
        assert "deleted rules.txt" in r.stdout
        assert os.listdir(area) == []
        lc.assert_workers_healthy(srv)


if __name__ == "__main__":
    dt.main([test_unknown_commands_and_subject_once,
             test_owner_password_and_token, test_texts_which_config,
             test_passwd_writelist_mkdigest, test_shared_files])
