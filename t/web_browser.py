#!/usr/bin/env python3
"""The web manager in a real headless browser (Debian chromium,
chromium-driver and python3-selenium): a moderator logs in, approves a
held post from the moderation page and the post reaches a member's
Maildir; a list owner changes subject_prefix in the settings form and
lists.dat has it; the administrator logs in, holds and releases a queued
message from the queue page and reloads from the control page; an owner
browses the archive and uploads a shared file; an owner adds and removes
a member, rejects a held post with a reason, and a member unsubscribes
with the one-click link. Screenshots of
the main pages go to $DMAIL_BUILDDIR/t/web-screenshots/.

Not part of `make check` (it needs a browser and takes a while): run
once per CI run by contrib/test-browser.sh. Skips (77) when selenium,
chromium or chromedriver is missing, or dmail-webd was not built."""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402
import list_common as lc  # noqa: E402
import web_common as wc  # noqa: E402

LIST = "club@example.test"
MOD = "mod@example.test"
SHOTS = os.path.join(dt.BUILDDIR, "t", "web-screenshots")


def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise dt.SkipTest("python3-selenium is not installed")
    chrome = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not chrome or not driver:
        raise dt.SkipTest("chromium or chromium-driver is not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1200,900"):
        opts.add_argument(a)
    opts.accept_insecure_certs = True   # the harness's self-signed cert
    return webdriver.Chrome(service=Service(driver), options=opts)


def shot(b, name):
    os.makedirs(SHOTS, exist_ok=True)
    b.save_screenshot(os.path.join(SHOTS, name + ".png"))


def login(b, base, user):
    from selenium.webdriver.common.by import By
    b.get(base + "/login")
    b.find_element(By.NAME, "user").send_keys(user)
    b.find_element(By.NAME, "password").send_keys(wc.PASSWORD)
    shot(b, "login")
    b.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_moderator_approves():
    from selenium.webdriver.common.by import By
    b = browser()
    srv = wc.server(users=(MOD, "alice@example.test",
                           "stranger@example.test", "owner@example.test"))
    try:
        with srv:
            lc.dlist(srv, "create", LIST, "--owner", "owner@example.test",
                     "--description", "The club's list")
            lc.set_list_option(srv, LIST, "moderator %s" % MOD)
            lc.dlist(srv, "subscribe", LIST, "alice@example.test",
                     "bob@example.test")
            lc.send(srv, "stranger@example.test", LIST,
                    subject="browser approval", body="From a stranger.\n")
            held = os.path.join(srv.state_dir, "lists", LIST, "held")
            dt.wait_for(lambda: os.path.isdir(held) and os.listdir(held),
                        15, what="held post")
            base = "https://localhost:%d" % srv.port("web")
            login(b, base, MOD)
            dt.wait_for(lambda: b.current_url.endswith("/lists"), 15,
                        what="lists page after login")
            shot(b, "lists")
            b.find_element(By.LINK_TEXT, LIST).click()
            shot(b, "list-settings")
            b.find_element(By.LINK_TEXT, "Members").click()
            assert "alice@example.test" in b.page_source
            shot(b, "members")
            b.get(base + "/lists/%s/moderation" % LIST)
            assert "browser approval" in b.page_source
            shot(b, "moderation")
            b.find_element(By.NAME, "approve").click()
            lc.wait_message(srv, "alice@example.test",
                            lc.subject_has("browser approval"),
                            what="approved post")
    finally:
        b.quit()


def test_owner_changes_setting():
    import pwd
    from selenium.webdriver.common.by import By
    b = browser()
    srv = wc.server(users=("owner@example.test",))
    try:
        with srv:
            # The web manager replaces lists.dat: its directory must be
            # writable by run_as (lists.dat(5)).
            if os.geteuid() == 0:
                pw = pwd.getpwnam(dt.RUN_AS)
                os.chown(srv.tmp, pw.pw_uid, pw.pw_gid)
            lc.dlist(srv, "create", LIST, "--owner", "owner@example.test",
                     "--description", "The club's list")
            base = "https://localhost:%d" % srv.port("web")
            login(b, base, "owner@example.test")
            dt.wait_for(lambda: b.current_url.endswith("/lists"), 15,
                        what="lists page after login")
            b.find_element(By.LINK_TEXT, LIST).click()
            field = b.find_element(By.NAME, "subject_prefix")
            field.clear()
            field.send_keys("[browser club]")
            shot(b, "list-settings-edit")
            b.find_element(By.XPATH,
                           "//button[text()='Save settings']").click()
            dt.wait_for(lambda: "Settings saved." in b.page_source, 15,
                        what="settings saved")
            with open(srv.lists_file) as f:
                assert "\tsubject_prefix [browser club]\n" in f.read()
            shot(b, "list-settings-saved")
    finally:
        b.quit()


def test_admin_queue_and_reload():
    from selenium.webdriver.common.by import By
    closed = dt.free_port()
    b = browser()
    # A history sample every 3 seconds (dmaild(8)): charts to look at.
    os.environ["DMAIL_HISTORY_INTERVAL"] = "3"
    srv = wc.server(queue=True, extra="transport remote.test "
                    "127.0.0.1:%d\n" % closed)
    try:
        with srv:
            lc.send(srv, "someone@example.test", "far@remote.test",
                    subject="stays queued")
            qdir = os.path.join(srv.state_dir, "spool", "queue")
            dt.wait_for(lambda: os.path.isdir(qdir) and os.listdir(qdir),
                        15, what="queued message")
            base = "https://localhost:%d" % srv.port("web")
            login(b, base, wc.ADMIN)
            dt.wait_for(lambda: b.current_url.endswith("/dashboard"), 15,
                        what="dashboard after login")
            dt.wait_for(lambda: b.get(base + "/dashboard") or
                        b.page_source.count("<svg") >= 5, 20,
                        interval=1, what="dashboard charts")
            shot(b, "dashboard")
            b.get(base + "/queue")
            shot(b, "queue")
            # Hold from the list; the message's page comes back.
            b.find_element(By.XPATH, "//button[text()='Hold']").click()
            dt.wait_for(lambda: "<td>held</td>" in b.page_source, 15,
                        what="message on hold")
            shot(b, "queue-held")
            b.find_element(By.XPATH, "//button[text()='Release']").click()
            dt.wait_for(lambda: "<td>held</td>" not in b.page_source and
                        "Last error" in b.page_source, 15,
                        what="message released")
            b.get(base + "/accounts")
            shot(b, "accounts")
            b.get(base + "/control")
            shot(b, "control")
            b.find_element(By.XPATH, "//button[text()='Reload']").click()
            dt.wait_for(lambda: "reloaded" in b.page_source, 15,
                        what="reload answer")
            shot(b, "reloaded")
    finally:
        b.quit()


def test_owner_members_and_unsubscribe():
    """The owner adds and removes a member on the members page, rejects
    a held post with a reason (the poster gets it), and a member opens
    the one-click unsubscribe link of their copies and confirms it."""
    import hashlib
    import hmac
    import urllib.parse
    from selenium.webdriver.common.by import By
    owner = "owner@example.test"
    b = browser()
    srv = wc.server(users=(owner, "alice@example.test",
                           "stranger@example.test"))
    try:
        with srv:
            lc.dlist(srv, "create", LIST, "--owner", owner)
            lc.set_list_option(srv, LIST, "post moderated")
            lc.dlist(srv, "subscribe", LIST, "alice@example.test")
            base = "https://localhost:%d" % srv.port("web")
            login(b, base, owner)
            dt.wait_for(lambda: b.current_url.endswith("/lists"), 15,
                        what="lists page after login")
            b.get(base + "/lists/%s/members" % LIST)
            b.find_element(By.XPATH, "//form[contains(@action, "
                           "'members/add')]//input[@name='address']"
                           ).send_keys("new@example.test")
            b.find_element(By.XPATH, "//button[text()='Add']").click()
            dt.wait_for(lambda: ">new@example.test<" in b.page_source, 15,
                        what="added member on the page")
            assert "new@example.test" in lc.members(srv, LIST)
            shot(b, "members-added")
            b.find_element(By.XPATH, "//tr[td[text()='new@example.test']]"
                           "//button[text()='Remove']").click()
            dt.wait_for(lambda: ">new@example.test<" not in b.page_source,
                        15, what="removed member gone from the page")
            assert "new@example.test" not in lc.members(srv, LIST)
            lc.send(srv, "stranger@example.test", LIST,
                    subject="browser reject")
            held = os.path.join(srv.state_dir, "lists", LIST, "held")
            dt.wait_for(lambda: os.path.isdir(held) and os.listdir(held),
                        15, what="held post")
            b.get(base + "/lists/%s/moderation" % LIST)
            b.find_element(By.NAME, "reason").send_keys("Not for this list")
            shot(b, "moderation-reject")
            b.find_element(By.NAME, "reject").click()
            m = lc.wait_message(srv, "stranger@example.test",
                                lc.subject_has("rejected"),
                                what="reject notice")
            assert "Reason: Not for this list" in lc.body_of(m)
            # The member's one-click link (List-Unsubscribe of a copy);
            # a forged one is refused (and makes the list's secret).
            b.delete_all_cookies()
            b.get(base + "/unsubscribe?" + urllib.parse.urlencode(
                {"list": LIST, "member": "alice@example.test",
                 "token": "0" * 32}))
            assert "not valid" in b.page_source
            with open(os.path.join(srv.state_dir, "lists", LIST,
                                   "secret"), "rb") as f:
                secret = f.read()
            tok = hmac.new(secret, b"alice@example.test",
                           hashlib.sha256).hexdigest()[:32]
            b.get(base + "/unsubscribe?" + urllib.parse.urlencode(
                {"list": LIST, "member": "alice@example.test",
                 "token": tok}))
            assert "alice@example.test" in b.page_source
            shot(b, "unsubscribe")
            b.find_element(By.XPATH, "//button[text()='Unsubscribe']").click()
            dt.wait_for(lambda: "no longer receives" in b.page_source, 15,
                        what="unsubscribed page")
            assert "alice@example.test" not in lc.members(srv, LIST)
    finally:
        b.quit()


def test_archive_and_files():
    """An owner browses the archive (index, a MIME post with an HTML
    part shown as text) and uploads a shared file from the files page."""
    from selenium.webdriver.common.by import By
    owner = "owner@example.test"
    b = browser()
    srv = wc.server(users=(owner, "alice@example.test"))
    try:
        with srv:
            lc.dlist(srv, "create", LIST, "--owner", owner)
            lc.dlist(srv, "subscribe", LIST, "alice@example.test")
            lc.send(srv, owner, LIST, subject="Agenda for Friday",
                    body="Plain text agenda.\n")
            lc.send(srv, "alice@example.test", LIST,
                    subject="=?utf-8?q?Caf=C3=A9?= menu", headers={
                        "MIME-Version": "1.0", "Content-Type":
                        "multipart/alternative; boundary=\"x\""},
                    body="--x\nContent-Type: text/html; charset=utf-8\n\n"
                    "<p>Menu: <b>soup</b> &amp; bread</p>"
                    "<script>alert(1)</script>\n--x--\n")
            idx = os.path.join(srv.state_dir, "lists", LIST, "archive",
                               "index")
            dt.wait_for(lambda: os.path.exists(idx) and
                        len(open(idx).readlines()) == 2, 15,
                        what="two archived posts")
            base = "https://localhost:%d" % srv.port("web")
            login(b, base, owner)
            dt.wait_for(lambda: "/login" not in b.current_url, 15,
                        what="logged in")
            b.get(base + "/lists/%s/archive" % LIST)
            assert "Café menu" in b.page_source
            shot(b, "archive-index")
            b.find_element(By.PARTIAL_LINK_TEXT, "Café menu").click()
            dt.wait_for(lambda: "soup" in b.page_source, 15,
                        what="post view")
            assert "alert(1)" not in b.page_source
            shot(b, "archive-post")
            b.get(base + "/lists/%s/archive/thread" % LIST)
            shot(b, "archive-thread")
            b.get(base + "/lists/%s/files" % LIST)
            path = os.path.join(srv.tmp, "minutes.txt")
            with open(path, "w") as f:
                f.write("Minutes of the meeting.\n")
            b.find_element(By.NAME, "file").send_keys(path)
            b.find_element(By.XPATH, "//button[text()='Upload']").click()
            dt.wait_for(lambda: "minutes.txt" in b.page_source, 15,
                        what="uploaded file listed")
            shot(b, "files")
    finally:
        b.quit()


if __name__ == "__main__":
    dt.main([test_moderator_approves, test_owner_changes_setting,
             test_admin_queue_and_reload, test_archive_and_files,
             test_owner_members_and_unsubscribe])
