/* SPDX-License-Identifier: MIT */
/*
 * Pruning old versions of the symlink strategies: keep 'keep' generations
 * (files "<name>-*" beside the symlink "<name>") or releases (directories
 * in "releases/"), newest first by modification time, the live one and the
 * recorded previous one always; remove the rest unless some process holds
 * them (inuse.h: executes, maps, holds open or sits in any of their
 * entries; MUST 17). When some process could not be inspected, nothing is
 * removed unless the options say that such processes may be ignored (a
 * host where, e.g., an init outside the agent's reach is unreadable); the
 * result counts them either way. Every version met is reported with what
 * was done and why.
 */
#ifndef ETX_AGENT_PRUNE_H
#define ETX_AGENT_PRUNE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/holders.h"
#include "proto/error.h"

enum etx_prune_why {
    ETX_PRUNE_REMOVED = 0,   /* removed */
    ETX_PRUNE_KEPT_CURRENT,  /* the live version */
    ETX_PRUNE_KEPT_PREVIOUS, /* the recorded previous version */
    ETX_PRUNE_KEPT_RECENT,   /* among the 'keep' newest */
    ETX_PRUNE_KEPT_HELD,     /* a process holds it (pid, rel) */
    ETX_PRUNE_KEPT_UNSURE,   /* some process could not be inspected */
};

struct etx_prune_opts {
    unsigned keep;   /* versions kept, current and previous included */
    bool unknown_ok; /* uninspectable processes are not taken as holders */
};

struct etx_prune_entry {
    char name[NAME_MAX + 1]; /* "app-3", or the release id */
    enum etx_prune_why why;
    pid_t pid;               /* ETX_PRUNE_KEPT_HELD: one holder */
    enum etx_holder_rel rel; /* and its relation */
    struct timespec mtime;
};

/* Newest first. Free v with etx_prune_result_free(). */
struct etx_prune_result {
    size_t n;
    struct etx_prune_entry *v;
    size_t n_unknown;    /* processes that could not be inspected */
    pid_t first_unknown; /* one of them, or 0 */
};

/* Generations of symlink 'name' in 'dirfd'. */
int etx_prune_generations(int dirfd, const char *name,
                          const struct etx_prune_opts *o,
                          struct etx_prune_result *out, struct etx_error *err);

/* Releases in the app directory 'appfd'. */
int etx_prune_releases(int appfd, const struct etx_prune_opts *o,
                       struct etx_prune_result *out, struct etx_error *err);

void etx_prune_result_free(struct etx_prune_result *r); /* frees r->v */

/* "removed", "current", "previous", "recent", "held", "unsure". */
const char *etx_prune_why_name(enum etx_prune_why why);

#endif /* ETX_AGENT_PRUNE_H */
