/* SPDX-License-Identifier: MIT */
/* Identity, metadata and digest of one file, for results and reports. */
#include "agent/fileinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void
etx_fileinfo_from_stat(const struct stat *st, struct etx_fileinfo *out)
{
    memset(out, 0, sizeof(*out));
    out->exists = true;
    out->dev = st->st_dev;
    out->ino = st->st_ino;
    out->size = (uint64_t)st->st_size;
    out->mode = st->st_mode;
    out->uid = st->st_uid;
    out->gid = st->st_gid;
}

bool
etx_fileinfo_same(const struct etx_fileinfo *a, const struct etx_fileinfo *b)
{
    return a->exists && b->exists && a->dev == b->dev && a->ino == b->ino;
}

struct etx_file_id
etx_fileinfo_id(const struct etx_fileinfo *fi)
{
    struct etx_file_id id = {.dev = fi->dev, .ino = fi->ino};

    return id;
}

static int
digest_regular(int dirfd, const char *name, struct etx_fileinfo *fi,
               struct etx_error *err)
{
    struct stat st;
    int fd = -1, rc = ETX_ERR;

    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "open", name,
                      "cannot open for the digest");
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "fstat", name,
                      "cannot stat for the digest");
        goto out;
    }
    if (st.st_dev != fi->dev || st.st_ino != fi->ino) {
        etx_error_set(err, ETX_CLASS_AMBIGUOUS, 0, "digest", name,
                      "the file was replaced while it was inspected");
        goto out;
    }
    if (etx_digest_fd(fd, fi->sha256, NULL, err) != ETX_OK)
        goto out;
    rc = ETX_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int
etx_fileinfo_at(int dirfd, const char *name, unsigned flags,
                struct etx_fileinfo *out, struct etx_error *err)
{
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstatat", name,
                             "cannot inspect");
    }
    etx_fileinfo_from_stat(&st, out);
    if ((flags & ETX_FILEINFO_DIGEST) != 0 && S_ISREG(st.st_mode))
        return digest_regular(dirfd, name, out, err);
    return ETX_OK;
}
