/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by unit tests: a fresh temporary directory and its
 * removal. Header-only so each test executable stays one source file.
 */
#ifndef ETX_TESTS_UNIT_TESTUTIL_H
#define ETX_TESTS_UNIT_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* mkdtemp("/tmp/etx-TAG-XXXXXX") into buf; 0 or -1. */
static inline int
etx_test_tmpdir(char *buf, size_t len, const char *tag)
{
    if (snprintf(buf, len, "/tmp/etx-%s-XXXXXX", tag) >= (int)len)
        return -1;
    return mkdtemp(buf) != NULL ? 0 : -1;
}

static inline int
etx_test_rm_one(const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove the tree at path, children first, never following links. */
static inline int
etx_test_rmtree(const char *path)
{
    return nftw(path, etx_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* ETX_TESTS_UNIT_TESTUTIL_H */
