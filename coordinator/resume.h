/* SPDX-License-Identifier: MIT */
/*
 * `etxroll resume ID`: go on with a rollout whose coordinator died. The
 * journal is folded (coordinator/rollsum.h); the fleet lock is taken over
 * only from the dead coordinator of this very rollout (same rollout id,
 * same host, pid not running); the inventory and artifact digest recorded
 * in the start record are reloaded and checked; every host is probed for
 * the truth (the target's SHA-256 says whether the swap happened) and its
 * stale temps removed; then the rollout is finished, or, when the journal
 * says it was halting or rolling back, every host that reached swapped is
 * put back. Also `etxroll rollback ID` (below). Returns an ETX_EXIT_* code
 * (coordinator/apply.h).
 */
#ifndef ETX_COORDINATOR_RESUME_H
#define ETX_COORDINATOR_RESUME_H

#include <stdbool.h>

struct etx_resume_opts {
    const char *id;        /* the rollout id */
    const char *state_dir; /* --state-dir, or NULL */
    const char *log_json;  /* --log-json, or NULL */
    bool rollback;         /* `etxroll rollback ID`: put back a done one */
};

/*
 * Resume rollout a->id; prints to stdout/stderr; an ETX_EXIT_* code.
 *
 * With a->rollback (`etxroll rollback ID`), the rollout must have ended
 * done: every host it swapped is probed and put back the same way, newest
 * batch first, journaled in the same journal (a "rollout resume" record,
 * then "rollout rollback", the hosts' records and a new "rollout end").
 * Exit 0 when every host is back, 3 when one could not be put back.
 */
int etx_resume_run(const struct etx_resume_opts *a);

#endif /* ETX_COORDINATOR_RESUME_H */
