/* SPDX-License-Identifier: MIT */
/*
 * The `release-dir` strategy (the Capistrano layout): in the app directory,
 * "releases/<id>/" holds each release, unpacked from a tar artifact
 * (untar.h: absolute names, "..", links out of the release and device
 * nodes are refused), and the symlink "current" points at
 * "releases/<id>" (MUST 13, 17).
 *
 * Publish: the archive's SHA-256 is checked against the expected one
 * (integrity), it is unpacked into "releases/.<id>.etxroll.<random>/"
 * (every file and directory fsynced), its digest is recorded as the
 * symlink "releases/.<id>.etxroll-sha256", the directory is renamed to
 * "releases/<id>" (never over an existing one) and "releases/" fsynced;
 * then "current" is flipped (symflip.h, previous release recorded in
 * ".current.etxroll-prev"). A release id that exists is reused when its
 * recorded digest is the archive's, refused (integrity) otherwise. A
 * "current" that is a real directory is refused (placement): a directory
 * is never renamed over another.
 */
#ifndef ETX_AGENT_RELEASE_H
#define ETX_AGENT_RELEASE_H

#include "agent/swap.h"
#include "agent/untar.h"
#include "proto/error.h"

#define ETX_RELEASE_DIR     "releases"
#define ETX_RELEASE_CURRENT "current"
#define ETX_RELEASE_RECORD  ".etxroll-sha256" /* ".<id>" + this, a symlink */

struct etx_release_opts {
    const char *sha256;                 /* expected archive digest, or NULL */
    const struct etx_untar_opts *untar; /* NULL: untar defaults */
};

/*
 * Publish release 'id' from the tar in 'tar_fd' (borrowed; a seekable
 * file, read from its current offset) into the app directory 'appfd'
 * (borrowed; see etx_roots_open_dir()). 'o' may be NULL. res->old/new
 * describe the previous and new release directories, res->temp the
 * unpacking directory, res->prev/link the symlink targets.
 */
int etx_release_publish(int appfd, const char *id, int tar_fd,
                        const struct etx_release_opts *o,
                        struct etx_swap_result *res, struct etx_error *err);

/* Flip "current" back to the recorded previous release. */
int etx_release_rollback(int appfd, struct etx_swap_result *res,
                         struct etx_error *err);

#endif /* ETX_AGENT_RELEASE_H */
