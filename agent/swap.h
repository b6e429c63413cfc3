/* SPDX-License-Identifier: MIT */
/*
 * The `rename` strategy: publish a verified stage over its target with one
 * renameat() in one directory, keeping the previous inode reachable as a
 * hard link ".<name>.etxroll-prev", and roll back through the same atomic
 * mechanism (../shared/DESIGN.md "Replacement strategies", MUST 7-9, 14,
 * 15, 20). Also the result every strategy reports.
 *
 * Publish: refuse a target that is a mount point or on NFS (place.h) or
 * not a regular file; link the live target to a temp name and rename that
 * over ".<name>.etxroll-prev" (so an older kept version is replaced
 * atomically; a set-id file losing its last kept name is chmod'ed 0600
 * first); rename the staged temp over the target; fsync the directory;
 * check fstatat(AT_SYMLINK_NOFOLLOW) of the target against the staged
 * (dev, ino). A rename that reports EIO or ETIMEDOUT is resolved by that
 * check: done if the target is the staged inode.
 *
 * Rollback: link ".<name>.etxroll-prev" to a temp name and rename that over
 * the target, fsync, check. The kept link stays where it is until the
 * next successful publish replaces it, so a rollback can be repeated (it
 * is then a no-op) and survives a crash of the agent at any point.
 * Afterwards the target's (dev, ino) is the previous version's (MUST 14).
 */
#ifndef ETX_AGENT_SWAP_H
#define ETX_AGENT_SWAP_H

#include <limits.h>

#include "agent/fileinfo.h"
#include "agent/holders.h"
#include "agent/stage.h"
#include "proto/error.h"

/* What a swap did (res->steps). */
#define ETX_SWAP_KEPT_PREV  (1u << 0) /* previous version kept aside */
#define ETX_SWAP_PUBLISHED  (1u << 1) /* a new file/generation/release named */
#define ETX_SWAP_REUSED     (1u << 2) /* an identical one existed: reused */
#define ETX_SWAP_RENAMED    (1u << 3) /* the live name was switched */
#define ETX_SWAP_DIR_SYNCED (1u << 4) /* the directory was fsynced */
#define ETX_SWAP_VERIFIED   (1u << 5) /* the live name checked afterwards */
#define ETX_SWAP_NOOP       (1u << 6) /* already in the wanted state */

/* The facts a report needs about one swap or rollback. */
struct etx_swap_result {
    struct etx_fileinfo old; /* what the live name was (resolved) */
    struct etx_fileinfo new; /* what it is now */
    char temp[NAME_MAX + 1]; /* the temp renamed over the live name */
    char prev[PATH_MAX];     /* rename: the kept link's name; symlink
                                strategies: the previous link target */
    char link[PATH_MAX];     /* symlink strategies: the new link target */
    unsigned steps;          /* ETX_SWAP_* */
};

/*
 * Publish the verified stage 's' over its final name (the stage's name in
 * the stage's directory). Returns ETX_OK with 'res' filled, or ETX_ERR
 * with 'err' filled and 'res' saying how far it got. The stage is marked
 * published once renamed; free it with etx_stage_free() in both cases.
 */
int etx_swap_publish(struct etx_stage *s, struct etx_swap_result *res,
                     struct etx_error *err);

/* Put the kept previous version of 'name' in 'dirfd' back (see above). */
int etx_swap_rollback(int dirfd, const char *name, struct etx_swap_result *res,
                      struct etx_error *err);

/*
 * After a swap: can the published file be exec'ed now? Fails (transient,
 * ETXTBSY) with the holders when some process holds it open for writing
 * or maps it shared-writable (etx_holders_check_exec()). 'path' is for
 * messages; 'writers_out' may be NULL (else free with etx_holders_free()).
 */
int etx_swap_check_exec(const struct etx_swap_result *res, const char *path,
                        struct etx_holders *writers_out, struct etx_error *err);

#endif /* ETX_AGENT_SWAP_H */
