#!/usr/bin/env python3
"""log_keys - log lines are a wire format: every key a program logs is in
the field table of common/log.h, and every event line starts with its
action= or event= key.

The scanner reads the format string of each log_debug, log_info,
log_warn, log_error, log_fatal and log_panic call in the programs'
source (adjacent string literals joined, a macro such as PRIu64 read as
a conversion) and reports, as file:line, a line that

  - logs a key that the table in common/log.h does not list,
  - is a debug, info, warning or error line not starting with action= or
    event=, or
  - has a word that is neither key=value nor a conversion that expands
    to fields (free text after the event name).

Text in double quotes is a value and is not read. log_fatal and
log_panic end the process and are free text for a human, but a key they
log must still be in the table. The test also runs the scanner on a
small sample with deliberately wrong lines, so a scanner that stopped
finding anything would fail too.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

LOG_H = os.path.join(dt.SRCDIR, "common", "log.h")
PROGRAM_DIRS = ("common", "master", "smtpd", "queued", "pop3d", "listd",
                "util")
LEVELS = ("debug", "info", "warn", "error", "fatal", "panic")
FREE_TEXT_LEVELS = ("fatal", "panic")
CALL = re.compile(r"\blog_(%s)\s*\(" % "|".join(LEVELS))
KEY = re.compile(r"^([a-z][a-z0-9_]*)=")
# A conversion standing for whole fields, such as "%s" of a field list.
CONVERSION = re.compile(r"^(%[-#0-9.*]*(l|ll|z|j|h)?[sdiuxX])+$")


def table_keys(path=LOG_H):
    """The keys of the field table in log.h."""
    with open(path) as f:
        text = f.read()
    table = text[text.index(" *   key "):]
    table = table[:table.index("\n *\n")]
    keys = re.findall(r"^ \*   ([a-z][a-z0-9_]*) ", table, re.M)
    return set(keys[1:])  # the first row is the heading


def format_arg(text, i):
    """The format string of a call whose '(' ends at i: string literals
    joined, identifiers between them (PRIu64) read as one conversion.
    None when the first argument is not a literal."""
    out = []
    saw_literal = False
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\n":
            i += 1
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i + 1:j].replace('\\"', '"'))
            saw_literal = True
            i = j + 1
        elif c.isalpha() or c == "_":
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
            out.append("d")  # "%" PRIu64 -> "%" "d"
            i += len(m.group(0))
        else:
            break
    if not saw_literal or (i < n and text[i] not in ",)"):
        return None
    return "".join(out)


def words(fmt):
    """Space-separated words of a format, quoted values kept whole."""
    return re.findall(r'(?:[^\s"]|"[^"]*")+', fmt)


def check_format(level, fmt, keys):
    """Problems of one format string, as a list of texts."""
    problems = []
    ws = words(fmt)
    for w in ws:
        m = KEY.match(w)
        if m and m.group(1) not in keys:
            problems.append("key '%s' is not in common/log.h" % m.group(1))
    if level in FREE_TEXT_LEVELS:
        return problems
    if not ws or not re.match(r"^(action|event)=[a-z0-9%][-a-z0-9%s]*$",
                              ws[0]):
        problems.append("does not start with action=NAME or event=NAME")
        return problems
    for w in ws[1:]:
        if not KEY.match(w) and not CONVERSION.match(w):
            problems.append("free text '%s' (write key=value, quote "
                            "values with spaces)" % w)
            break
    return problems


def strip_comments(text):
    """C comments blanked, line numbers kept (a comment may name
    log_fatal() without calling it)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*",
                  lambda m: re.sub(r"[^\n]", " ", m.group(0)), text,
                  flags=re.S)


def scan_text(name, text, keys):
    """Problems of one C source text: (name:line, level, message)."""
    found = []
    text = strip_comments(text)
    for m in CALL.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        fmt = format_arg(text, m.end())
        where = "%s:%d" % (name, line)
        if fmt is None:
            # The definition in log.c, or a non-literal format.
            if not name.endswith("log.c"):
                found.append((where, m.group(1),
                              "format is not a string literal"))
            continue
        for p in check_format(m.group(1), fmt, keys):
            found.append((where, m.group(1), p))
    return found


def scan_tree(keys):
    found, used = [], set()
    for d in PROGRAM_DIRS:
        top = os.path.join(dt.SRCDIR, d)
        for name in sorted(os.listdir(top)):
            if not name.endswith(".c"):
                continue
            with open(os.path.join(top, name)) as f:
                text = f.read()
            found += scan_text("%s/%s" % (d, name), text, keys)
            # Fields are also built into a buffer logged with "%s"
            # (deliver.c's recipients, poison.c's quarantine record).
            used.update(re.findall(r'["\s]([a-z][a-z0-9_]*)=',
                                   strip_comments(text)))
    return found, used


SAMPLE = r'''
static void f(void)
{
	log_info("action=accepted qid=%s from=<%s> to=%s size=%" PRIu64
	    " reason=\"a b=c\"", id, from, to, size);
	log_warn("event=worker-exit pool=%s pid=%ld%s", p, pid, more);
	log_fatal("cannot open %s: %s", path, strerror(errno));
	log_info("queue_id=%s removed", id);
	log_error("action=deliver qid=%s colour=%s", id, c);
	log_info("event=flush count=%zu message(s) due", k);
	log_debug("pool %s: retiring idle pid %ld", name, pid);
	log_panic("bad state sid=%s", id);
	log_warn(fmt, x);
}
'''


def test_scanner_finds_wrong_lines():
    """The scanner passes good lines and names each wrong one by line."""
    keys = table_keys()
    got = [(w, p) for w, _, p in scan_text("sample.c", SAMPLE, keys)]
    want = [
        ("sample.c:8", "key 'queue_id' is not in common/log.h"),
        ("sample.c:8", "does not start with action=NAME or event=NAME"),
        ("sample.c:9", "key 'colour' is not in common/log.h"),
        ("sample.c:10", "free text 'message(s)' (write key=value, quote "
                        "values with spaces)"),
        ("sample.c:11", "does not start with action=NAME or event=NAME"),
        ("sample.c:13", "format is not a string literal"),
    ]
    assert got == want, got


def test_table_parsed():
    keys = table_keys()
    for k in ("action", "event", "qid", "sid", "client", "from", "to",
              "status", "dsn", "reason", "relay", "list", "user"):
        assert k in keys, k
    assert "key" in keys and "meaning" not in keys


def test_source_logs_known_keys():
    """Every log call of the programs follows common/log.h."""
    keys = table_keys()
    found, used = scan_tree(keys)
    assert not found, "log lines not following common/log.h:\n" + \
        "\n".join("%s: log_%s: %s" % f for f in found)
    unused = sorted(keys - used)
    assert not unused, "in common/log.h but logged nowhere: %s" % unused


def test_old_spellings_gone():
    """One spelling per field: the old names of the queue id and of
    the recipient are not logged by any program."""
    keys = table_keys()
    for old in ("id", "queue_id", "rcpt", "rcpts", "method", "after",
                "dsn_id", "peer", "auth"):
        assert old not in keys, old


if __name__ == "__main__":
    dt.main([test_scanner_finds_wrong_lines, test_table_parsed,
             test_source_logs_known_keys, test_old_spellings_gone])
