/* SPDX-License-Identifier: MIT */
/* The rename strategy: publish, rollback and the post-swap exec check. */
#define _GNU_SOURCE
#include "agent/swap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fsops.h"
#include "agent/place.h"
#include "agent/tempname.h"

/* The live target must be absent or a regular file. */
static int
check_regular(const struct etx_fileinfo *fi, const char *name,
              struct etx_error *err)
{
    if (!fi->exists || S_ISREG(fi->mode))
        return ETX_OK;
    if (S_ISLNK(fi->mode))
        return etx_error_sys(err, ELOOP, ETX_CTX_FILE, "swap", name,
                             "the target is a symlink; refusing to replace "
                             "it (use the generations strategy)");
    return etx_error_sys(err, EISDIR, ETX_CTX_FILE, "swap", name,
                         "the target is not a regular file");
}

/* Keep the live inode 'old' as ".<name>.etxroll-prev", atomically. */
static int
keep_prev(int dirfd, const char *name, const struct etx_fileinfo *old,
          struct etx_swap_result *res, struct etx_error *err)
{
    struct etx_fileinfo kept;

    if (etx_tempname_prev(name, res->prev, err) != ETX_OK ||
        etx_fileinfo_at(dirfd, res->prev, 0, &kept, err) != ETX_OK)
        return ETX_ERR;
    if (kept.exists && !S_ISREG(kept.mode))
        return etx_error_sys(err, EEXIST, ETX_CTX_FILE, "swap", res->prev,
                             "the name of the kept previous version is taken "
                             "by something that is not a regular file");
    if (!etx_fileinfo_same(&kept, old)) {
        if (etx_fsops_secure_drop(dirfd, res->prev, &kept, err) != ETX_OK ||
            etx_fsops_link_over(dirfd, name, res->prev, old, err) != ETX_OK)
            return ETX_ERR;
    }
    res->steps |= ETX_SWAP_KEPT_PREV;
    return ETX_OK;
}

/* fsync the directory, then check that 'name' is the inode 'want'. */
static int
sync_and_check(int dirfd, const char *name, const struct etx_fileinfo *want,
               struct etx_swap_result *res, struct etx_error *err)
{
    struct etx_fileinfo now;

    if (etx_fsops_sync_dir(dirfd, name, err) != ETX_OK)
        return ETX_ERR;
    res->steps |= ETX_SWAP_DIR_SYNCED;
    if (etx_fileinfo_at(dirfd, name, 0, &now, err) != ETX_OK)
        return ETX_ERR;
    if (!etx_fileinfo_same(&now, want))
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "verify", name,
                             "after the rename the target is not the "
                             "published file");
    res->steps |= ETX_SWAP_VERIFIED;
    return ETX_OK;
}

/*
 * The one rename of a publish. EIO/ETIMEDOUT leave the outcome unknown:
 * the target's identity says whether it happened (MUST 9).
 */
static int
rename_over(int dirfd, const char *temp, const char *name,
            const struct etx_fileinfo *staged, struct etx_error *err)
{
    struct etx_fileinfo now;
    int e;

    if (renameat(dirfd, temp, dirfd, name) == 0)
        return ETX_OK;
    e = errno;
    if ((e == EIO || e == ETIMEDOUT) &&
        etx_fileinfo_at(dirfd, name, 0, &now, NULL) == ETX_OK &&
        etx_fileinfo_same(&now, staged))
        return ETX_OK;
    return etx_error_sys(err, e, ETX_CTX_RENAME, "rename", name,
                         "cannot rename \"%s\" over \"%s\"", temp, name);
}

int
etx_swap_publish(struct etx_stage *s, struct etx_swap_result *res,
                 struct etx_error *err)
{
    int dirfd = etx_stage_dirfd(s);
    const char *name = etx_stage_name(s);
    const struct etx_fileinfo *staged = etx_stage_file(s);

    memset(res, 0, sizeof(*res));
    snprintf(res->temp, sizeof(res->temp), "%s", etx_stage_temp(s));
    if (!etx_stage_is_verified(s))
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "swap", name,
                             "the stage is not verified");
    if (etx_place_check(dirfd, name, ETX_PLACE_RENAME_FILE, err) != ETX_OK ||
        etx_fileinfo_at(dirfd, name, ETX_FILEINFO_DIGEST, &res->old, err) !=
            ETX_OK ||
        check_regular(&res->old, name, err) != ETX_OK)
        return ETX_ERR;
    if (res->old.exists && keep_prev(dirfd, name, &res->old, res, err) != 0)
        return ETX_ERR;
    if (rename_over(dirfd, res->temp, name, staged, err) != ETX_OK)
        return ETX_ERR;
    etx_stage_published(s);
    res->steps |= ETX_SWAP_PUBLISHED | ETX_SWAP_RENAMED;
    res->new = *staged;
    return sync_and_check(dirfd, name, staged, res, err);
}

/*
 * Rename the kept version over the live one. A set-id version rolled away
 * from loses its set-id bits once it is no longer live (secure_unlink).
 */
static int
put_back(int dirfd, const char *name, const struct etx_fileinfo *kept,
         struct etx_swap_result *res, struct etx_error *err)
{
    int fd = -1;

    if (etx_fsops_setid_open(dirfd, name, &res->old, &fd, err) != ETX_OK)
        return ETX_ERR;
    if (etx_fsops_link_over(dirfd, res->prev, name, kept, err) != ETX_OK) {
        if (fd >= 0)
            close(fd);
        return ETX_ERR;
    }
    res->steps |= ETX_SWAP_RENAMED;
    return etx_fsops_setid_clear(fd, name, err);
}

int
etx_swap_rollback(int dirfd, const char *name, struct etx_swap_result *res,
                  struct etx_error *err)
{
    struct etx_fileinfo kept;

    memset(res, 0, sizeof(*res));
    if (etx_place_check(dirfd, name, ETX_PLACE_RENAME_FILE, err) != ETX_OK ||
        etx_tempname_prev(name, res->prev, err) != ETX_OK ||
        etx_fileinfo_at(dirfd, res->prev, ETX_FILEINFO_DIGEST, &kept, err) !=
            ETX_OK ||
        etx_fileinfo_at(dirfd, name, ETX_FILEINFO_DIGEST, &res->old, err) !=
            ETX_OK)
        return ETX_ERR;
    if (!kept.exists || !S_ISREG(kept.mode))
        return etx_error_sys(err, ENOENT, ETX_CTX_FILE, "rollback", res->prev,
                             "no previous version of \"%s\" is "
                             "kept",
                             name);
    if (check_regular(&res->old, name, err) != ETX_OK)
        return ETX_ERR;
    res->new = kept;
    if (etx_fileinfo_same(&res->old, &kept)) {
        res->steps |= ETX_SWAP_NOOP;
        return sync_and_check(dirfd, name, &kept, res, err);
    }
    if (put_back(dirfd, name, &kept, res, err) != ETX_OK)
        return ETX_ERR;
    return sync_and_check(dirfd, name, &kept, res, err);
}

int
etx_swap_check_exec(const struct etx_swap_result *res, const char *path,
                    struct etx_holders *writers_out, struct etx_error *err)
{
    struct etx_file_id id = etx_fileinfo_id(&res->new);

    return etx_holders_check_exec(&id, path, writers_out, err);
}
