/* SPDX-License-Identifier: MIT */
/*
 * The replacement engine as the daemon sees it: one target (path, strategy,
 * version, metadata) and the steps of a rollout on it — stage (begin,
 * chunks, end), verify, swap, rollback, prune, cleanup, probe — whatever
 * the strategy. It resolves every path beneath the configured roots
 * (roots.h) and dispatches to stage.h/swap.h (rename), generations.h, and
 * release.h (the release tarball is staged into an unnamed file in the
 * agent's state directory, digest-checked, and unpacked at swap).
 *
 * Synchronous: each call does file-system work and returns. The daemon
 * runs the slow ones (end, verify, swap: fsync and digests) off its loop.
 */
#ifndef ETX_AGENT_ENGINE_H
#define ETX_AGENT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/cleanup.h"
#include "agent/facts.h"
#include "agent/prune.h"
#include "agent/swap.h"
#include "proto/error.h"

enum etx_engine_strategy {
    ETX_ENGINE_RENAME = 0,
    ETX_ENGINE_GENERATIONS,
    ETX_ENGINE_RELEASE_DIR,
};

/* A target as a request names it; strings are borrowed for the call. */
struct etx_engine_target {
    const char *path; /* absolute; rename/generations: the file or symlink;
                         release-dir: the app directory */
    enum etx_engine_strategy strategy;
    const char *version; /* generations/release-dir: required */
    bool mode_set;
    unsigned mode;     /* permission bits incl. set-id, with mode_set */
    const char *owner; /* user name, or NULL/"" to keep (copy) it */
    const char *group; /* group name, or NULL/"" */
    /* Of two names, the one not given is kept from the live version, or
       for a first install is the user's login group / the agent's user.
       release-dir unpacks with untar defaults: mode, owner and group are
       not applied there (names given must still exist). */
    unsigned keep; /* prune: versions kept (0: 3) */
};

struct etx_engine_opts {
    const char *const *roots; /* absolute directories the agent may write */
    size_t n_roots;
    const char *state_dir; /* for staged release tarballs; created 0700
                              (parents must exist); NULL: release-dir
                              staging is refused (input) */
    bool unknown_ok;       /* prune/cleanup: unreadable /proc entries are not
                              holders (pid 1 is unreadable on some hosts) */
};

struct etx_engine;       /* opaque: roots and options */
struct etx_engine_stage; /* opaque: one staging in progress or done */

/* On success *out is new; free with etx_engine_free(). 'o' is copied. */
int etx_engine_new(const struct etx_engine_opts *o, struct etx_engine **out,
                   struct etx_error *err);
void etx_engine_free(struct etx_engine *e); /* NULL: no-op */

/*
 * Begin staging the artifact for 't': 'sha256' (64 hex) and 'size' are
 * what the whole artifact must be. Checks the target's place first (under
 * the roots, no symlinked directories, not a mount point, not rename on
 * NFS, owner/group names exist: an unknown one is a placement error naming
 * it). Free *out with etx_engine_stage_free(); a stage does not refer to
 * 'e' after begin.
 *
 * The steps must come in order: writes, end, verify, swap. Any failure of
 * a step, a call out of order included (class internal, e.g. "swap before
 * verify"), discards what was staged: only etx_engine_stage_free() may
 * follow, and every later step fails (internal).
 */
int etx_engine_stage_begin(struct etx_engine *e,
                           const struct etx_engine_target *t,
                           const char *sha256, uint64_t size,
                           struct etx_engine_stage **out,
                           struct etx_error *err);

/* Append a chunk (len 0: no-op); more than 'size' bytes in all is an
   input error. */
int etx_engine_stage_write(struct etx_engine_stage *s, const void *buf,
                           size_t len, struct etx_error *err);

/* All bytes are in: size (fewer: input) and digest (integrity) checked,
   metadata set, fsynced. */
int etx_engine_stage_end(struct etx_engine_stage *s, struct etx_error *err);

/* Re-read what was staged and check identity, size and digest. */
int etx_engine_verify(struct etx_engine_stage *s, struct etx_error *err);

/*
 * Publish the verified stage as the live version (rename, symlink flip, or
 * unpack-and-flip for release-dir). res describes old and new. After this
 * the stage has nothing left to discard.
 */
int etx_engine_swap(struct etx_engine_stage *s, struct etx_swap_result *res,
                    struct etx_error *err);

/* Discard an unpublished temp (if any) and free. NULL: no-op. */
void etx_engine_stage_free(struct etx_engine_stage *s);

/* Put the previous version back, through the same atomic mechanism. */
int etx_engine_rollback(struct etx_engine *e, const struct etx_engine_target *t,
                        struct etx_swap_result *res, struct etx_error *err);

/*
 * Keep t->keep versions (never the current, previous or a held one).
 * rename keeps exactly one previous version, replaced at each publish:
 * nothing to prune, an empty result.
 */
int etx_engine_prune(struct etx_engine *e, const struct etx_engine_target *t,
                     struct etx_prune_result *out, struct etx_error *err);

/*
 * Remove stale temps older than 'max_age_s' in the target's directory
 * (release-dir: the app directory and its releases/, whose entries are
 * reported as "releases/<name>" where that fits NAME_MAX).
 */
int etx_engine_cleanup(struct etx_engine *e, const struct etx_engine_target *t,
                       unsigned max_age_s, struct etx_cleanup_result *out,
                       struct etx_error *err);

/*
 * Facts about the target (read-only; the path must still lie under the
 * roots, resolved as the strategy resolves it; release-dir: the facts of
 * "<path>/current"). Free with etx_facts_target_free().
 */
int etx_engine_probe(struct etx_engine *e, const struct etx_engine_target *t,
                     struct etx_facts_target *out, struct etx_error *err);

#endif /* ETX_AGENT_ENGINE_H */
