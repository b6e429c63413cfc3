/* SPDX-License-Identifier: MIT */
/*
 * The rollout scheduler (coordinator/rollout.h): batches, bake, gates,
 * pause, halt and the rollback, newest batch first. Hosts report through
 * host_done(); every decision about the rollout as a whole is made here.
 */
#include "coordinator/rollout.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "coordinator/eventlog.h"
#include "coordinator/hostrun.h"
#include "coordinator/journal.h"
#include "proto/psk.h"
#include "coordinator/rollout_internal.h"

static void start_batch(struct etx_rollout *r, size_t k);
static void after_halt(struct etx_rollout *r);

static const char *const result_names[] = {
    [ETX_ROLLOUT_DONE] = "done",
    [ETX_ROLLOUT_HALTED] = "halted",
    [ETX_ROLLOUT_ROLLED_BACK] = "rolled_back",
    [ETX_ROLLOUT_ROLLBACK_INCOMPLETE] = "rollback_incomplete",
};

const char *
etx_rollout_result_name(enum etx_rollout_result res)
{
    return (unsigned)res < 4 ? result_names[res] : "unknown";
}

/* Backoff jitter from OpenSSL's CSPRNG (never the same on two hosts). */
static uint64_t
rand64(void *arg)
{
    uint64_t v = 0;

    (void)arg;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = uv_hrtime();
    return v;
}

/* Append a rollout, batch or gate record (stolen), synced. */
static void
record(struct etx_rollout *r, json_t *rec)
{
    struct etx_error err = {0};

    if (rec == NULL ||
        etx_journal_append(r->o->journal, rec, true, &err) != ETX_OK)
        etx_eventlog_emit(r->o->log, NULL, "journal", NULL,
                          "cannot write the journal: %s",
                          rec == NULL ? "out of memory" : err.msg);
    json_decref(rec);
}

static const struct etx_batch *
cur_batch(const struct etx_rollout *r, size_t k)
{
    return &r->o->bp->batches[k];
}

/* True while a host of batch k runs (or is being started). */
static bool
batch_busy(const struct etx_rollout *r, size_t k)
{
    const struct etx_batch *b = cur_batch(r, k);
    size_t i;

    if (r->starting)
        return true;
    for (i = b->first; i < b->first + b->count; i++)
        if (etx_hostrun_is_running(r->hosts[i]))
            return true;
    return false;
}

static void
end(struct etx_rollout *r, enum etx_rollout_result res)
{
    if (r->phase == PH_END)
        return;
    r->phase = PH_END;
    r->result = res;
    record(r, json_pack("{ss ss ss}", "kind", "rollout", "event", "end",
                        "result", etx_rollout_result_name(res)));
    etx_eventlog_emit(r->o->log, NULL, "end",
                      json_pack("{ss}", "result", etx_rollout_result_name(res)),
                      "rollout %s: %s", etx_journal_id(r->o->journal),
                      etx_rollout_result_name(res));
    etx_rollout__summary(r, r->summary);
    etx_rollout__stop(r);
}

static void
next_batch(struct etx_rollout *r)
{
    uint64_t pause = r->o->inv->batches.pause_ms;

    if (r->batch + 1 >= r->o->bp->n_batches) {
        end(r, ETX_ROLLOUT_DONE);
        return;
    }
    if (pause == 0) {
        start_batch(r, r->batch + 1);
        return;
    }
    r->phase = PH_PAUSE;
    etx_eventlog_emit(r->o->log, NULL, "pause", NULL,
                      "pausing %" PRIu64 " ms before the next batch", pause);
    uv_timer_start(&r->timer, etx_rollout__timer_cb, pause, 0);
}

static void
gate_wait(struct etx_rollout *r)
{
    const char *id = etx_journal_id(r->o->journal);

    r->phase = PH_GATE;
    record(r, json_pack("{ss ss si}", "kind", "gate", "event", "wait", "batch",
                        (int)r->batch + 1));
    etx_eventlog_emit(r->o->log, NULL, "gate",
                      json_pack("{si}", "batch", (int)r->batch + 1),
                      "waiting at the gate after batch %zu: run `etxroll "
                      "continue %s` or `etxroll abort %s`",
                      r->batch + 1, id, id);
    uv_timer_start(&r->timer, etx_rollout__timer_cb, ETX_ROLLOUT_GATE_POLL_MS,
                   ETX_ROLLOUT_GATE_POLL_MS);
}

/* Resume: the current batch passed its bake and gate in the crashed run. */
static bool
passed_before(const struct etx_rollout *r)
{
    return r->o->resume != NULL && r->batch < r->o->resume->batches_done;
}

static void
bake_done(struct etx_rollout *r)
{
    bool last = r->batch + 1 >= r->o->bp->n_batches || passed_before(r);
    const struct etx_batch *b = cur_batch(r, r->batch);
    size_t i;

    for (i = b->first; i < b->first + b->count; i++)
        etx_hostrun_release(r->hosts[i]);
    record(r, json_pack("{ss ss si}", "kind", "batch", "event", "done", "batch",
                        (int)r->batch + 1));
    etx_eventlog_emit(
        r->o->log, NULL, "batch",
        json_pack("{ss si}", "phase", "done", "batch", (int)r->batch + 1),
        "batch %zu of %zu is healthy", r->batch + 1, r->o->bp->n_batches);
    if (b->gate_after && !last)
        gate_wait(r);
    else
        next_batch(r);
}

/*
 * The bake: its timer, and every healthy host of the batch checked again
 * and again until the bake time passed (etx_hostrun_bake()). A check that
 * fails fails its host; host_done() counts it like any failure.
 */
static void
start_bake(struct etx_rollout *r, uint64_t bake)
{
    const struct etx_batch *b = cur_batch(r, r->batch);
    uint64_t every = etx_hostrun_bake_period_ms(r->o->inv, bake);
    size_t i, n = 0;

    r->phase = PH_BAKE;
    r->bake_over = false;
    r->starting = true;
    for (i = b->first; i < b->first + b->count; i++)
        n += etx_hostrun_bake(r->hosts[i], bake);
    r->starting = false;
    etx_eventlog_emit(r->o->log, NULL, "bake",
                      json_pack("{si sI si sI}", "batch", (int)r->batch + 1,
                                "bake_ms", (json_int_t)bake, "hosts", (int)n,
                                "every_ms", (json_int_t)(n > 0 ? every : 0)),
                      "batch %zu healthy; baking %" PRIu64
                      " ms, %zu host(s) checked every %" PRIu64 " ms",
                      r->batch + 1, bake, n, n > 0 ? every : 0);
    uv_timer_start(&r->timer, etx_rollout__timer_cb, bake, 0);
}

/* Every host of the batch rests: bake it, or go on once it baked. */
static void
check_batch(struct etx_rollout *r)
{
    uint64_t bake = r->o->inv->batches.bake_ms;

    if ((r->phase != PH_BATCH && r->phase != PH_BAKE) ||
        batch_busy(r, r->batch))
        return;
    if (r->halted) {
        after_halt(r);
        return;
    }
    if (r->phase == PH_BAKE) {
        if (r->bake_over) { /* the time passed, every check ended */
            r->phase = PH_BATCH;
            bake_done(r);
        }
        return;
    }
    if (bake == 0 || passed_before(r))
        bake_done(r);
    else
        start_bake(r, bake);
}

void
etx_rollout__halt(struct etx_rollout *r, const char *reason)
{
    const struct etx_batch *b = cur_batch(r, r->batch);
    size_t i;

    if (r->halted || r->phase == PH_ROLLBACK || r->phase == PH_END)
        return;
    r->halted = true;
    record(r, json_pack("{ss ss ss}", "kind", "rollout", "event", "halt",
                        "reason", reason));
    etx_eventlog_emit(r->o->log, NULL, "halt",
                      json_pack("{ss}", "reason", reason), "halting: %s",
                      reason);
    if (r->phase != PH_BATCH) {
        uv_timer_stop(&r->timer);
        r->phase = PH_BATCH; /* its hosts are all at rest */
    }
    r->starting = true;
    for (i = b->first; i < b->first + b->count; i++)
        etx_hostrun_halt(r->hosts[i]);
    r->starting = false;
    check_batch(r);
}

/* The newest batch at or before r->rb_batch with hosts to put back. */
static void
rb_next(struct etx_rollout *r)
{
    const struct etx_batch *b;
    size_t i, n;

    for (; r->rb_batch >= 0; r->rb_batch--) {
        b = cur_batch(r, (size_t)r->rb_batch);
        n = 0;
        r->starting = true;
        for (i = b->first; i < b->first + b->count; i++) {
            if (!etx_hostrun_reached_swapped(r->hosts[i]))
                continue;
            if (n++ == 0)
                etx_eventlog_emit(
                    r->o->log, NULL, "rollback",
                    json_pack("{si}", "batch", (int)r->rb_batch + 1),
                    "rolling back batch %ld", r->rb_batch + 1);
            etx_hostrun_rollback(r->hosts[i]);
        }
        r->starting = false;
        if (n > 0 && batch_busy(r, (size_t)r->rb_batch))
            return;
    }
    for (i = 0; i < r->n; i++)
        if (etx_hostrun_state(r->hosts[i]) == ETX_HOST_ROLLBACK_FAILED ||
            (r->o->resume != NULL && r->o->resume->rollback_failed)) {
            end(r, ETX_ROLLOUT_ROLLBACK_INCOMPLETE);
            return;
        }
    end(r, ETX_ROLLOUT_ROLLED_BACK);
}

static void
after_halt(struct etx_rollout *r)
{
    size_t i;
    bool any = false;

    for (i = 0; i < r->n; i++)
        any = any || etx_hostrun_reached_swapped(r->hosts[i]);
    if (!any ||
        (r->o->inv->on_failure != ETX_ON_FAILURE_ROLLBACK && !r->aborted)) {
        end(r, ETX_ROLLOUT_HALTED);
        return;
    }
    r->phase = PH_ROLLBACK;
    record(r, json_pack("{ss ss}", "kind", "rollout", "event", "rollback"));
    r->rb_batch = (long)r->batch;
    rb_next(r);
}

static void
host_done(struct etx_hostrun *h, void *arg)
{
    struct etx_rollout *r = arg;
    char reason[700];

    if (r->phase == PH_ROLLBACK) {
        if (!r->starting && !batch_busy(r, (size_t)r->rb_batch)) {
            r->rb_batch--;
            rb_next(r);
        }
        return;
    }
    if (etx_hostrun_state(h) == ETX_HOST_FAILED) {
        r->failures++;
        if (r->failures > r->o->bp->max_failures) {
            snprintf(reason, sizeof(reason),
                     "host %s failed (%u failed, %u tolerated): %s",
                     etx_hostrun_name(h), r->failures, r->o->bp->max_failures,
                     etx_hostrun_last_error(h));
            etx_rollout__halt(r, reason);
        }
    }
    check_batch(r); /* a no-op unless the batch is still being driven */
}

static void
start_batch(struct etx_rollout *r, size_t k)
{
    const struct etx_batch *b = cur_batch(r, k);
    size_t i;

    r->batch = k;
    r->phase = PH_BATCH;
    record(r, json_pack("{ss ss si}", "kind", "batch", "event", "start",
                        "batch", (int)k + 1));
    etx_eventlog_emit(
        r->o->log, NULL, "batch",
        json_pack("{ss si}", "phase", "start", "batch", (int)k + 1),
        "batch %zu of %zu: %zu host(s)", k + 1, r->o->bp->n_batches, b->count);
    r->starting = true;
    for (i = b->first; i < b->first + b->count; i++)
        etx_hostrun_start(r->hosts[i]);
    r->starting = false;
    check_batch(r);
}

void
etx_rollout__timer_fired(struct etx_rollout *r)
{
    switch (r->phase) {
    case PH_BAKE:
        r->bake_over = true;
        check_batch(r); /* or when the last check in flight ends */
        break;
    case PH_PAUSE:
        start_batch(r, r->batch + 1);
        break;
    case PH_GATE:
        etx_rollout__gate_poll(r);
        break;
    default:
        break;
    }
}

void
etx_rollout__gate_answer(struct etx_rollout *r, bool go_on)
{
    uv_timer_stop(&r->timer);
    record(r,
           json_pack("{ss ss si}", "kind", "gate", "event",
                     go_on ? "continue" : "abort", "batch", (int)r->batch + 1));
    if (go_on) {
        etx_eventlog_emit(r->o->log, NULL, "gate", NULL, "gate passed");
        next_batch(r);
        return;
    }
    r->aborted = true;
    r->phase = PH_BATCH;
    etx_rollout__halt(r, "aborted at the gate");
}

static int
make_hosts(struct etx_rollout *r, struct etx_error *err)
{
    const struct etx_batch_plan *bp = r->o->bp;
    size_t k, i, idx;

    r->n = bp->n_order;
    r->hosts = calloc(r->n ? r->n : 1, sizeof(*r->hosts));
    if (r->hosts == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "rollout", NULL,
                             "cannot start the rollout");
    for (k = 0; k < bp->n_batches; k++)
        for (i = bp->batches[k].first;
             i < bp->batches[k].first + bp->batches[k].count; i++) {
            idx = bp->order[i];
            r->hosts[i] = etx_hostrun_new(&r->env, idx, (unsigned)k + 1,
                                          &r->o->psks[idx], host_done, r);
            if (r->hosts[i] == NULL)
                return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "rollout", NULL,
                                     "cannot start the rollout");
        }
    return ETX_OK;
}

static json_t *
start_record(const struct etx_rollout *r)
{
    json_t *names = json_array();
    size_t i;

    for (i = 0; names != NULL && i < r->n; i++)
        json_array_append_new(names,
                              json_string(etx_hostrun_name(r->hosts[i])));
    return json_pack("{ss ss ss ss si so ss ss*}", "kind", "rollout", "event",
                     "start", "fleet", r->o->inv->fleet, "plan_id",
                     r->o->plan_id, "batches", (int)r->o->bp->n_batches,
                     "hosts", names, "sha256", r->o->sha256, "inventory",
                     r->o->inventory_path);
}

/* Resume: the journal's hosts that reached swapped; then go on or back. */
static void
resume_go(struct etx_rollout *r)
{
    const struct etx_rollout_resume *rs = r->o->resume;
    size_t i;

    for (i = 0; i < r->n; i++) {
        if (rs->swapped[i])
            etx_hostrun_mark_swapped(r->hosts[i]);
        if (rs->healthy != NULL && rs->healthy[i])
            etx_hostrun_mark_healthy(r->hosts[i]);
    }
    if (!rs->rollback) {
        start_batch(r, 0);
        return;
    }
    r->batch = rs->batch > 0 ? rs->batch - 1 : 0;
    r->halted = true;
    if (rs->halt != NULL) {
        record(r, json_pack("{ss ss ss}", "kind", "rollout", "event", "halt",
                            "reason", rs->halt));
        etx_eventlog_emit(r->o->log, NULL, "halt",
                          json_pack("{ss}", "reason", rs->halt), "halting: %s",
                          rs->halt);
    }
    r->phase = PH_ROLLBACK;
    record(r, json_pack("{ss ss}", "kind", "rollout", "event", "rollback"));
    r->rb_batch = (long)r->batch;
    rb_next(r);
}

int
etx_rollout_run(const struct etx_rollout_opts *o, FILE *summary,
                enum etx_rollout_result *result, struct etx_error *err)
{
    struct etx_rollout *r = calloc(1, sizeof(*r));
    json_t *rec = NULL;
    int rc = ETX_ERR;

    if (r == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "rollout", NULL,
                             "cannot start the rollout");
    r->o = o;
    r->env = (struct etx_hostrun_env){.loop = o->loop,
                                      .inv = o->inv,
                                      .journal = o->journal,
                                      .log = o->log,
                                      .sha256 = o->sha256,
                                      .size = o->size,
                                      .rnd = rand64,
                                      .resume = o->resume != NULL};
    if (make_hosts(r, err) != ETX_OK)
        goto out;
    rec = o->resume != NULL
              ? json_pack("{ss ss}", "kind", "rollout", "event", "resume")
              : start_record(r);
    rc = rec == NULL ? etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", NULL,
                                     "cannot build the start record")
                     : etx_journal_append(o->journal, rec, true, err);
    json_decref(rec);
    if (rc != ETX_OK)
        goto out;
    r->summary = summary;
    etx_rollout__handles_start(r);
    if (o->bp->n_batches == 0)
        end(r, ETX_ROLLOUT_DONE);
    else if (o->resume != NULL)
        resume_go(r);
    else
        start_batch(r, 0);
    uv_run(o->loop, UV_RUN_DEFAULT);
    *result = r->result;
out:
    etx_rollout__free(r);
    return rc;
}
