/* SPDX-License-Identifier: MIT */
/*
 * The symlink flip both symlink strategies use (`generations`,
 * `release-dir`; MUST 8, 9, 13): a symlink is created under a temp name in
 * the same directory and renamed over the live one (one renameat), the
 * directory is fsynced, and readlink of the live name is checked. The
 * previous target is recorded durably before the flip, as the symlink
 * ".<name>.etxroll-prev" beside it, so a rollback can be done by any later
 * process, after a crash too.
 *
 * A live name that is not a symlink (a real directory or file) is refused
 * (placement): a directory is never renamed over another.
 */
#ifndef ETX_AGENT_SYMFLIP_H
#define ETX_AGENT_SYMFLIP_H

#include <stddef.h>

#include "proto/error.h"

/*
 * The target of symlink 'name' in 'dirfd' into buf ("" when 'name' is
 * absent). ETX_ERR when it is not a symlink or the target does not fit.
 */
int etx_symflip_read(int dirfd, const char *name, char *buf, size_t len,
                     struct etx_error *err);

/*
 * Point 'name' at 'target': temp symlink, rename, fsync, readlink check.
 * No record of the previous target is made.
 */
int etx_symflip_set(int dirfd, const char *name, const char *target,
                    struct etx_error *err);

/*
 * Switch 'name' to 'target', recording its current target (copied to
 * prev, "" for a first install) in ".<name>.etxroll-prev" first. When
 * 'name' already points at 'target' nothing changes and prev gets the
 * recorded previous target. *flipped (may be NULL) says if it changed.
 */
int etx_symflip_switch(int dirfd, const char *name, const char *target,
                       char *prev, size_t prev_len, int *flipped,
                       struct etx_error *err);

/*
 * Flip 'name' back to the target recorded in ".<name>.etxroll-prev"
 * (copied to 'to'); its current target is copied to 'from'. A no-op
 * (*flipped 0) when it already points there. The record stays, so a
 * rollback can be repeated.
 */
int etx_symflip_rollback(int dirfd, const char *name, char *from, char *to,
                         size_t len, int *flipped, struct etx_error *err);

#endif /* ETX_AGENT_SYMFLIP_H */
