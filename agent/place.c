/* SPDX-License-Identifier: MIT */
/* Placement checks: mount points (statx) and file-system type (statfs). */
#define _GNU_SOURCE
#include "agent/place.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/vfs.h>

int
etx_place_check_fs(unsigned long fs_type, enum etx_place_use use,
                   const char *where, struct etx_error *err)
{
    if (fs_type == ETX_PLACE_NFS_MAGIC && use == ETX_PLACE_RENAME_FILE)
        return etx_error_sys(err, EOPNOTSUPP, ETX_CTX_FILE, "place", where,
                             "the target is on NFS, where renaming a file "
                             "other clients may run can kill them; use the "
                             "generations or release-dir strategy");
    return ETX_OK;
}

/* True (ETX_OK, *is_mount) when 'name' is the root of a mount. */
static int
is_mount_point(int dirfd, const char *name, bool *is_mount,
               struct etx_error *err)
{
    struct statx dir, tgt;

    *is_mount = false;
    if (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &dir) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "statx", name,
                             "cannot inspect the target's directory");
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &tgt) != 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "statx", name,
                             "cannot inspect the target");
    }
    if ((tgt.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
        (tgt.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0)
        *is_mount = true;
    if ((dir.stx_mask & tgt.stx_mask & STATX_MNT_ID) != 0 &&
        dir.stx_mnt_id != tgt.stx_mnt_id)
        *is_mount = true;
    return ETX_OK;
}

int
etx_place_check(int dirfd, const char *name, enum etx_place_use use,
                struct etx_error *err)
{
    struct statfs fs;
    bool mount = false;

    if (fstatfs(dirfd, &fs) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "statfs", name,
                             "cannot inspect the target's file system");
    if (etx_place_check_fs((unsigned long)fs.f_type, use, name, err) != ETX_OK)
        return ETX_ERR;
    if (is_mount_point(dirfd, name, &mount, err) != ETX_OK)
        return ETX_ERR;
    if (mount)
        return etx_error_sys(err, EBUSY, ETX_CTX_RENAME, "place", name,
                             "the target is a mount point (a single file "
                             "bind mount keeps the old inode); bind-mount "
                             "its directory instead");
    return ETX_OK;
}
