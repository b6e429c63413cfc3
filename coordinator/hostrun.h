/* SPDX-License-Identifier: MIT */
/*
 * One host of a rollout: the per-host state machine of DESIGN.md driving
 * one agent connection (coordinator/peer.h). Forward it goes probe, stage
 * (push the artifact in ETX_FRAME_CHUNK chunks, or have the agent pull a
 * URL), verify, swap, restart, check, then during its batch's bake the
 * same check again and again; back it goes rollback, restart, check.
 * Every step that changes the host is announced by an intent record
 * in the journal (fsynced) and closed by an outcome record. Transient
 * errors, a lost connection included, are retried with the inventory's
 * backoff on a uv timer, as an attempt counter within the step; any other
 * class, or the last attempt, ends the host. The state is an explicit
 * enum (coordinator/hoststate.h) set in one function.
 */
#ifndef ETX_COORDINATOR_HOSTRUN_H
#define ETX_COORDINATOR_HOSTRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "coordinator/hoststate.h"
#include "coordinator/inventory.h"
#include "proto/backoff.h"

struct etx_hostrun; /* opaque */
struct etx_journal;
struct etx_eventlog;
struct etx_psk;

/* Shared by every host of a rollout; borrowed, outlives them all. */
struct etx_hostrun_env {
    uv_loop_t *loop;
    const struct etx_inventory *inv;
    struct etx_journal *journal;
    struct etx_eventlog *log;
    const char *sha256; /* the artifact's SHA-256, 64 hex digits */
    uint64_t size;      /* the artifact file's size (path artifacts) */
    etx_backoff_rand_fn rnd;
    void *rnd_arg;
    bool resume; /* resuming a crashed run: probe, record, clean up first */
};

/* The host came to rest: healthy, failed, halted between steps, or at the
 * end of a rollback (rolled_back, rollback_failed). */
typedef void (*etx_hostrun_done_cb)(struct etx_hostrun *h, void *arg);

/*
 * A host of the rollout: inv->hosts[host] in batch 'batch' (from 1), with
 * the fleet key 'psk' (borrowed, lives as long as h). NULL when out of
 * memory. Close with etx_hostrun_close().
 */
struct etx_hostrun *etx_hostrun_new(const struct etx_hostrun_env *env,
                                    size_t host, unsigned batch,
                                    const struct etx_psk *psk,
                                    etx_hostrun_done_cb cb, void *arg);

/* Drive the host forward from pending; 'cb' when it rests. */
void etx_hostrun_start(struct etx_hostrun *h);

/*
 * Put a host that reached swapped back; 'cb' when it rests. With
 * env->resume the host is probed first: the new artifact in place is put
 * back; the old one already in place (a rollback cut short) is only
 * restarted and checked; a host never swapped is left alone.
 *
 * Forward with env->resume, the probe decides as well: the new artifact
 * in place goes on with restart and check (or, marked healthy, is done),
 * anything else with stage.
 * Either way a "probe" record states what was found, and stale temps are
 * removed (CleanupRequest) before any step that changes the host.
 */
void etx_hostrun_rollback(struct etx_hostrun *h);

/* Resume: the journal says h reached swapped in the crashed run. */
void etx_hostrun_mark_swapped(struct etx_hostrun *h);

/*
 * Resume: the journal's last word on h is healthy. Going forward, a probe
 * that finds the new artifact in place then leaves h healthy: no restart
 * and no health step again (the batch's bake, if not passed, checks it).
 */
void etx_hostrun_mark_healthy(struct etx_hostrun *h);

/*
 * The batch's bake time for a healthy host: the health step's
 * HealthRequest again and again (journaled as step "bake", state
 * healthy) until 'bake_ms' passed. The next check starts
 * etx_hostrun_bake_period_ms() after the previous one ended, the last one
 * no later than the end of the bake; a check in flight then still ends
 * the bake. A check that fails fails the host (healthy -> failed), as a
 * failed step does: retried only when transient. 'cb' when it rests.
 * False (nothing started) when h is not a healthy host at rest, or the
 * inventory has no health check, or bake_ms is 0.
 */
bool etx_hostrun_bake(struct etx_hostrun *h, uint64_t bake_ms);

/* The bake's period: health.interval, but at least a fifth of the bake. */
uint64_t etx_hostrun_bake_period_ms(const struct etx_inventory *inv,
                                    uint64_t bake_ms);

/*
 * Stop at the end of the current step (a backoff or bake wait ends at
 * once); 'cb' follows when the host rests. No-op when it is not running.
 */
void etx_hostrun_halt(struct etx_hostrun *h);

/* Close the connection and free h from the loop (async); NULL: no-op. */
void etx_hostrun_close(struct etx_hostrun *h);

enum etx_host_state etx_hostrun_state(const struct etx_hostrun *h);
bool etx_hostrun_reached_swapped(const struct etx_hostrun *h);
bool etx_hostrun_is_running(const struct etx_hostrun *h);

/*
 * The host's batch is done: close its idle connection, so that a fleet's
 * memory and its agents' sessions grow with the batch, not the fleet. A
 * later step (a rollback) connects again. No-op while h runs.
 */
void etx_hostrun_release(struct etx_hostrun *h);
bool etx_hostrun_is_retrying(const struct etx_hostrun *h);
unsigned etx_hostrun_batch(const struct etx_hostrun *h);
unsigned etx_hostrun_attempts(const struct etx_hostrun *h); /* all tries */
const char *etx_hostrun_name(const struct etx_hostrun *h);  /* borrowed */
/* The last error as one line, "" when none; borrowed. */
const char *etx_hostrun_last_error(const struct etx_hostrun *h);

#endif /* ETX_COORDINATOR_HOSTRUN_H */
