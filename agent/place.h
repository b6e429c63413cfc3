/* SPDX-License-Identifier: MIT */
/*
 * Placement checks made before anything is published: is the target a
 * mount point (a single file bind-mounted, e.g. into a container: a rename
 * would give EBUSY there, or leave the container on the old inode), and
 * does the file system allow the strategy (NFS: no rename of a file that
 * other clients may run, MUST 17). Failures are class placement with a
 * message saying what to change (MUST 20).
 */
#ifndef ETX_AGENT_PLACE_H
#define ETX_AGENT_PLACE_H

#include "proto/error.h"

#define ETX_PLACE_NFS_MAGIC     0x6969UL
#define ETX_PLACE_OVERLAY_MAGIC 0x794c7630UL

enum etx_place_use {
    ETX_PLACE_RENAME_FILE = 0, /* a file renamed over the target */
    ETX_PLACE_SYMLINK_FLIP,    /* versions side by side, a symlink flipped */
};

/*
 * Check 'name' in 'dirfd' (it may be absent) for 'use': refuses a target
 * that is a mount point, and a file rename on NFS. Returns ETX_OK or
 * ETX_ERR with err filled (class placement).
 */
int etx_place_check(int dirfd, const char *name, enum etx_place_use use,
                    struct etx_error *err);

/*
 * The file-system rule alone: 'fs_type' is statfs's f_type of the target's
 * directory. Returns ETX_OK or ETX_ERR (placement, EOPNOTSUPP).
 */
int etx_place_check_fs(unsigned long fs_type, enum etx_place_use use,
                       const char *where, struct etx_error *err);

#endif /* ETX_AGENT_PLACE_H */
