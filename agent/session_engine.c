/* SPDX-License-Identifier: MIT */
/*
 * The session's file steps (see session_internal.h): probe, stage (begin,
 * chunk, end), verify, swap, rollback, prune and cleanup. Each handler
 * checks the request against the session's state on the loop, runs the
 * engine call on the libuv thread pool (STYLE R8), and moves the state in
 * its after-callback, back on the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/session_internal.h"
#include "proto/frame.h"

#define SPOOL_BUF (64u * 1024u)

/* ---- shared ---- */

void
etx_session__scan_holders(const char *path, struct etx_holders *h)
{
    struct etx_error err = {0};
    struct etx_file_id id;
    struct stat st;

    memset(h, 0, sizeof(*h));
    if (stat(path, &st) != 0)
        return;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    if (etx_holders_scan(&id, 1, ETX_HOLDERS_ALL, h, &err) != ETX_OK)
        memset(h, 0, sizeof(*h));
}

/* A failed step; holders are looked for where they may be the cause. */
static void
reply_failure(struct etx_session_req *q)
{
    struct etx_holders h = {0};
    bool busy = q->err.sys_errno == ETXTBSY || q->err.sys_errno == EBUSY ||
                q->err.cls == ETX_CLASS_TRANSIENT ||
                q->err.cls == ETX_CLASS_CONFLICT;

    if (busy)
        etx_session__scan_holders(q->t.path, &h);
    etx_reply_fail(q->reply, &q->err, busy ? &h : NULL);
    etx_holders_free(&h);
}

static struct etx_engine *
engine_of(struct etx_session_req *q)
{
    return q->s->ctx.engine;
}

/* The staged artifact is the one the request names. */
static int
check_stage_matches(struct etx_session_req *q, const char *sha256)
{
    struct etx_session *s = q->s;

    if (strcmp(q->t.path, s->stage_path) == 0 &&
        (sha256 == NULL || sha256[0] == '\0' ||
         strcmp(sha256, s->stage_sha) == 0))
        return ETX_OK;
    etx_session__refuse(q, ETX_CLASS_INPUT,
                        "what is staged is %s with SHA-256 %s, not what the "
                        "request names",
                        s->stage_path, s->stage_sha);
    return ETX_ERR;
}

/* ---- probe ---- */

static void
run_probe(struct etx_session_req *q)
{
    q->status = etx_engine_probe(engine_of(q), &q->t, q->facts, &q->err);
    if (q->status != ETX_OK) {
        etx_reply_fail(q->reply, &q->err, NULL);
        return;
    }
    etx_reply_probe(q->reply, q->facts);
    etx_reply_ok(q->reply, "%s", q->facts->file.exists ? "exists" : "absent");
}

static int
alloc_facts(struct etx_session_req *q)
{
    q->facts = calloc(1, sizeof(*q->facts));
    if (q->facts != NULL)
        return ETX_OK;
    etx_session__refuse(q, ETX_CLASS_INTERNAL, "out of memory");
    return ETX_ERR;
}

void
etx_session__probe(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "probe");

    if (q == NULL || etx_session__target(q, env->probe->target) != ETX_OK ||
        alloc_facts(q) != ETX_OK)
        return;
    etx_session__queue(q, run_probe, NULL);
}

static void
run_probe_facts(struct etx_session_req *q)
{
    q->status = etx_engine_probe(engine_of(q), &q->t, q->facts, &q->err);
}

void
etx_session__probe_then(struct etx_session_req *q, etx_session_after_fn after)
{
    if (alloc_facts(q) == ETX_OK)
        etx_session__queue(q, run_probe_facts, after);
}

/* ---- stage by push ---- */

static void
run_stage_begin(struct etx_session_req *q)
{
    Etxroll__StageBegin *b = q->env->stage_begin;

    q->status = etx_engine_stage_begin(engine_of(q), &q->t, b->sha256, b->size,
                                       &q->stage, &q->err);
    if (q->status == ETX_OK)
        etx_reply_ok(q->reply, "staging begun");
    else
        etx_reply_fail(q->reply, &q->err, NULL);
}

static void
after_stage_begin(struct etx_session_req *q)
{
    struct etx_session *s = q->s;

    if (q->status == ETX_OK) {
        s->stage = q->stage;
        q->stage = NULL;
        snprintf(s->stage_path, sizeof(s->stage_path), "%s", q->t.path);
        snprintf(s->stage_sha, sizeof(s->stage_sha), "%s",
                 q->env->stage_begin->sha256);
        etx_session__set_state(s, ETX_SESSION_STAGING);
    } else {
        s->stage_err = q->err;
        etx_session__set_state(s, ETX_SESSION_STAGE_FAILED);
    }
    etx_session__finish(q);
}

void
etx_session__stage_begin(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "stage-begin");

    if (q == NULL)
        return;
    q->quiet = true;
    etx_session__drop_stage(s); /* a new begin replaces an unfinished one */
    if (etx_session__target(q, env->stage_begin->target) != ETX_OK)
        return;
    etx_session__queue(q, run_stage_begin, after_stage_begin);
}

static void
run_chunk(struct etx_session_req *q)
{
    ProtobufCBinaryData *d = &q->env->stage_chunk->data;

    q->status = etx_engine_stage_write(q->s->stage, d->data, d->len, &q->err);
    if (q->status == ETX_OK)
        etx_reply_ok(q->reply, "written");
    else
        etx_reply_fail(q->reply, &q->err, NULL);
}

static void
after_chunk(struct etx_session_req *q)
{
    struct etx_session *s = q->s;

    if (q->status != ETX_OK) {
        s->stage_err = q->err;
        etx_session__drop_stage(s);
        etx_session__set_state(s, ETX_SESSION_STAGE_FAILED);
    }
    etx_session__finish(q);
}

void
etx_session__stage_chunk(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = NULL;

    if (s->state == ETX_SESSION_STAGE_FAILED) {
        etx_frame_free(env); /* StageEnd answers the first error */
        return;
    }
    q = etx_session__req_new(s, env, "stage-chunk");
    if (q == NULL)
        return;
    q->quiet = true;
    snprintf(q->staged, sizeof(q->staged), "%s", s->stage_path);
    q->path = q->staged;
    if (s->state != ETX_SESSION_STAGING) {
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "StageChunk without StageBegin");
        return;
    }
    etx_session__queue(q, run_chunk, after_chunk);
}

static void
run_stage_end(struct etx_session_req *q)
{
    q->status = etx_engine_stage_end(q->s->stage, &q->err);
    if (q->status == ETX_OK)
        etx_reply_ok(q->reply, "staged");
    else
        etx_reply_fail(q->reply, &q->err, NULL);
}

static void
after_stage_end(struct etx_session_req *q)
{
    struct etx_session *s = q->s;

    if (q->status == ETX_OK)
        etx_session__set_state(s, ETX_SESSION_STAGED);
    else
        etx_session__drop_stage(s);
    etx_session__finish(q);
}

void
etx_session__stage_end(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "stage-end");

    if (q == NULL)
        return;
    snprintf(q->staged, sizeof(q->staged), "%s", s->stage_path);
    q->path = q->staged;
    if (s->state == ETX_SESSION_STAGE_FAILED) {
        etx_session__drop_stage(s);
        etx_session__fail(q, &s->stage_err, NULL);
        return;
    }
    if (s->state != ETX_SESSION_STAGING) {
        etx_session__refuse(q, ETX_CLASS_INPUT, "StageEnd without StageBegin");
        return;
    }
    etx_session__queue(q, run_stage_end, after_stage_end);
}

/* ---- stage by pull: the spooled artifact into the engine ---- */

static int
copy_spool(struct etx_session_req *q)
{
    unsigned char *buf = malloc(SPOOL_BUF);
    uint64_t off = 0;
    ssize_t n = 0;
    int rc = ETX_OK;

    if (buf == NULL)
        return etx_error_sys(&q->err, ENOMEM, ETX_CTX_FILE, "pull", q->path,
                             "cannot copy the download");
    while (rc == ETX_OK && off < q->spool_size) {
        n = pread(q->spool_fd, buf, SPOOL_BUF, (off_t)off);
        if (n <= 0) {
            rc = etx_error_sys(&q->err, n == 0 ? EIO : errno, ETX_CTX_FILE,
                               "pull", q->path, "cannot read the download");
            break;
        }
        rc = etx_engine_stage_write(q->stage, buf, (size_t)n, &q->err);
        off += (uint64_t)n;
    }
    free(buf);
    return rc;
}

static void
run_spool(struct etx_session_req *q)
{
    Etxroll__PullRequest *p = q->env->pull;

    q->status = etx_engine_stage_begin(engine_of(q), &q->t, p->sha256,
                                       q->spool_size, &q->stage, &q->err);
    if (q->status == ETX_OK)
        q->status = copy_spool(q);
    if (q->status == ETX_OK)
        q->status = etx_engine_stage_end(q->stage, &q->err);
    if (q->status == ETX_OK)
        etx_reply_ok(q->reply, "pulled and staged %" PRIu64 " bytes",
                     q->spool_size);
    else
        etx_reply_fail(q->reply, &q->err, NULL);
}

static void
after_spool(struct etx_session_req *q)
{
    struct etx_session *s = q->s;

    if (q->status == ETX_OK) {
        s->stage = q->stage;
        q->stage = NULL;
        snprintf(s->stage_path, sizeof(s->stage_path), "%s", q->t.path);
        snprintf(s->stage_sha, sizeof(s->stage_sha), "%s",
                 q->env->pull->sha256);
        etx_session__set_state(s, ETX_SESSION_STAGED);
    }
    etx_session__finish(q);
}

void
etx_session__stage_spool(struct etx_session_req *q)
{
    etx_session__queue(q, run_spool, after_spool);
}

/* ---- verify, swap ---- */

static void
run_verify(struct etx_session_req *q)
{
    q->status = etx_engine_verify(q->s->stage, &q->err);
    if (q->status == ETX_OK)
        etx_reply_ok(q->reply, "verified %s", q->s->stage_sha);
    else
        etx_reply_fail(q->reply, &q->err, NULL);
}

static void
after_verify(struct etx_session_req *q)
{
    struct etx_session *s = q->s;

    if (q->status == ETX_OK)
        etx_session__set_state(s, ETX_SESSION_VERIFIED);
    else
        etx_session__drop_stage(s);
    etx_session__finish(q);
}

void
etx_session__verify(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "verify");

    if (q == NULL || etx_session__target(q, env->verify->target) != ETX_OK)
        return;
    if (s->state != ETX_SESSION_STAGED && s->state != ETX_SESSION_VERIFIED) {
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "nothing is staged: stage (StageBegin .. "
                            "StageEnd) or pull first");
        return;
    }
    if (check_stage_matches(q, env->verify->sha256) != ETX_OK)
        return;
    etx_session__queue(q, run_verify, after_verify);
}

static void
run_swap(struct etx_session_req *q)
{
    q->status = etx_engine_swap(q->s->stage, &q->swap, &q->err);
    if (q->status != ETX_OK) {
        reply_failure(q);
        return;
    }
    etx_reply_before(q->reply, &q->swap.old);
    etx_reply_after(q->reply, &q->swap.new);
    etx_reply_ok(q->reply, "swapped%s",
                 (q->swap.steps & ETX_SWAP_NOOP) ? " (already live)" : "");
}

/* The last swap or rollback, for a restart that follows. */
static void
remember_swap(struct etx_session_req *q)
{
    struct etx_session *s = q->s;

    s->swap = q->swap;
    s->has_swap = true;
    snprintf(s->swap_path, sizeof(s->swap_path), "%s", q->t.path);
}

static void
after_swap(struct etx_session_req *q)
{
    if (q->status == ETX_OK)
        remember_swap(q);
    etx_session__drop_stage(q->s);
    etx_session__finish(q);
}

void
etx_session__swap(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "swap");

    if (q == NULL || etx_session__target(q, env->swap->target) != ETX_OK)
        return;
    if (s->state != ETX_SESSION_VERIFIED) {
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "nothing verified to swap: stage and verify "
                            "first");
        return;
    }
    if (check_stage_matches(q, env->swap->sha256) != ETX_OK)
        return;
    etx_session__queue(q, run_swap, after_swap);
}

/* ---- rollback, prune, cleanup ---- */

static void
run_rollback(struct etx_session_req *q)
{
    q->status = etx_engine_rollback(engine_of(q), &q->t, &q->swap, &q->err);
    if (q->status != ETX_OK) {
        reply_failure(q);
        return;
    }
    etx_reply_before(q->reply, &q->swap.old);
    etx_reply_after(q->reply, &q->swap.new);
    etx_reply_ok(q->reply, "rolled back%s",
                 (q->swap.steps & ETX_SWAP_NOOP) ? " (already there)" : "");
}

static void
after_rollback(struct etx_session_req *q)
{
    if (q->status == ETX_OK)
        remember_swap(q);
    etx_session__finish(q);
}

void
etx_session__rollback(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "rollback");

    if (q == NULL || etx_session__target(q, env->rollback->target) != ETX_OK)
        return;
    etx_session__queue(q, run_rollback, after_rollback);
}

static void
run_prune(struct etx_session_req *q)
{
    struct etx_prune_result r = {0};
    size_t i, removed = 0;

    q->status = etx_engine_prune(engine_of(q), &q->t, &r, &q->err);
    if (q->status != ETX_OK) {
        reply_failure(q);
        return;
    }
    for (i = 0; i < r.n; i++)
        removed += r.v[i].why == ETX_PRUNE_REMOVED;
    etx_reply_ok(
        q->reply, "removed %zu, kept %zu version(s)%s", removed, r.n - removed,
        r.n_unknown > 0 ? "; some processes could not be inspected" : "");
    etx_prune_result_free(&r);
}

void
etx_session__prune(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "prune");

    if (q == NULL || etx_session__target(q, env->prune->target) != ETX_OK)
        return;
    etx_session__queue(q, run_prune, NULL);
}

static void
run_cleanup(struct etx_session_req *q)
{
    struct etx_cleanup_result r = {0};
    size_t i, removed = 0;

    q->status = etx_engine_cleanup(engine_of(q), &q->t,
                                   q->env->cleanup->older_than_s, &r, &q->err);
    if (q->status != ETX_OK) {
        reply_failure(q);
        return;
    }
    for (i = 0; i < r.n; i++)
        removed += r.v[i].why == ETX_CLEANUP_REMOVED;
    etx_reply_ok(q->reply, "removed %zu stale temp(s), kept %zu", removed,
                 r.n - removed);
    etx_cleanup_result_free(&r);
}

void
etx_session__cleanup(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "cleanup");

    if (q == NULL || etx_session__target(q, env->cleanup->target) != ETX_OK)
        return;
    etx_session__queue(q, run_cleanup, NULL);
}
