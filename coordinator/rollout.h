/* SPDX-License-Identifier: MIT */
/*
 * The scheduler of one rollout on one libuv loop: batches in order, each
 * host driven by coordinator/hostrun.h, the next batch only when every
 * host of the current one is healthy (then its bake time, during which
 * its hosts are health-checked again and must stay healthy, its manual
 * gate and the pause between batches). Past max_failures, or on SIGINT,
 * SIGTERM or `etxroll abort`, it halts: no new batch, hosts in flight
 * finish their step; then, with on_failure: rollback (always after
 * abort), every host that reached swapped is put back, newest batch
 * first, one batch at a time. The journal gets rollout, batch and gate
 * records; hosts add theirs.
 *
 * Gates: the rollout waits, journaled, and polls the control file
 * 'control_path' every ETX_ROLLOUT_GATE_POLL_MS; `etxroll continue ID`
 * writes "continue" there, `etxroll abort ID` writes "abort".
 */
#ifndef ETX_COORDINATOR_ROLLOUT_H
#define ETX_COORDINATOR_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "coordinator/batch.h"
#include "coordinator/inventory.h"
#include "proto/error.h"

#define ETX_ROLLOUT_GATE_POLL_MS 300

struct etx_journal;
struct etx_eventlog;
struct etx_psk;

enum etx_rollout_result {
    ETX_ROLLOUT_DONE = 0,            /* every host updated */
    ETX_ROLLOUT_HALTED,              /* halted, nothing put back */
    ETX_ROLLOUT_ROLLED_BACK,         /* halted and every touched host back */
    ETX_ROLLOUT_ROLLBACK_INCOMPLETE, /* a host could not be put back */
};

/*
 * Going on with a crashed run (coordinator/resume.h): the hosts are
 * probed first (coordinator/hostrun.h, env->resume), and a "rollout
 * resume" record replaces the start record.
 */
struct etx_rollout_resume {
    bool rollback;        /* put back every host that reached swapped */
    size_t batch;         /* last batch started, from 1; 0: none */
    size_t batches_done;  /* batches 1..n passed: no bake, no gate again */
    const bool *swapped;  /* per host in rollout order: reached swapped */
    const bool *healthy;  /* per host: the journal's last state healthy */
    bool rollback_failed; /* a host's rollback already failed for good */
    const char *halt;     /* non-NULL: record this halt, then roll back */
};

/* Everything borrowed; it must outlive etx_rollout_run(). */
struct etx_rollout_opts {
    uv_loop_t *loop; /* no other handles on it */
    const struct etx_inventory *inv;
    const struct etx_batch_plan *bp;
    struct etx_journal *journal; /* new, empty */
    struct etx_eventlog *log;
    const char *plan_id;
    const char *sha256;         /* the artifact's digest */
    uint64_t size;              /* its size in bytes (path artifacts) */
    const struct etx_psk *psks; /* one per inventory host (inv->hosts) */
    const char *control_path;   /* the gate's control file */
    const char *inventory_path; /* recorded in the start record (resume) */
    const struct etx_rollout_resume *resume; /* NULL: a new rollout */
};

/*
 * Run the rollout to its end: journal it, drive the hosts, then print the
 * summary table (host, batch, final state, attempts, last error) to
 * 'summary'. ETX_OK with *result set; ETX_ERR with err filled only when
 * it could not start (out of memory, the journal cannot be written).
 */
int etx_rollout_run(const struct etx_rollout_opts *o, FILE *summary,
                    enum etx_rollout_result *result, struct etx_error *err);

/* "done", "halted", "rolled_back", "rollback_incomplete". */
const char *etx_rollout_result_name(enum etx_rollout_result r);

#endif /* ETX_COORDINATOR_ROLLOUT_H */
