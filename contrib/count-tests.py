#!/usr/bin/env python3
"""count-tests.py - add up test results of one or more build trees.

automake's parallel harness counts test programs; this counts test cases:
cmocka's "[ RUN      ]" and "[       OK ]" lines (a case that ran
but did not finish OK failed), and the "ok"/"FAIL" lines
of the Python integration tests (t/dmailtest.py main()). A test program
that failed without saying which case (crash, timeout) counts as one
failure. A directory holding fuzz-results.txt (contrib/fuzz.sh) adds one
per "PASS: fuzz/..." or "FAIL: fuzz/..." line; a missing one counts as one
failure (the fuzz stage did not run). Prints "N passed, N failed" and
exits 1 if anything failed or nothing ran.
"""
import os
import re
import sys

passed = failed = 0
for tree in sys.argv[1:]:
    if os.path.basename(os.path.normpath(tree)) == "fuzz-run":
        try:
            with open(os.path.join(tree, "fuzz-results.txt"),
                      errors="replace") as f:
                text = f.read()
        except OSError:
            text = "FAIL: fuzz/results missing\n"
        passed += len(re.findall(r"^PASS: fuzz/", text, re.M))
        failed += len(re.findall(r"^FAIL: fuzz/", text, re.M))
        if not re.search(r"^(PASS|FAIL): fuzz/", text, re.M):
            failed += 1
        continue
    for root, _dirs, files in os.walk(os.path.join(tree, "t")):
        for name in files:
            if not name.endswith(".trs"):
                continue
            trs = os.path.join(root, name)
            log = trs[:-4] + ".log"
            with open(trs, errors="replace") as f:
                result = re.search(r":test-result: (\w+)", f.read())
            result = result.group(1) if result else "ERROR"
            try:
                with open(log, errors="replace") as f:
                    text = f.read()
            except OSError:
                text = ""
            cm_run = len(re.findall(r"^\[ RUN      \] ", text, re.M))
            cm_ok = len(re.findall(r"^\[       OK \] ", text, re.M))
            ok = cm_ok + len(re.findall(r"^ok   ", text, re.M))
            bad = (cm_run - cm_ok) + len(re.findall(r"^FAIL ", text, re.M))
            if result in ("FAIL", "ERROR", "XPASS") and bad == 0:
                bad = 1
            if result == "PASS" and ok == 0:
                ok = 1
            passed += ok
            failed += bad
# Arguments that are files: logs of scripts printing automake-style lines,
# one per check (contrib/test-package.sh): "PASS: ..." and "FAIL: ...".
for path in sys.argv[1:]:
    if os.path.isfile(path):
        with open(path, errors="replace") as f:
            text = f.read()
        passed += len(re.findall(r"^PASS: ", text, re.M))
        failed += len(re.findall(r"^FAIL: ", text, re.M))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or passed == 0 else 0)
