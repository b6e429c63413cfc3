/* SPDX-License-Identifier: MIT */
/*
 * Removing what a dead run of the engine left behind in one directory
 * (MUST 23): entries named like engine temps (tempname.h: staged files,
 * temp links and symlinks, release unpacking directories) whose
 * modification time is older than a limit and that no process holds
 * (inuse.h; a directory counts as held when any entry below it is). When
 * some process could not be inspected nothing is removed, unless the
 * options say such processes may be ignored. A running stage's temp is
 * young and held open for writing, so it is never touched.
 */
#ifndef ETX_AGENT_CLEANUP_H
#define ETX_AGENT_CLEANUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/holders.h"
#include "proto/error.h"

enum etx_cleanup_why {
    ETX_CLEANUP_REMOVED = 0, /* removed */
    ETX_CLEANUP_KEPT_FRESH,  /* younger than the limit */
    ETX_CLEANUP_KEPT_HELD,   /* a process holds it (pid, rel) */
    ETX_CLEANUP_KEPT_UNSURE, /* some process could not be inspected */
};

struct etx_cleanup_entry {
    char name[NAME_MAX + 1];
    bool is_dir;
    enum etx_cleanup_why why;
    pid_t pid;
    enum etx_holder_rel rel;
};

struct etx_cleanup_opts {
    unsigned max_age_s; /* temps modified longer ago than this go */
    bool unknown_ok;    /* uninspectable processes are not taken as holders */
};

/* Free v with etx_cleanup_result_free(). */
struct etx_cleanup_result {
    size_t n;
    struct etx_cleanup_entry *v;
    size_t n_unknown;    /* processes that could not be inspected */
    pid_t first_unknown; /* one of them, or 0 */
};

/*
 * Clean the directory 'dirfd' (borrowed) of stale temps. On success 'out'
 * lists every temp met; on failure what was removed before it stays
 * removed and 'out' is empty.
 */
int etx_cleanup_dir(int dirfd, const struct etx_cleanup_opts *o,
                    struct etx_cleanup_result *out, struct etx_error *err);

void etx_cleanup_result_free(struct etx_cleanup_result *r); /* frees r->v */

/* "removed", "fresh", "held", "unsure". */
const char *etx_cleanup_why_name(enum etx_cleanup_why why);

#endif /* ETX_AGENT_CLEANUP_H */
