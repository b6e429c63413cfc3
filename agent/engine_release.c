/* SPDX-License-Identifier: MIT */
/*
 * The release-dir strategy's side of the engine: the tarball is staged as
 * an unnamed file in the agent's state directory, digested while it is
 * written, checked and fsynced at the end, read back to verify, then
 * handed to release.h to unpack and publish. The facade and the other
 * strategies are in engine.c; what both share is in engine_internal.h.
 */
#define _GNU_SOURCE
#include "agent/engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/place.h"
#include "agent/release.h"
#include "agent/tempname.h"

#define TEMP_TRIES 16

/* An unnamed file in the state directory, or a named one unlinked at once. */
static int
open_unnamed(const struct etx_engine *e, struct etx_error *err)
{
    char name[NAME_MAX + 1];
    int fd, i;

    fd = openat(e->state_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        goto out;
    for (i = 0; i < TEMP_TRIES; i++) {
        if (etx_tempname_make("release", name, err) != ETX_OK)
            return -1;
        fd = openat(e->state_fd, name,
                    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd >= 0 && unlinkat(e->state_fd, name, 0) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", e->state_dir,
                      "cannot unlink the staged tarball's name");
        close(fd);
        return -1;
    }
out:
    if (fd < 0)
        etx_error_sys(err, errno, ETX_CTX_FILE, "open", e->state_dir,
                      "cannot create a file for the release tarball");
    return fd;
}

int
etx_engine__release_begin(const struct etx_engine *e,
                          struct etx_engine_stage *s,
                          const struct etx_engine_target *t,
                          struct etx_error *err)
{
    struct etx_stage_opts o = {0};

    if (e->state_fd < 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "stage", t->path,
                             "release-dir needs the agent's state directory");
    if (s->version[0] == '.' || strchr(s->version, '/') != NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, EINVAL, "stage", s->version,
                             "not a valid release id");
    if (etx_roots_open_dir(e->roots, t->path, &s->app_fd, err) != ETX_OK ||
        etx_place_check(s->app_fd, ETX_RELEASE_CURRENT, ETX_PLACE_SYMLINK_FLIP,
                        err) != ETX_OK ||
        etx_engine__owner_opts(t, NULL, &o, err) != ETX_OK)
        return ETX_ERR;
    s->dig = etx_digest_new();
    if (s->dig == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "stage", t->path,
                             "allocate");
    s->tar_fd = open_unnamed(e, err);
    return s->tar_fd < 0 ? ETX_ERR : ETX_OK;
}

/* write(2) all of buf to the tarball, EINTR restarted. */
static int
write_tar(struct etx_engine_stage *s, const unsigned char *p, size_t len,
          struct etx_error *err)
{
    ssize_t n;

    while (len > 0) {
        n = write(s->tar_fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "write", s->path,
                                 "cannot write the staged tarball");
        p += n;
        len -= (size_t)n;
    }
    return ETX_OK;
}

int
etx_engine__release_write(struct etx_engine_stage *s, const void *buf,
                          size_t len, struct etx_error *err)
{
    if (write_tar(s, buf, len, err) != ETX_OK)
        return ETX_ERR;
    etx_digest_update(s->dig, buf, len);
    return ETX_OK;
}

int
etx_engine__release_end(struct etx_engine_stage *s, struct etx_error *err)
{
    char hex[ETX_DIGEST_HEX_LEN + 1];

    etx_digest_final(s->dig, hex);
    if (strcmp(hex, s->sha256) != 0)
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "digest", s->path,
                             "the content received has SHA-256 %s, "
                             "expected %s",
                             hex, s->sha256);
    if (fsync(s->tar_fd) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fsync", s->path,
                             "cannot flush the staged tarball (never "
                             "retried)");
    return ETX_OK;
}

int
etx_engine__release_verify(struct etx_engine_stage *s, struct etx_error *err)
{
    char hex[ETX_DIGEST_HEX_LEN + 1];
    uint64_t size = 0;

    if (lseek(s->tar_fd, 0, SEEK_SET) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "lseek", s->path,
                             "cannot rewind the staged tarball");
    if (etx_digest_fd(s->tar_fd, hex, &size, err) != ETX_OK)
        return ETX_ERR;
    if (size != s->size || strcmp(hex, s->sha256) != 0)
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "verify", s->path,
                             "read back %llu bytes with SHA-256 %s, expected "
                             "%llu bytes with SHA-256 %s",
                             (unsigned long long)size, hex,
                             (unsigned long long)s->size, s->sha256);
    return ETX_OK;
}

int
etx_engine__release_swap(struct etx_engine_stage *s,
                         struct etx_swap_result *res, struct etx_error *err)
{
    struct etx_release_opts o = {.sha256 = s->sha256};

    if (lseek(s->tar_fd, 0, SEEK_SET) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "lseek", s->path,
                             "cannot rewind the staged tarball");
    return etx_release_publish(s->app_fd, s->version, s->tar_fd, &o, res, err);
}
