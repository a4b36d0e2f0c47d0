/*
 * fuzz.h - what the libFuzzer targets in fuzz/ share (fuzz_util.c).
 *
 * Each fuzz_TARGET.c defines LLVMFuzzerTestOneInput() for one parser of
 * outside input; fuzz_util.c defines LLVMFuzzerInitialize(), which sets
 * the log level to LOG_LEVEL_FATAL so that parsers logging rejected
 * input do not flood the fuzzer's output.
 *
 * fuzz_cstr() returns a malloc'd NUL-terminated copy of the input (the
 * parsers that take C strings see any embedded NUL as the end, as they
 * would after reading a line). fuzz_memfd() puts the input in an
 * anonymous memory file and writes its /proc/self/fd path into path, for
 * parsers that read a named file; close the returned fd when done.
 * fuzz_tmpdir() makes (once per process) a scratch directory under
 * /dev/shm (fsync is free there) or TMPDIR, removed with its content at
 * exit, for targets that write files; it returns the same path after.
 * All abort() on failure (out of memory, no memfd): not a finding.
 */
#ifndef DMAIL_FUZZ_H
#define DMAIL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

char *fuzz_cstr(const uint8_t *data, size_t size);
int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t len);
const char *fuzz_tmpdir(const char *name);

#endif
