/* SPDX-License-Identifier: MIT */
/*
 * The facts a report needs about one file of the replacement engine:
 * identity (device, inode), size, mode, owner and, on request, SHA-256.
 * Always taken without following a final symlink.
 */
#ifndef ETX_AGENT_FILEINFO_H
#define ETX_AGENT_FILEINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "agent/holders.h"
#include "proto/digest.h"
#include "proto/error.h"

struct etx_fileinfo {
    bool exists; /* false: the name was absent; the rest is zero */
    dev_t dev;
    ino_t ino;
    uint64_t size;
    mode_t mode; /* file type and permission bits, as st_mode */
    uid_t uid;
    gid_t gid;
    char sha256[ETX_DIGEST_HEX_LEN + 1]; /* "" when not computed */
};

#define ETX_FILEINFO_DIGEST (1u << 0) /* also digest a regular file */

/*
 * Facts about 'name' in 'dirfd' (fstatat AT_SYMLINK_NOFOLLOW). An absent
 * name is ETX_OK with out->exists false. With ETX_FILEINFO_DIGEST a
 * regular file is opened O_RDONLY|O_NOFOLLOW, checked to be the same
 * inode, and digested. Returns ETX_OK or ETX_ERR with err filled.
 */
int etx_fileinfo_at(int dirfd, const char *name, unsigned flags,
                    struct etx_fileinfo *out, struct etx_error *err);

/* Fill 'out' (exists, identity, size, mode, owner) from a stat. */
void etx_fileinfo_from_stat(const struct stat *st, struct etx_fileinfo *out);

/* True when both exist and have the same device and inode. */
bool etx_fileinfo_same(const struct etx_fileinfo *a,
                       const struct etx_fileinfo *b);

/* The identity of 'fi' for a holders scan. */
struct etx_file_id etx_fileinfo_id(const struct etx_fileinfo *fi);

#endif /* ETX_AGENT_FILEINFO_H */
