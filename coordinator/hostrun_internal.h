/* SPDX-License-Identifier: MIT */
/*
 * Shared between hostrun.c (the state machine, retries, the connection,
 * the journal) and hostrun_req.c (building each step's request, pushing
 * the artifact, reading Results). Not for other modules.
 */
#ifndef ETX_COORDINATOR_HOSTRUN_INTERNAL_H
#define ETX_COORDINATOR_HOSTRUN_INTERNAL_H

#include <jansson.h>

#include "coordinator/hostrun.h"
#include "coordinator/peer.h"
#include "proto/error.h"

/* The steps, forward then back; each is one request (stage: a stream). */
enum hostrun_step {
    HR_STEP_NONE = 0,
    HR_STEP_PROBE,      /* read-only: the target as it is */
    HR_STEP_CLEANUP,    /* resume only: remove a dead run's stale temps */
    HR_STEP_STAGE,      /* StageBegin/Chunk/End or PullRequest */
    HR_STEP_VERIFY,     /* the staged file's digest */
    HR_STEP_SWAP,       /* publish it over the target */
    HR_STEP_RESTART,    /* restart the service on the new file */
    HR_STEP_CHECK,      /* health checks until healthy or the deadline */
    HR_STEP_ROLLBACK,   /* put the previous file back */
    HR_STEP_RB_RESTART, /* restart on the old file */
    HR_STEP_RB_CHECK,   /* health checks on the old file */
    HR_STEP_END,        /* nothing left to do */
};

/* What the host waits for, if anything. */
enum hostrun_wait {
    HR_WAIT_NONE = 0, /* at rest, or between two steps */
    HR_WAIT_CONNECT,  /* the agent's Hello */
    HR_WAIT_RESULT,   /* the Result of the current step */
    HR_WAIT_BACKOFF,  /* the timer before the next attempt */
    HR_WAIT_DRAIN,    /* the peer's drain, to push more chunks */
    HR_WAIT_BAKE,     /* the timer before the next check of the bake */
};

struct etx_hostrun {
    const struct etx_hostrun_env *env;
    const struct etx_inv_host *host;
    const struct etx_psk *psk;
    etx_hostrun_done_cb done;
    void *done_arg;
    unsigned batch;
    enum etx_host_state state; /* set in hostrun_set_state() only */
    enum hostrun_step step;
    enum hostrun_wait wait;
    bool running, halting, reached_swapped, closing;
    bool rb_resume; /* resume: probe first, then put back what needs it */
    bool found_new; /* resume: the probe found the new artifact in place */
    unsigned failed_tries; /* failures of the current step */
    unsigned tries;        /* every try of every step */
    uint64_t waited_ms;    /* backoff waited in the current step */
    struct etx_peer *peer; /* NULL: not connected */
    bool peer_ready;
    uv_timer_t timer;
    bool timer_closed;
    int art_fd; /* the artifact while pushing, else -1 */
    uint64_t art_off;
    unsigned char *chunk; /* ETX_FRAME_CHUNK bytes while pushing */
    char last_error[600];
    /* the bake (etx_hostrun_bake()): HR_STEP_CHECK journaled as "bake" */
    bool baking;
    bool known_healthy;   /* resume: the journal saw the host healthy */
    uint64_t bake_until;  /* loop time (ms) the bake ends */
    uint64_t bake_period; /* ms from the end of a check to the next */
    unsigned bake_checks; /* checks of this bake passed so far */
};

/* Send the request of h->step; ETX_ERR with err filled if it cannot. */
int etx_hostrun__send(struct etx_hostrun *h, struct etx_error *err);

/* Push chunks until done (then StageEnd) or the queue is full. */
int etx_hostrun__push(struct etx_hostrun *h, struct etx_error *err);

/* Free what pushing holds (fd, buffer); safe when nothing is held. */
void etx_hostrun__push_end(struct etx_hostrun *h);

/* A Result (or a lost connection) for the current step. */
void etx_hostrun__result(struct etx_hostrun *h, const Etxroll__Result *res,
                         const struct etx_error *lost);

/* The agent's Error as ours; holders as a new JSON array in *holders. */
void etx_hostrun__error_from_pb(const Etxroll__Error *pe, const char *host,
                                struct etx_error *e, json_t **holders);

/* Run h->step: connect first if need be; intent, then the request. */
void etx_hostrun__run_step(struct etx_hostrun *h);

/* A failed try of h->step ('holders' stolen, may be NULL): a backoff wait
 * and another try, or the host fails. */
void etx_hostrun__step_failed(struct etx_hostrun *h, const struct etx_error *e,
                              json_t *holders);

/* Connect to the agent (hostrun_conn.c); h->step runs once it is ready. */
void etx_hostrun__connect(struct etx_hostrun *h);

/* "stage", "restart", ... as the journal names steps. */
const char *etx_hostrun__step_name(enum hostrun_step s);

#endif /* ETX_COORDINATOR_HOSTRUN_INTERNAL_H */
