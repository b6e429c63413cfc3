/* SPDX-License-Identifier: MIT */
/* Atomic symlink flips with a durable record of the previous target. */
#define _GNU_SOURCE
#include "agent/symflip.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fsops.h"
#include "agent/tempname.h"

#define CREATE_TRIES 16

int
etx_symflip_read(int dirfd, const char *name, char *buf, size_t len,
                 struct etx_error *err)
{
    struct stat st;
    ssize_t n;

    buf[0] = '\0';
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstatat", name,
                             "cannot inspect the symlink");
    }
    if (!S_ISLNK(st.st_mode))
        return etx_error_sys(err, S_ISDIR(st.st_mode) ? EISDIR : EEXIST,
                             ETX_CTX_FILE, "readlink", name,
                             "\"%s\" is not a symlink; it must be one (a "
                             "directory is never renamed over another)",
                             name);
    n = readlinkat(dirfd, name, buf, len);
    if (n < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "readlink", name,
                             "cannot read the symlink");
    if ((size_t)n >= len)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "readlink", name,
                             "the symlink target is too long");
    buf[n] = '\0';
    return ETX_OK;
}

/* A new symlink to 'target' under a fresh temp name for 'name'. */
static int
make_temp_link(int dirfd, const char *name, const char *target,
               char tmp[NAME_MAX + 1], struct etx_error *err)
{
    int i;

    for (i = 0; i < CREATE_TRIES; i++) {
        if (etx_tempname_make(name, tmp, err) != ETX_OK)
            return ETX_ERR;
        if (symlinkat(target, dirfd, tmp) == 0)
            return ETX_OK;
        if (errno != EEXIST)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "symlink", tmp,
                                 "cannot create a temp symlink");
    }
    return etx_error_sys(err, EEXIST, ETX_CTX_FILE, "symlink", tmp,
                         "%d temp names collided", CREATE_TRIES);
}

/* Temp symlink renamed over 'name'; no fsync. */
static int
flip(int dirfd, const char *name, const char *target, struct etx_error *err)
{
    char tmp[NAME_MAX + 1];

    if (make_temp_link(dirfd, name, target, tmp, err) != ETX_OK)
        return ETX_ERR;
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        etx_error_sys(err, errno, ETX_CTX_RENAME, "rename", name,
                      "cannot rename the temp symlink \"%s\" over \"%s\"", tmp,
                      name);
        unlinkat(dirfd, tmp, 0);
        return ETX_ERR;
    }
    return ETX_OK;
}

int
etx_symflip_set(int dirfd, const char *name, const char *target,
                struct etx_error *err)
{
    char now[PATH_MAX];

    if (flip(dirfd, name, target, err) != ETX_OK ||
        etx_fsops_sync_dir(dirfd, name, err) != ETX_OK ||
        etx_symflip_read(dirfd, name, now, sizeof(now), err) != ETX_OK)
        return ETX_ERR;
    if (strcmp(now, target) != 0)
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "verify", name,
                             "after the flip \"%s\" points at \"%s\", not "
                             "\"%s\"",
                             name, now, target);
    return ETX_OK;
}

int
etx_symflip_switch(int dirfd, const char *name, const char *target, char *prev,
                   size_t prev_len, int *flipped, struct etx_error *err)
{
    char rec[NAME_MAX + 1], cur[PATH_MAX];

    if (flipped != NULL)
        *flipped = 0;
    if (etx_tempname_prev(name, rec, err) != ETX_OK ||
        etx_symflip_read(dirfd, name, cur, sizeof(cur), err) != ETX_OK)
        return ETX_ERR;
    if (strcmp(cur, target) == 0)
        return etx_symflip_read(dirfd, rec, prev, prev_len, err);
    snprintf(prev, prev_len, "%s", cur);
    /* Record first, durably: a crash before the flip leaves it usable. */
    if (cur[0] != '\0' && (flip(dirfd, rec, cur, err) != ETX_OK ||
                           etx_fsops_sync_dir(dirfd, rec, err) != ETX_OK))
        return ETX_ERR;
    if (etx_symflip_set(dirfd, name, target, err) != ETX_OK)
        return ETX_ERR;
    if (flipped != NULL)
        *flipped = 1;
    return ETX_OK;
}

int
etx_symflip_rollback(int dirfd, const char *name, char *from, char *to,
                     size_t len, int *flipped, struct etx_error *err)
{
    char rec[NAME_MAX + 1];
    struct stat st;

    if (flipped != NULL)
        *flipped = 0;
    if (etx_tempname_prev(name, rec, err) != ETX_OK ||
        etx_symflip_read(dirfd, rec, to, len, err) != ETX_OK ||
        etx_symflip_read(dirfd, name, from, len, err) != ETX_OK)
        return ETX_ERR;
    if (to[0] == '\0')
        return etx_error_sys(err, ENOENT, ETX_CTX_FILE, "rollback", rec,
                             "no previous target of \"%s\" is recorded", name);
    if (fstatat(dirfd, to, &st, 0) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "rollback", to,
                             "the previous version \"%s\" of \"%s\" is gone",
                             to, name);
    if (strcmp(from, to) == 0)
        return etx_fsops_sync_dir(dirfd, name, err);
    if (etx_symflip_set(dirfd, name, to, err) != ETX_OK)
        return ETX_ERR;
    if (flipped != NULL)
        *flipped = 1;
    return ETX_OK;
}
