/* SPDX-License-Identifier: MIT */
/*
 * What the session's files share (agent/session.c: the conversation and the
 * request life cycle; session_engine.c: file steps on the thread pool;
 * session_run.c: restarts, health checks and pulls on the loop). Not part of
 * the session API (see session.h).
 */
#ifndef ETX_AGENT_SESSION_INTERNAL_H
#define ETX_AGENT_SESSION_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "agent/engine.h"
#include "agent/facts.h"
#include "agent/reply.h"
#include "agent/session.h"
#include "proto/digest.h"
#include "proto/etxroll.pb-c.h"

struct etx_health;
struct etx_pull;
struct etx_restart;

/* Where a conversation stands; assigned only in etx_session__set_state(). */
enum etx_session_state {
    ETX_SESSION_HELLO = 0,    /* waiting for the client's Hello */
    ETX_SESSION_READY,        /* nothing staged */
    ETX_SESSION_STAGING,      /* StageBegin accepted: chunks are written */
    ETX_SESSION_STAGE_FAILED, /* a begin or chunk failed: chunks are
                                 ignored, StageEnd answers that error */
    ETX_SESSION_STAGED,       /* StageEnd or a pull completed */
    ETX_SESSION_VERIFIED,     /* verified: ready to swap */
    ETX_SESSION_CLOSING,      /* the connection is closing or closed */
    ETX_SESSION_STATE_COUNT
};

struct etx_session_req;

/* Runs on the thread pool: the engine call; fills q->reply. */
typedef void (*etx_session_work_fn)(struct etx_session_req *q);
/* Runs on the loop after the work: session state, further steps. */
typedef void (*etx_session_after_fn)(struct etx_session_req *q);

/* One request being served; at most one per session at a time. */
struct etx_session_req {
    uv_work_t work;
    struct etx_session *s;
    Etxroll__Envelope *env; /* the request, owned; q->t borrows from it */
    const char *op;         /* "probe", "swap", ... for the log */
    struct etx_engine_target t;
    const char *path;      /* the target's path for the log, or "" */
    char staged[PATH_MAX]; /* chunk and end: the stage's path, kept */
    uint64_t start_ms;
    struct etx_reply *reply;
    bool quiet; /* a success is not answered (StageBegin, StageChunk) */
    etx_session_work_fn run;
    etx_session_after_fn after;
    int status;                     /* of the step: ETX_OK or ETX_ERR */
    struct etx_error err;           /* when ETX_ERR */
    struct etx_engine_stage *stage; /* begun by this request, not yet the
                                       session's */
    struct etx_swap_result swap;
    struct etx_facts_target *facts; /* probe; restart without a swap */
    char **argv;                    /* a command, NULL-ended, owned */
    int spool_fd;                   /* pull: the unnamed file, or -1 */
    uint64_t spool_size;
};

struct etx_session {
    struct etx_session_ctx ctx;
    struct etx_conn *conn; /* NULL once closed */
    enum etx_session_state state;
    char peer[96];
    etx_session_done_cb done;
    void *done_arg;
    struct etx_session_req *cur; /* the request being served */
    unsigned pending;            /* thread-pool work and runs in flight */
    struct etx_engine_stage *stage;
    char stage_path[PATH_MAX];
    char stage_sha[ETX_DIGEST_HEX_LEN + 1];
    struct etx_error stage_err; /* ETX_SESSION_STAGE_FAILED: why */
    bool has_swap;              /* the last swap or rollback, for restart */
    char swap_path[PATH_MAX];
    struct etx_swap_result swap;
    struct etx_restart *restart; /* running, or NULL */
    struct etx_health *health;
    struct etx_pull *pull;
};

void etx_session__set_state(struct etx_session *s, enum etx_session_state to);

/*
 * A request for env (taken: freed with the request). NULL when out of
 * memory; the connection is then closed and env freed.
 */
struct etx_session_req *etx_session__req_new(struct etx_session *s,
                                             Etxroll__Envelope *env,
                                             const char *op);

/* q->t from a request's target; ETX_ERR (input) when it has none. */
int etx_session__target(struct etx_session_req *q, const Etxroll__Target *t);

/* Run q->run on the thread pool, then q->after and the answer. */
void etx_session__queue(struct etx_session_req *q, etx_session_work_fn run,
                        etx_session_after_fn after);

/* Answer (not a quiet success), log, free q and read the next request. */
void etx_session__finish(struct etx_session_req *q);

/* Answer q with a failure in err (and the holders 'h', may be NULL). */
void etx_session__fail(struct etx_session_req *q, const struct etx_error *err,
                       const struct etx_holders *h);

/* Refuse q: class 'cls', nothing was done. */
void etx_session__refuse(struct etx_session_req *q, enum etx_err_class cls,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Drop the stage, if any (its temp is removed): the session is READY. */
void etx_session__drop_stage(struct etx_session *s);

/* A run on the loop (restart, health, pull) started or ended. */
void etx_session__hold(struct etx_session *s);
void etx_session__release(struct etx_session *s);

/* The handlers: each takes env. */
void etx_session__probe(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__stage_begin(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__stage_chunk(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__stage_end(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__verify(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__swap(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__rollback(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__prune(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__cleanup(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__pull(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__restart(struct etx_session *s, Etxroll__Envelope *env);
void etx_session__health(struct etx_session *s, Etxroll__Envelope *env);

/* Pull: stage the spooled artifact on the thread pool (session_engine.c). */
void etx_session__stage_spool(struct etx_session_req *q);

/* Restart without a swap in this session: find the target's inode first. */
void etx_session__probe_then(struct etx_session_req *q,
                             etx_session_after_fn after);

/* The holders of the target, scanned after a failure that may name some;
 * run on the thread pool. h is left empty when there are none. */
void etx_session__scan_holders(const char *path, struct etx_holders *h);

#endif /* ETX_AGENT_SESSION_INTERNAL_H */
