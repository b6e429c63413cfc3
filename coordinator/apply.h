/* SPDX-License-Identifier: MIT */
/*
 * `etxroll apply INVENTORY` or `etxroll apply PLAN.json`: everything
 * around one rollout run. A saved plan must match its own id (else it was
 * changed after it was made) and the plan made again now from the
 * inventory it names, probing the hosts if it was probed (else something
 * changed: exit 4 naming the members that differ). Load the
 * inventory, plan it (refuse a plan id that differs from the one
 * the approver pinned), read the fleet keys, take the fleet lock, create
 * the journal and the event log, run the rollout (coordinator/rollout.h)
 * on a fresh libuv loop, release the lock. Returns the process exit code.
 */
#ifndef ETX_COORDINATOR_APPLY_H
#define ETX_COORDINATOR_APPLY_H

#include <stddef.h>

#include "proto/error.h"

/* Exit codes, documented in README.md and `etxroll --help`. */
#define ETX_EXIT_DONE       0 /* done */
#define ETX_EXIT_HALTED     1 /* halted, rolled back, lock held, runtime */
#define ETX_EXIT_USAGE      2 /* usage or inventory error */
#define ETX_EXIT_INCOMPLETE 3 /* rollback incomplete: a human must look */
#define ETX_EXIT_STALE      4 /* the plan is not the one pinned */

struct etx_apply_opts {
    const char *inventory;      /* the inventory file, or a saved plan */
    const char *state_dir;      /* --state-dir, or NULL */
    const char *log_json;       /* --log-json, or NULL */
    const char *message;        /* -m, or NULL */
    const char *expect_plan_id; /* --expect-plan-id, or NULL */
};

/* Run the rollout; prints to stdout/stderr; returns an ETX_EXIT_* code. */
int etx_apply_run(const struct etx_apply_opts *a);

/*
 * The gate control file of rollout 'id' of 'fleet' in 'state' into buf:
 * "<state>/<fleet>/rollouts/<id>.control".
 */
int etx_apply_control_path(const char *state, const char *fleet, const char *id,
                           char *buf, size_t len, struct etx_error *err);

#endif /* ETX_COORDINATOR_APPLY_H */
