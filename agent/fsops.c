/* SPDX-License-Identifier: MIT */
/* Directory-relative primitives shared by the swap strategies. */
#define _GNU_SOURCE
#include "agent/fsops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/tempname.h"

int
etx_fsops_sync_dir(int dirfd, const char *where, struct etx_error *err)
{
    if (fsync(dirfd) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fsync", where,
                             "cannot flush the directory to disk");
    return ETX_OK;
}

int
etx_fsops_link_over(int dirfd, const char *from, const char *to,
                    const struct etx_fileinfo *expect, struct etx_error *err)
{
    char tmp[NAME_MAX + 1];
    struct etx_fileinfo got;

    if (etx_tempname_make(to, tmp, err) != ETX_OK)
        return ETX_ERR;
    if (linkat(dirfd, from, dirfd, tmp, 0) != 0)
        return etx_error_sys(err, errno, ETX_CTX_RENAME, "link", from,
                             "cannot link \"%s\" to \"%s\"", from, tmp);
    if (etx_fileinfo_at(dirfd, tmp, 0, &got, err) != ETX_OK)
        goto fail;
    if (!etx_fileinfo_same(&got, expect)) {
        etx_error_set(err, ETX_CLASS_AMBIGUOUS, 0, "link", from,
                      "\"%s\" changed while it was being linked", from);
        goto fail;
    }
    if (renameat(dirfd, tmp, dirfd, to) != 0) {
        etx_error_sys(err, errno, ETX_CTX_RENAME, "rename", to,
                      "cannot rename \"%s\" over \"%s\"", tmp, to);
        goto fail;
    }
    /* Two names of one inode: rename(2) did nothing and left the temp. */
    if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", tmp,
                             "cannot remove a temp link");
    return ETX_OK;
fail:
    unlinkat(dirfd, tmp, 0);
    return ETX_ERR;
}

/* The fallback of a no-replace rename where renameat2 flags are refused. */
static int
noreplace_fallback(int dirfd, const char *from, const char *to,
                   struct etx_error *err)
{
    struct stat st;

    if (fstatat(dirfd, from, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return etx_error_sys(err, errno, ETX_CTX_RENAME, "rename", from,
                             "cannot inspect \"%s\"", from);
    if (S_ISDIR(st.st_mode)) {
        if (renameat(dirfd, from, dirfd, to) != 0)
            return etx_error_sys(err, errno, ETX_CTX_RENAME, "rename", to,
                                 "cannot rename \"%s\" to \"%s\"", from, to);
        return ETX_OK;
    }
    if (linkat(dirfd, from, dirfd, to, 0) != 0)
        return etx_error_sys(err, errno, ETX_CTX_RENAME, "link", to,
                             "cannot link \"%s\" to \"%s\"", from, to);
    if (unlinkat(dirfd, from, 0) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", from,
                             "cannot remove \"%s\" after linking it", from);
    return ETX_OK;
}

int
etx_fsops_rename_noreplace(int dirfd, const char *from, const char *to,
                           struct etx_error *err)
{
    if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
        return ETX_OK;
    if (errno == EINVAL)
        return noreplace_fallback(dirfd, from, to, err);
    return etx_error_sys(err, errno, ETX_CTX_RENAME, "rename", to,
                         "cannot rename \"%s\" to \"%s\"", from, to);
}

int
etx_fsops_setid_open(int dirfd, const char *name, const struct etx_fileinfo *fi,
                     int *fd_out, struct etx_error *err)
{
    struct stat st;
    int fd;

    *fd_out = -1;
    if (!fi->exists || !S_ISREG(fi->mode) ||
        (fi->mode & (S_ISUID | S_ISGID)) == 0)
        return ETX_OK;
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", name,
                             "cannot open a set-id file to clear its mode");
    if (fstat(fd, &st) != 0 || st.st_dev != fi->dev || st.st_ino != fi->ino) {
        close(fd);
        return etx_error_set(err, ETX_CLASS_AMBIGUOUS, 0, "chmod", name,
                             "the file changed while it was inspected");
    }
    *fd_out = fd;
    return ETX_OK;
}

int
etx_fsops_setid_clear(int fd, const char *where, struct etx_error *err)
{
    int rc = ETX_OK;

    if (fd < 0)
        return ETX_OK;
    if (fchmod(fd, 0600) != 0)
        rc = etx_error_sys(err, errno, ETX_CTX_FILE, "fchmod", where,
                           "cannot clear the set-id bits");
    close(fd);
    return rc;
}

int
etx_fsops_secure_drop(int dirfd, const char *name,
                      const struct etx_fileinfo *fi, struct etx_error *err)
{
    int fd = -1;

    if (etx_fsops_setid_open(dirfd, name, fi, &fd, err) != ETX_OK)
        return ETX_ERR;
    return etx_fsops_setid_clear(fd, name, err);
}
