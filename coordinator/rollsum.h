/* SPDX-License-Identifier: MIT */
/*
 * The rollout summary: a journal (coordinator/journal.h) folded into what
 * `etxroll status`, `history` and `resume` need, where the rollout and each
 * of its hosts stand, and the list of a fleet's rollouts. Read only: the
 * journal is replayed through etx_journal_replay(), never written here.
 */
#ifndef ETX_COORDINATOR_ROLLSUM_H
#define ETX_COORDINATOR_ROLLSUM_H

#include <stdbool.h>
#include <stddef.h>

#include "coordinator/hoststate.h"
#include "coordinator/journal.h"
#include "proto/error.h"

/* Where a rollout stands, from its records of kind "rollout". */
enum etx_rollsum_status {
    ETX_ROLLSUM_RUNNING = 0,         /* started, no end: running or crashed */
    ETX_ROLLSUM_HALTING,             /* halt recorded, no end yet */
    ETX_ROLLSUM_ROLLING_BACK,        /* rollback under way, no end yet */
    ETX_ROLLSUM_DONE,                /* ended: every host updated */
    ETX_ROLLSUM_HALTED,              /* ended halted, nothing put back */
    ETX_ROLLSUM_ROLLED_BACK,         /* ended with every host put back */
    ETX_ROLLSUM_ROLLBACK_INCOMPLETE, /* ended with hosts not put back */
    ETX_ROLLSUM_STATUS_COUNT
};

/* "running", "halting", ..., "rollback_incomplete"; "unknown" if out of range.
 */
const char *etx_rollsum_status_name(enum etx_rollsum_status s);

/* True for the four statuses an "end" record can give. */
bool etx_rollsum_status_is_ended(enum etx_rollsum_status s);

struct etx_rollsum_host {
    char *name;                /* owned by the summary */
    enum etx_host_state state; /* last known state */
    bool reached_swapped;      /* was swapped or later at some point */
    bool in_flight;            /* last record an intent with no outcome */
    long batch;                /* batch of its last record, 0: unknown */
    char step[32];             /* step of its last intent, "" if none */
    char error[256];           /* its last error, "" if none */
};

struct etx_rollsum {
    char rollout[ETX_JOURNAL_ID_MAX];
    char fleet[ETX_JOURNAL_ID_MAX * 2]; /* from the start record, or "" */
    char plan_id[80];                   /* from the start record, or "" */
    char started[ETX_JOURNAL_TS_MAX];   /* ts of the first record */
    char updated[ETX_JOURNAL_TS_MAX];   /* ts of the last record */
    size_t records;
    size_t torn_bytes; /* torn final line ignored, 0: none */
    enum etx_rollsum_status status;
    char reason[256]; /* of the last halt, "" if none */
    long batches;     /* batch count from the start, 0: unknown */
    long batch;       /* last batch started (from 1), 0: none */
    bool batch_done;  /* that batch recorded "done" */
    long gate_batch;  /* gate waiting after this batch, 0: none */
    size_t n_hosts;
    struct etx_rollsum_host *hosts; /* start record's order, then first seen */
};

/*
 * Fold the journal at 'path' into *out (overwritten; release it with
 * etx_rollsum_clear()). Beyond replay's checks, host moves of intent and
 * outcome records must be allowed by etx_hoststate_can() or repeat the
 * current state (a retry); "probe" records set a host's state as found on
 * the host, unchecked. Records of unknown kinds are skipped. On failure
 * *out is left empty.
 */
int etx_rollsum_fold(const char *path, struct etx_rollsum *out,
                     struct etx_error *err);

/* The same over a buffer; 'name' stands for the path in messages. */
int etx_rollsum_fold_buf(const char *buf, size_t len, const char *name,
                         struct etx_rollsum *out, struct etx_error *err);

/* Free what a summary owns and zero it; safe on a zeroed summary. */
void etx_rollsum_clear(struct etx_rollsum *s);

/* One rollout of a fleet, for `etxroll history`. */
struct etx_rollsum_entry {
    char id[ETX_JOURNAL_ID_MAX];
    char started[ETX_JOURNAL_TS_MAX]; /* "" when unreadable */
    char updated[ETX_JOURNAL_TS_MAX];
    enum etx_rollsum_status status;
    size_t n_hosts;
    bool corrupt; /* could not be folded; error says why */
    char error[512];
};

/*
 * The rollouts of a fleet, oldest first (ids sort by start time). On
 * success *out is a new array of *n entries (free() it; NULL when there
 * are none). A journal that cannot be folded is listed with 'corrupt' set,
 * not an error; a fleet with no rollouts directory has none.
 */
int etx_rollsum_list(const char *state, const char *fleet,
                     struct etx_rollsum_entry **out, size_t *n,
                     struct etx_error *err);

#endif /* ETX_COORDINATOR_ROLLSUM_H */
