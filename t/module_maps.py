#!/usr/bin/env python3
"""module_maps - the module maps in the program headers tell the truth.

A program's header (master/master.h, smtpd/smtpd.h, queued/queued.h,
listd/listd.h, pop3d/pop3d.h: every header whose opening comment lists
files) maps each file to what it offers:

     *   master_spawn.c   master_spawn(): start one worker ...
     *                    master_reap(): ...; master_template_*().

An entry starts with a file name (NAME.c, relative to the header's
directory) and runs on over its more indented lines. This test reads
every entry and checks that the file exists and that each function the
entry names, "name()", is defined in that file ("prefix_*()": some
function with that prefix is). The prototypes below a "/* FILE.c */"
(or "/* --- a.c, b.c --- */") comment of such a header must be defined
in that file (one of those files). It fails with the list of
mismatches, so a function moved to another file without its map line
fails the build.
"""

import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmailtest as dt  # noqa: E402

# Folders of production code (tests, fuzz targets and build trees have
# no maps).
DIRS = ("common", "master", "smtpd", "queued", "pop3d", "listd", "util",
        "webd")

ENTRY = re.compile(r"^ \*( {1,8})([A-Za-z0-9_./-]+\.c)(?:\s+(.*))?$")
CONT = re.compile(r"^ \*( +)(\S.*)$")
NAMED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*?)(_\*)?\(\)")


def opening_comment(text):
    """The lines of the file's first /* ... */ comment."""
    m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    return m.group(0).splitlines() if m else []


def map_entries(header):
    """[(file, [names])] of the module map in header, in order."""
    with open(header) as f:
        lines = opening_comment(f.read())
    entries = []
    cur = None
    for line in lines:
        m = ENTRY.match(line)
        if m and (cur is None or len(m.group(1)) <= cur[2]):
            cur = [m.group(2), m.group(3) or "", len(m.group(1))]
            entries.append(cur)
            continue
        m = CONT.match(line)
        if cur is not None and m and len(m.group(1)) > cur[2]:
            cur[1] += " " + m.group(2)
        else:
            cur = None
    out = []
    for name, text, _ in entries:
        names = [(n, bool(star)) for n, star in NAMED.findall(text)]
        out.append((name, names))
    return out


def defines(source, name, prefix):
    """Does source define function name (or one starting with it)? A
    definition starts a line (or follows its type there) and reaches a
    '{' before any ';' (a declaration)."""
    pat = re.escape(name) + (r"[A-Za-z0-9_]*" if prefix else "")
    for m in re.finditer(r"^(?:[A-Za-z_][^;(]*[\s*])?%s\(" % pat, source,
                         re.M):
        rest = source[m.end():]
        brace, semi = rest.find("{"), rest.find(";")
        if brace >= 0 and (semi < 0 or brace < semi):
            return True
    return False


SECTION = re.compile(r"^/\*[ -]*((?:[A-Za-z0-9_]+\.c(?:, )?)+)[ -]*\*/$")
DECL = re.compile(r"^[A-Za-z_][^;(]*?[\s*]\**([A-Za-z_][A-Za-z0-9_]*)\(")


def section_decls(header):
    """[(files, [names])]: the prototypes under each "/* FILE.c */" (or
    "/* --- a.c, b.c --- */") comment of header, up to the next one."""
    with open(header) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        m = SECTION.match(line.strip())
        if m:
            out.append(([x.strip() for x in m.group(1).split(",")], []))
            continue
        m = DECL.match(line)
        if out and m and not line.startswith(("typedef", "#", "struct",
                                               "enum", "union")):
            out[-1][1].append(m.group(1))
    return out


def check_all():
    mismatches = []
    nmaps = 0
    for d in DIRS:
        for header in sorted(glob.glob(os.path.join(dt.SRCDIR, d, "*.h"))):
            entries = map_entries(header)
            if not entries:
                continue
            nmaps += 1
            rel = os.path.relpath(header, dt.SRCDIR)
            for files, names in section_decls(header):
                srcs = []
                for cfile in files:
                    path = os.path.join(os.path.dirname(header), cfile)
                    if os.path.exists(path):
                        with open(path) as f:
                            srcs.append(f.read())
                    else:
                        mismatches.append("%s: section %s: no such file" %
                                          (rel, cfile))
                for name in names:
                    if not any(defines(src, name, False) for src in srcs):
                        mismatches.append(
                            "%s: %s() is declared under %s but defined "
                            "elsewhere" % (rel, name, ", ".join(files)))
            for cfile, names in entries:
                path = os.path.join(os.path.dirname(header), cfile)
                if not os.path.exists(path):
                    mismatches.append("%s: %s does not exist" % (rel, cfile))
                    continue
                with open(path) as f:
                    source = f.read()
                for name, prefix in names:
                    if not defines(source, name, prefix):
                        mismatches.append("%s: %s() is not defined in %s" % (
                            rel, name + ("_*" if prefix else ""), cfile))
    return nmaps, mismatches


def test_maps_match_the_code():
    nmaps, mismatches = check_all()
    assert nmaps >= 5, "only %d module maps found" % nmaps
    assert not mismatches, "module maps out of date:\n  " + \
        "\n  ".join(mismatches)


def test_parser_catches_a_moved_function():
    """The checker itself: a map naming a function its file lacks, or a
    file that does not exist, is reported."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        h = os.path.join(tmp, "x.h")
        with open(h, "w") as f:
            f.write("/*\n * x.h - map\n *\n"
                    " *   a.c    a_one(), a_two();\n"
                    " *          a_three(), b_*()\n"
                    " *   gone.c gone()\n */\n")
        with open(os.path.join(tmp, "a.c"), "w") as f:
            f.write("int\na_one(void)\n{\n}\n\nstatic void a_two(int x)\n"
                    "{\n}\nvoid a_three(void);\nint\nb_seven(void)\n{\n}\n")
        entries = map_entries(h)
        assert entries == [("a.c", [("a_one", False), ("a_two", False),
                                    ("a_three", False), ("b", True)]),
                           ("gone.c", [("gone", False)])], entries
        with open(os.path.join(tmp, "a.c")) as f:
            src = f.read()
        assert defines(src, "a_one", False)
        assert defines(src, "a_two", False)
        assert not defines(src, "a_three", False)   # declared only
        assert defines(src, "b_", True)
        with open(h, "a") as f:
            f.write("/* a.c */\nint a_one(void);\nvoid a_three(void);\n"
                    "/* --- gone.c, a.c --- */\nint b_seven(void);\n")
        secs = section_decls(h)
        assert secs == [(["a.c"], ["a_one", "a_three"]),
                        (["gone.c", "a.c"], ["b_seven"])], secs


if __name__ == "__main__":
    dt.main([test_parser_catches_a_moved_function, test_maps_match_the_code])
