/* SPDX-License-Identifier: MIT */
/*
 * The commands that read or nudge rollouts from the state directory:
 * `etxroll status [ID]`, `history`, `lock`, `unlock LOCK_ID`, `continue
 * ID`, `abort ID`. Rollouts are found by id across the fleets of the state
 * directory (or in one fleet with --fleet). Each returns an exit code
 * (coordinator/apply.h) and prints results on stdout, errors on stderr.
 */
#ifndef ETX_COORDINATOR_ROLLCLI_H
#define ETX_COORDINATOR_ROLLCLI_H

struct etx_rollcli_opts {
    const char *state_dir; /* --state-dir, or NULL */
    const char *fleet;     /* --fleet, or NULL: every fleet */
    const char *arg;       /* the rollout id or lock id, or NULL */
};

/* One rollout (arg, or the newest) with each host's state. */
int etx_rollcli_status(const struct etx_rollcli_opts *o);

/* Every rollout, oldest first, per fleet. */
int etx_rollcli_history(const struct etx_rollcli_opts *o);

/* Who holds each fleet's lock. */
int etx_rollcli_lock(const struct etx_rollcli_opts *o);

/* Break the lock whose id is arg. */
int etx_rollcli_unlock(const struct etx_rollcli_opts *o);

/* Answer the gate of rollout arg: "continue" or "abort". */
int etx_rollcli_gate(const struct etx_rollcli_opts *o, const char *word);

#endif /* ETX_COORDINATOR_ROLLCLI_H */
