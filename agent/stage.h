/* SPDX-License-Identifier: MIT */
/*
 * Staging a new version of a file next to its final name, in the same
 * directory (so the same mount), never writing the final name itself
 * (../shared/reference/etxtbsy-correctness.md §7, MUST 1-6, 10, 23).
 *
 * begin    creates ".<name>.etxroll.<random>" in the directory with
 *          O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600 (a collision is
 *          retried with a new random name), and takes flock(LOCK_EX) on it;
 * write /  stream the content (chunks pushed one at a time, or a source
 * copy_fd  descriptor read in bounded chunks): memory stays constant;
 *          short writes and EINTR are handled; a running SHA-256 is kept;
 * finish   checks the running digest against the expected one, then
 *          fchown -> fchmod -> xattrs and file capabilities -> fsync ->
 *          close, every result checked, then waits at the flock drain
 *          barrier (below); no write descriptor stays open after it;
 * verify   re-opens the temp O_RDONLY|O_NOFOLLOW, checks (dev, ino) and
 *          size against what was written and the SHA-256 read back from
 *          disk against the digest streamed and the expected one.
 *
 * Any failure in these steps discards the temp (unlinked by name after its
 * (dev, ino) is checked) and leaves the stage dead: only
 * etx_stage_free() may follow. A failed fsync or close is never retried.
 *
 * No child inherits a staging descriptor (MUST 10): every descriptor is
 * O_CLOEXEC, and finish implements the flock drain barrier: the write
 * descriptor holds LOCK_EX while it is open; after close() finish opens the
 * temp read-only and takes LOCK_SH, which is granted only when every copy
 * of the write descriptor inherited by a process forked meanwhile (that
 * has not exec'ed or exited yet) is gone. So once finish returns, exec of
 * the staged file cannot fail with ETXTBSY because of this process.
 *
 * Metadata: mode, owner and xattrs come from opts; what opts leave unset
 * is copied from the file 'meta_from' names (usually the live target):
 * its mode and owner, its "security.capability" and its "user.*" xattrs.
 * A new file with no mode given gets 0755, owner the agent's.
 */
#ifndef ETX_AGENT_STAGE_H
#define ETX_AGENT_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/fileinfo.h"
#include "proto/error.h"

#define ETX_STAGE_DRAIN_MS 10000 /* default wait at the drain barrier */

/* An xattr to set on the staged file, e.g. "security.capability". */
struct etx_stage_xattr {
    const char *name;
    const void *value;
    size_t len;
};

struct etx_stage_opts {
    const char *sha256;    /* expected digest (64 hex), or NULL */
    const char *meta_from; /* name in the same directory, or NULL */
    bool mode_set;
    mode_t mode; /* permission bits, set-id bits included */
    bool owner_set;
    uid_t uid;
    gid_t gid;
    const struct etx_stage_xattr *xattrs; /* set after the copied ones; */
    size_t n_xattrs;                      /* borrowed until finish */
    unsigned drain_ms;                    /* 0: ETX_STAGE_DRAIN_MS */
};

struct etx_stage; /* opaque: agent/stage.c */

/*
 * Create the temp for final name 'name' in 'dirfd' ('dirfd' is borrowed
 * and must stay open until etx_stage_free()). 'o' is copied (except
 * o->xattrs, see above); NULL means no options. On success *out is a new
 * stage: free with etx_stage_free().
 */
int etx_stage_begin(int dirfd, const char *name, const struct etx_stage_opts *o,
                    struct etx_stage **out, struct etx_error *err);

/* Append 'len' bytes of content. */
int etx_stage_write(struct etx_stage *s, const void *buf, size_t len,
                    struct etx_error *err);

/* Append everything readable from 'src_fd' (borrowed, read to its end). */
int etx_stage_copy_fd(struct etx_stage *s, int src_fd, struct etx_error *err);

/* Metadata, fsync, close and the drain barrier (see above). */
int etx_stage_finish(struct etx_stage *s, struct etx_error *err);

/* Re-read and check the finished temp (see above). */
int etx_stage_verify(struct etx_stage *s, struct etx_error *err);

/* True once etx_stage_verify() succeeded (and nothing failed since). */
bool etx_stage_is_verified(const struct etx_stage *s);

/* The directory, final name and temp name; valid until etx_stage_free(). */
int etx_stage_dirfd(const struct etx_stage *s);
const char *etx_stage_name(const struct etx_stage *s);
const char *etx_stage_temp(const struct etx_stage *s);

/*
 * Facts about the staged file: identity from begin, the rest (size, mode,
 * owner, sha256) once verified. Valid until etx_stage_free().
 */
const struct etx_fileinfo *etx_stage_file(const struct etx_stage *s);

/*
 * The temp name was consumed by a rename (the swap published it): it is
 * no longer ours, and etx_stage_free() must not touch it.
 */
void etx_stage_published(struct etx_stage *s);

/*
 * Remove the temp now (by name, after checking its (dev, ino)); the stage
 * is dead afterwards. Nothing to do after etx_stage_published().
 */
int etx_stage_discard(struct etx_stage *s, struct etx_error *err);

/* Discard an unpublished temp (errors ignored) and free. NULL: no-op. */
void etx_stage_free(struct etx_stage *s);

#endif /* ETX_AGENT_STAGE_H */
