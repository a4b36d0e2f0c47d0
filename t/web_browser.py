#!/usr/bin/env python3
"""The web manager in a real headless browser (Debian chromium,
chromium-driver and python3-selenium): a moderator logs in, approves a
held post from the moderation page and the post reaches a member's
Maildir; the administrator logs in, holds and releases a queued message
from the queue page and reloads from the control page; an owner
browses the archive and uploads a shared file. Screenshots of
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


def test_admin_queue_and_reload():
    from selenium.webdriver.common.by import By
    closed = dt.free_port()
    b = browser()
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
            shot(b, "dashboard")
            b.get(base + "/queue")
            b.find_element(By.XPATH, "//button[text()='Hold']").click()
            dt.wait_for(lambda: "(on hold)" in b.page_source, 15,
                        what="message on hold")
            shot(b, "queue-held")
            b.find_element(By.XPATH, "//button[text()='Release']").click()
            dt.wait_for(lambda: "(on hold)" not in b.page_source, 15,
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
    dt.main([test_moderator_approves, test_admin_queue_and_reload,
             test_archive_and_files])
