/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the replacement-engine tests: scratch directories,
 * files, digests, the helper programs built by extra.cmake, and child
 * processes. Each helper asserts (cmocka) on failure.
 */
#ifndef ETX_TESTS_AGENT_TESTLIB_ENGINE_H
#define ETX_TESTS_AGENT_TESTLIB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proto/digest.h"

/* A new empty directory under /var/tmp; free the string, rm with rmtree. */
char *etx_tl_scratch(void);
void etx_tl_rmtree(const char *path);

/* "<dir>/<name>" in a new string (free). */
char *etx_tl_join(const char *dir, const char *name);

/* Path of a helper built by extra.cmake (new string, free). */
char *etx_tl_bin(const char *name);

void etx_tl_write(const char *path, const void *data, size_t len, mode_t mode);
void etx_tl_copy(const char *src, const char *dst, mode_t mode);
void etx_tl_sha(const char *path, char hex[ETX_DIGEST_HEX_LEN + 1]);
ino_t etx_tl_ino(const char *path);

/* Entries of 'dir' that look like engine temps. */
size_t etx_tl_count_temps(const char *dir);

/*
 * Run argv (argv[0] a path) with the environment plus 'env' (NULL-ended,
 * may be NULL); stdout and stderr go to 'out' (NUL-terminated, cut).
 * Returns the wait status.
 */
int etx_tl_run(char *const argv[], char *const env[], char *out, size_t len);

/* Start "prog loop" and return once it runs (it printed its version). */
pid_t etx_tl_start_loop(const char *prog);

/* SIGKILL and reap. */
void etx_tl_kill(pid_t pid);

/*
 * Write a tar (pax) at 'tar_path' holding one regular file 'entry' (the
 * name is stored as given, hostile ones included) with 'data' and 'mode'.
 */
void etx_tl_tar(const char *tar_path, const char *entry, const void *data,
                size_t len, mode_t mode);

/* The whole content of 'path' in a new buffer (free); *len its size. */
void *etx_tl_slurp(const char *path, size_t *len);

/* True when 'tool' is an executable in /usr/bin, /usr/sbin, /bin or /sbin. */
bool etx_tl_have(const char *tool);

#endif /* ETX_TESTS_AGENT_TESTLIB_ENGINE_H */
