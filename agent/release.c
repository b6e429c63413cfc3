/* SPDX-License-Identifier: MIT */
/* The release-dir strategy: releases/<id>/ unpacked, "current" flipped. */
#define _GNU_SOURCE
#include "agent/release.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fsops.h"
#include "agent/place.h"
#include "agent/symflip.h"
#include "agent/tempname.h"
#include "proto/digest.h"

#define CREATE_TRIES 16

static int
check_id(const char *id, struct etx_error *err)
{
    if (id[0] == '\0' || id[0] == '.' || strchr(id, '/') != NULL ||
        strlen(id) > NAME_MAX)
        return etx_error_set(err, ETX_CLASS_INPUT, EINVAL, "release", id,
                             "not a valid release id");
    return ETX_OK;
}

/* Open "releases/", creating it (0755) when missing. */
static int
open_releases(int appfd, int *fd, struct etx_error *err)
{
    if (mkdirat(appfd, ETX_RELEASE_DIR, 0755) != 0 && errno != EEXIST)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "mkdir", ETX_RELEASE_DIR,
                             "cannot create the releases "
                             "directory");
    *fd = openat(appfd, ETX_RELEASE_DIR,
                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", ETX_RELEASE_DIR,
                             "cannot open the releases "
                             "directory");
    return ETX_OK;
}

/* SHA-256 of the archive from its offset, which is then restored. */
static int
digest_archive(int tar_fd, const char *expect, char hex[ETX_DIGEST_HEX_LEN + 1],
               struct etx_error *err)
{
    off_t at = lseek(tar_fd, 0, SEEK_CUR);

    if (at < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "lseek", "archive",
                             "the archive must be a seekable file");
    if (etx_digest_fd(tar_fd, hex, NULL, err) != ETX_OK)
        return ETX_ERR;
    if (lseek(tar_fd, at, SEEK_SET) != at)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "lseek", "archive",
                             "cannot rewind the archive");
    if (expect != NULL && strcmp(expect, hex) != 0)
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "digest", "archive",
                             "the archive has SHA-256 %s, expected %s", hex,
                             expect);
    return ETX_OK;
}

/* A new empty directory "releases/.<id>.etxroll.<random>". */
static int
make_temp_dir(int relfd, const char *id, struct etx_swap_result *res, int *tfd,
              struct etx_error *err)
{
    int i;

    for (i = 0; i < CREATE_TRIES; i++) {
        if (etx_tempname_make(id, res->temp, err) != ETX_OK)
            return ETX_ERR;
        if (mkdirat(relfd, res->temp, 0755) == 0)
            break;
        if (errno != EEXIST)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "mkdir", res->temp,
                                 "cannot create the unpacking "
                                 "directory");
    }
    if (i == CREATE_TRIES)
        return etx_error_sys(err, EEXIST, ETX_CTX_FILE, "mkdir", res->temp,
                             "%d temp names collided", CREATE_TRIES);
    *tfd = openat(relfd, res->temp,
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*tfd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", res->temp,
                             "cannot open the unpacking directory");
    return ETX_OK;
}

/* Unpack into a temp dir, record the digest, rename it to 'id'. */
static int
unpack(int relfd, const char *id, int tar_fd, const char *hex,
       const struct etx_release_opts *o, struct etx_swap_result *res,
       struct etx_error *err)
{
    char rec[NAME_MAX + 1];
    int tfd = -1, rc = ETX_ERR;

    if (etx_tempname_aside(id, ETX_RELEASE_RECORD, rec, err) != ETX_OK ||
        make_temp_dir(relfd, id, res, &tfd, err) != ETX_OK)
        goto out;
    if (etx_untar_fd(tar_fd, tfd, o->untar, NULL, err) != ETX_OK ||
        etx_fsops_sync_dir(tfd, res->temp, err) != ETX_OK ||
        etx_symflip_set(relfd, rec, hex, err) != ETX_OK ||
        etx_fsops_rename_noreplace(relfd, res->temp, id, err) != ETX_OK)
        goto out;
    res->steps |= ETX_SWAP_PUBLISHED;
    if (etx_fsops_sync_dir(relfd, id, err) != ETX_OK ||
        etx_fileinfo_at(relfd, id, 0, &res->new, err) != ETX_OK)
        goto out;
    rc = ETX_OK;
out:
    if (tfd >= 0)
        close(tfd);
    if (rc != ETX_OK && res->temp[0] != '\0' &&
        (res->steps & ETX_SWAP_PUBLISHED) == 0)
        etx_untar_remove_tree(relfd, res->temp, NULL);
    return rc;
}

/* Reuse releases/<id> if its recorded digest is 'hex', else unpack it. */
static int
ensure_release(int relfd, const char *id, int tar_fd, const char *hex,
               const struct etx_release_opts *o, struct etx_swap_result *res,
               struct etx_error *err)
{
    char rec[NAME_MAX + 1], recorded[ETX_DIGEST_HEX_LEN + 2];
    struct stat st;

    if (fstatat(relfd, id, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "fstatat", id,
                                 "cannot inspect the release");
        return unpack(relfd, id, tar_fd, hex, o, res, err);
    }
    if (!S_ISDIR(st.st_mode))
        return etx_error_sys(err, EEXIST, ETX_CTX_FILE, "release", id,
                             "releases/%s exists and is not a directory", id);
    if (etx_tempname_aside(id, ETX_RELEASE_RECORD, rec, err) != ETX_OK ||
        etx_symflip_read(relfd, rec, recorded, sizeof(recorded), err) != ETX_OK)
        return ETX_ERR;
    if (strcmp(recorded, hex) != 0)
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "release", id,
                             "releases/%s exists with other content "
                             "(recorded SHA-256 \"%s\"); releases are "
                             "immutable",
                             id, recorded);
    etx_fileinfo_from_stat(&st, &res->new);
    res->steps |= ETX_SWAP_REUSED;
    return ETX_OK;
}

int
etx_release_publish(int appfd, const char *id, int tar_fd,
                    const struct etx_release_opts *o,
                    struct etx_swap_result *res, struct etx_error *err)
{
    static const struct etx_release_opts none = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    int relfd = -1, flipped = 0, rc = ETX_ERR;

    memset(res, 0, sizeof(*res));
    if (o == NULL)
        o = &none;
    if (check_id(id, err) != ETX_OK ||
        etx_place_check(appfd, ETX_RELEASE_CURRENT, ETX_PLACE_SYMLINK_FLIP,
                        err) != ETX_OK ||
        etx_symflip_read(appfd, ETX_RELEASE_CURRENT, res->prev,
                         sizeof(res->prev), err) != ETX_OK ||
        digest_archive(tar_fd, o->sha256, hex, err) != ETX_OK ||
        open_releases(appfd, &relfd, err) != ETX_OK)
        goto out;
    if (res->prev[0] != '\0' &&
        etx_fileinfo_at(appfd, res->prev, 0, &res->old, err) != ETX_OK)
        goto out;
    if (ensure_release(relfd, id, tar_fd, hex, o, res, err) != ETX_OK)
        goto out;
    snprintf(res->link, sizeof(res->link), ETX_RELEASE_DIR "/%s", id);
    if (etx_symflip_switch(appfd, ETX_RELEASE_CURRENT, res->link, res->prev,
                           sizeof(res->prev), &flipped, err) != ETX_OK)
        goto out;
    res->steps |= flipped ? ETX_SWAP_RENAMED : ETX_SWAP_NOOP;
    res->steps |= ETX_SWAP_DIR_SYNCED | ETX_SWAP_VERIFIED;
    rc = ETX_OK;
out:
    if (relfd >= 0)
        close(relfd);
    return rc;
}

int
etx_release_rollback(int appfd, struct etx_swap_result *res,
                     struct etx_error *err)
{
    int flipped = 0;

    memset(res, 0, sizeof(*res));
    if (etx_place_check(appfd, ETX_RELEASE_CURRENT, ETX_PLACE_SYMLINK_FLIP,
                        err) != ETX_OK ||
        etx_symflip_rollback(appfd, ETX_RELEASE_CURRENT, res->prev, res->link,
                             sizeof(res->link), &flipped, err) != ETX_OK ||
        etx_fileinfo_at(appfd, res->prev, 0, &res->old, err) != ETX_OK ||
        etx_fileinfo_at(appfd, res->link, 0, &res->new, err) != ETX_OK)
        return ETX_ERR;
    res->steps |= flipped ? ETX_SWAP_RENAMED : ETX_SWAP_NOOP;
    res->steps |= ETX_SWAP_DIR_SYNCED | ETX_SWAP_VERIFIED;
    return ETX_OK;
}
