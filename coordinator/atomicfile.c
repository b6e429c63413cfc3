/* SPDX-License-Identifier: MIT */
/* Whole-file replacement by temp + fsync + rename + directory fsync. */
#include "coordinator/atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
write_all(int fd, const unsigned char *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The directory part of path ("." when there is none). */
static void
dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

static int
sync_dir(const char *path)
{
    char dir[PATH_MAX];
    int fd, rc;

    dir_of(path, dir, sizeof(dir));
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int
etx_atomicfile_write(const char *path, const void *data, size_t len,
                     mode_t mode, struct etx_error *err)
{
    char tmp[PATH_MAX];
    int fd = -1, saved;

    if (snprintf(tmp, sizeof(tmp), "%s.etxroll-tmp.%ld", path,
                 (long)getpid()) >= (int)sizeof(tmp))
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "open", path,
                             "cannot write");
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              mode);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", path,
                             "cannot create a temporary file beside it");
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 ||
        fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    if (sync_dir(path) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fsync", path,
                             "written, but its directory was not synced");
    return ETX_OK;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return etx_error_sys(err, saved, ETX_CTX_FILE, "write", path,
                         "cannot write");
}
