/* SPDX-License-Identifier: MIT */
/*
 * One host's state machine (coordinator/hostrun.h): the steps in order,
 * the journal's intent and outcome records around each step that changes
 * the host, retries of transient errors on a uv timer, the checks of the
 * bake on the same timer, the connection.
 */
#include "coordinator/hostrun_internal.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "coordinator/eventlog.h"
#include "coordinator/journal.h"

static int probe_record(struct etx_hostrun *h, const char *sha,
                        struct etx_error *err);
static void timer_cb(uv_timer_t *t);

/* The only assignment of h->state (STYLE R7). */
static void
hostrun_set_state(struct etx_hostrun *h, enum etx_host_state to)
{
    /* a probe on resume sets what it found, unchecked like its record */
    assert(h->step == HR_STEP_PROBE || etx_hoststate_can(h->state, to));
    h->state = to;
    if (to == ETX_HOST_SWAPPED)
        h->reached_swapped = true;
}

/*
 * Move towards 'to': forward states walk the happy path one legal move at
 * a time (a host without a restart step still passes restarting); a state
 * the table does not allow from here (re-staging a verified host after a
 * lost connection) leaves the host where it is.
 */
static void
advance(struct etx_hostrun *h, enum etx_host_state to)
{
    if (to <= ETX_HOST_HEALTHY && h->state <= ETX_HOST_HEALTHY) {
        while (h->state < to && etx_hoststate_can(h->state, h->state + 1))
            hostrun_set_state(h, h->state + 1);
        return;
    }
    if (h->state != to && etx_hoststate_can(h->state, to))
        hostrun_set_state(h, to);
}

static bool
is_rollback_step(enum hostrun_step s)
{
    return s >= HR_STEP_ROLLBACK && s <= HR_STEP_RB_CHECK;
}

/* The state a host is in while it does 'step'. */
static enum etx_host_state
doing_state(const struct etx_hostrun *h)
{
    if (h->baking)
        return h->state; /* healthy while its bake checks it */
    switch (h->step) {
    case HR_STEP_STAGE:
        return ETX_HOST_STAGING;
    case HR_STEP_RESTART:
        return ETX_HOST_RESTARTING;
    case HR_STEP_CHECK:
        return ETX_HOST_CHECKING;
    case HR_STEP_ROLLBACK:
    case HR_STEP_RB_RESTART:
    case HR_STEP_RB_CHECK:
        return ETX_HOST_ROLLING_BACK;
    default:
        return h->state;
    }
}

/* The state a host is in once 'step' succeeded. */
static enum etx_host_state
done_state(const struct etx_hostrun *h)
{
    switch (h->step) {
    case HR_STEP_STAGE:
        return ETX_HOST_STAGED;
    case HR_STEP_VERIFY:
        return ETX_HOST_VERIFIED;
    case HR_STEP_SWAP:
        return ETX_HOST_SWAPPED;
    case HR_STEP_CHECK:
        return ETX_HOST_HEALTHY;
    case HR_STEP_RB_CHECK:
        return ETX_HOST_ROLLED_BACK;
    default:
        return doing_state(h);
    }
}

/* Resume, after the probe and the clean-up: where to go on from. */
static enum hostrun_step
resume_step(const struct etx_hostrun *h)
{
    if (!h->rb_resume && h->found_new)
        return h->state == ETX_HOST_HEALTHY ? HR_STEP_END : HR_STEP_RESTART;
    if (!h->rb_resume)
        return HR_STEP_STAGE;
    if (h->found_new)
        return HR_STEP_ROLLBACK;
    return h->state == ETX_HOST_ROLLING_BACK ? HR_STEP_RB_RESTART : HR_STEP_END;
}

static enum hostrun_step
next_step(const struct etx_hostrun *h)
{
    const struct etx_inventory *inv = h->env->inv;
    enum hostrun_step s = h->step + 1;

    if (s == HR_STEP_CLEANUP && !h->env->resume)
        s++;
    if (h->step == HR_STEP_CLEANUP)
        s = resume_step(h);
    if ((s == HR_STEP_RESTART || s == HR_STEP_RB_RESTART) &&
        inv->restart.kind == ETX_RESTART_NONE)
        s++;
    if ((s == HR_STEP_CHECK || s == HR_STEP_RB_CHECK) && !inv->health.enabled)
        s++;
    if (s == HR_STEP_ROLLBACK && h->step != HR_STEP_CLEANUP)
        s = HR_STEP_END; /* forward ends at check */
    return s;
}

/* The step as the journal names it: a check of the bake is "bake". */
static const char *
step_name(const struct etx_hostrun *h)
{
    return h->baking ? "bake" : etx_hostrun__step_name(h->step);
}

/*
 * Journal one record of 'kind' ("intent" or "outcome") for the current
 * step, and the same as an event. 'e' (may be NULL) is the step's error,
 * 'holders' (stolen, may be NULL) the processes it names.
 */
static int
note(struct etx_hostrun *h, const char *kind, const struct etx_error *e,
     json_t *holders, struct etx_error *err)
{
    const char *step = step_name(h);
    const char *state = etx_hoststate_name(h->state);
    json_t *rec =
        json_pack("{ss ss ss ss si si}", "kind", kind, "host", h->host->name,
                  "step", step, "state", state, "batch", (int)h->batch,
                  "attempt", (int)h->failed_tries + 1);
    json_t *ej = NULL;
    int rc;

    if (rec != NULL && e != NULL) {
        ej = etx_journal_error_json(e, h->failed_tries + 1, h->waited_ms,
                                    holders);
        holders = NULL;
        json_object_set(rec, "error", ej);
    }
    json_decref(holders);
    if (rec == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", NULL,
                             "cannot build a journal record");
    rc = etx_journal_append(h->env->journal, rec, true, err);
    json_object_del(rec, "kind");
    if (strcmp(kind, "intent") == 0)
        etx_eventlog_record(h->env->log, h->host->name, kind, rec, step);
    else
        etx_eventlog_emit(h->env->log, h->host->name, kind, rec,
                          "%s: %s%s%.400s", step, state, e != NULL ? ": " : "",
                          e != NULL ? e->msg : "");
    json_decref(ej);
    return rc;
}

static void
finish(struct etx_hostrun *h)
{
    etx_hostrun__push_end(h);
    h->wait = HR_WAIT_NONE;
    h->running = false;
    h->halting = false;
    h->baking = false;
    h->done(h, h->done_arg);
}

static void
remember_error(struct etx_hostrun *h, const struct etx_error *e)
{
    char line[sizeof(h->last_error)];

    etx_error_format(e, line, sizeof(line));
    if (h->baking)
        snprintf(h->last_error, sizeof(h->last_error),
                 "during the bake, after %u passing check(s): %.500s",
                 h->bake_checks, line);
    else
        snprintf(h->last_error, sizeof(h->last_error), "%s", line);
}

/* The step failed for good: the host fails (or its rollback does). */
static void
fail_host(struct etx_hostrun *h, const struct etx_error *e, json_t *holders)
{
    struct etx_error jerr = {0};

    remember_error(h, e);
    if (h->rb_resume && h->step == HR_STEP_PROBE) {
        /* not seen: counted as a host whose rollback did not finish */
        hostrun_set_state(h, ETX_HOST_ROLLING_BACK);
        probe_record(h, "", &jerr);
    }
    if (is_rollback_step(h->step) || h->rb_resume) {
        advance(h, ETX_HOST_ROLLING_BACK);
        advance(h, ETX_HOST_ROLLBACK_FAILED);
    } else {
        advance(h, ETX_HOST_FAILED);
    }
    if (note(h, "outcome", e, holders, &jerr) != ETX_OK)
        etx_eventlog_emit(h->env->log, h->host->name, "journal", NULL,
                          "cannot journal: %s", jerr.msg);
    finish(h);
}

/*
 * Worth another try: a transient error, or one the agent already retried
 * with its own short budget and reported as a conflict (ETXTBSY on a
 * restart): the inventory's retry policy is the rollout's budget.
 */
static bool
retryable(const struct etx_error *e)
{
    return etx_error_is_retryable(e) ||
           (e->cls == ETX_CLASS_CONFLICT && e->sys_errno != 0 &&
            etx_error_classify(e->sys_errno, ETX_CTX_EXEC) ==
                ETX_CLASS_TRANSIENT);
}

/* A failed try: wait and try again, or fail the host. */
/* What a transient error that outlived its attempts says about the host. */
static const char *
why_still(const struct etx_error *e)
{
    switch (e->sys_errno) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case ENOTCONN:
    case EPIPE:
        return "the host's agent stayed unreachable";
    default:
        return "something keeps colliding with the update";
    }
}

void
etx_hostrun__step_failed(struct etx_hostrun *h, const struct etx_error *e,
                         json_t *holders)
{
    const struct etx_backoff_policy *pol = &h->env->inv->retry;
    unsigned failed = h->failed_tries + 1; /* tries of this step so far */
    struct etx_error last = *e, jerr = {0};
    uint64_t delay;

    h->tries++;
    if (!retryable(e)) {
        fail_host(h, e, holders);
        return;
    }
    if (h->halting || !etx_backoff_may_retry(pol, failed)) {
        if (h->halting) { /* halted in flight: stop where it is */
            remember_error(h, e);
            note(h, "outcome", e, holders, &jerr);
            finish(h);
            return;
        }
        last.cls = ETX_CLASS_CONFLICT;
        snprintf(last.msg, sizeof(last.msg),
                 "%.380s (still failing after %u attempts: %s)", e->msg,
                 failed, why_still(e));
        fail_host(h, &last, holders);
        return;
    }
    delay = etx_backoff_delay_ms(pol, failed, h->env->rnd, h->env->rnd_arg);
    remember_error(h, e);
    note(h, "outcome", e, holders, &jerr);
    h->failed_tries = failed;
    etx_eventlog_emit(h->env->log, h->host->name, "retry",
                      json_pack("{ss si sI sI}", "step", step_name(h),
                                "attempt", (int)failed + 1, "delay_ms",
                                (json_int_t)delay, "waited_ms",
                                (json_int_t)(h->waited_ms + delay)),
                      "retrying %s in %" PRIu64 " ms (attempt %u of %u)",
                      step_name(h), delay, failed + 1, pol->attempts);
    h->waited_ms += delay;
    if (h->step == HR_STEP_VERIFY || h->step == HR_STEP_SWAP)
        h->step = HR_STEP_STAGE; /* a new session has nothing staged */
    h->wait = HR_WAIT_BACKOFF;
    uv_timer_start(&h->timer, timer_cb, delay, 0);
}

/* The "probe" record of a resume: the state found, the target's digest. */
static int
probe_record(struct etx_hostrun *h, const char *sha, struct etx_error *err)
{
    json_t *rec = NULL;
    int rc;

    rec = json_pack("{ss ss ss ss si}", "kind", "probe", "host", h->host->name,
                    "state", etx_hoststate_name(h->state), "sha256",
                    sha[0] != '\0' ? sha : "missing", "batch", (int)h->batch);
    if (rec == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", NULL,
                             "cannot build a journal record");
    rc = etx_journal_append(h->env->journal, rec, true, err);
    json_decref(rec);
    etx_eventlog_emit(h->env->log, h->host->name, "probe", NULL, "found %s: %s",
                      sha[0] != '\0' ? sha : "no target",
                      etx_hoststate_name(h->state));
    return rc;
}

/*
 * Resume: what the probe found becomes the host's state, and a "probe"
 * record says so. The new artifact's digest on the target means swapped;
 * otherwise a host the journal saw swapped and now on the old file is
 * half-way through its rollback; any other host starts again from pending.
 */
static int
resume_found(struct etx_hostrun *h, const Etxroll__Result *res,
             struct etx_error *err)
{
    const char *sha =
        res->before != NULL && res->before->exists ? res->before->sha256 : "";

    h->found_new = strcmp(sha, h->env->sha256) == 0;
    if (h->found_new && h->known_healthy && !h->rb_resume)
        hostrun_set_state(h, ETX_HOST_HEALTHY); /* done: not again */
    else if (h->found_new)
        hostrun_set_state(h, ETX_HOST_SWAPPED);
    else if (h->rb_resume && h->reached_swapped)
        hostrun_set_state(h, ETX_HOST_ROLLING_BACK);
    else
        hostrun_set_state(h, ETX_HOST_PENDING);
    return probe_record(h, sha, err);
}

/* Wait for the next check: a period, but the last starts at the end. */
static void
bake_wait(struct etx_hostrun *h)
{
    uint64_t now = uv_now(h->env->loop);
    uint64_t left = h->bake_until > now ? h->bake_until - now : 0;

    h->wait = HR_WAIT_BAKE;
    uv_timer_start(&h->timer, timer_cb,
                   left < h->bake_period ? left : h->bake_period, 0);
}

/* A check of the bake passed: wait for the next, or the bake is over. */
static void
bake_passed(struct etx_hostrun *h)
{
    h->bake_checks++;
    if (!h->halting && uv_now(h->env->loop) < h->bake_until) {
        bake_wait(h);
        return;
    }
    if (!h->halting)
        etx_eventlog_emit(h->env->log, h->host->name, "bake",
                          json_pack("{si si}", "batch", (int)h->batch, "checks",
                                    (int)h->bake_checks),
                          "bake: healthy through %u check(s)", h->bake_checks);
    finish(h);
}

static void
step_ok(struct etx_hostrun *h, const Etxroll__Result *res)
{
    struct etx_error jerr = {0};

    h->tries++;
    if (h->step != HR_STEP_PROBE) {
        advance(h, done_state(h));
        if (note(h, "outcome", NULL, NULL, &jerr) != ETX_OK) {
            fail_host(h, &jerr, NULL);
            return;
        }
    } else if (h->env->resume) {
        if (resume_found(h, res, &jerr) != ETX_OK) {
            fail_host(h, &jerr, NULL);
            return;
        }
    } else if (res->before != NULL) {
        etx_eventlog_emit(
            h->env->log, h->host->name, "probe", NULL, "target now: %s",
            res->before->exists ? res->before->sha256 : "missing");
    }
    h->failed_tries = 0;
    h->waited_ms = 0;
    h->wait = HR_WAIT_NONE;
    if (h->baking) {
        bake_passed(h);
        return;
    }
    h->step = next_step(h);
    etx_hostrun__run_step(h);
}

void
etx_hostrun__result(struct etx_hostrun *h, const Etxroll__Result *res,
                    const struct etx_error *lost)
{
    struct etx_error e = {0};
    json_t *holders = NULL;

    if (h->closing || h->wait != HR_WAIT_RESULT)
        return;
    h->wait = HR_WAIT_NONE;
    if (res == NULL) {
        etx_hostrun__step_failed(h, lost, NULL);
        return;
    }
    if (res->ok) {
        step_ok(h, res);
        return;
    }
    etx_hostrun__error_from_pb(res->error, h->host->name, &e, &holders);
    etx_hostrun__step_failed(h, &e, holders);
}

void
etx_hostrun__run_step(struct etx_hostrun *h)
{
    struct etx_error err = {0};

    if (h->step == HR_STEP_END || h->halting) {
        finish(h);
        return;
    }
    if (!h->peer_ready) {
        etx_hostrun__connect(h);
        return;
    }
    if (h->step != HR_STEP_PROBE) {
        advance(h, doing_state(h));
        if (note(h, "intent", NULL, NULL, &err) != ETX_OK) {
            fail_host(h, &err, NULL);
            return;
        }
    }
    if (etx_hostrun__send(h, &err) != ETX_OK)
        etx_hostrun__step_failed(h, &err, NULL);
}

static void
timer_cb(uv_timer_t *t)
{
    struct etx_hostrun *h = t->data;

    if (h->wait != HR_WAIT_BACKOFF && h->wait != HR_WAIT_BAKE)
        return;
    h->wait = HR_WAIT_NONE;
    etx_hostrun__run_step(h);
}

static void
begin(struct etx_hostrun *h, enum hostrun_step first)
{
    h->running = true;
    h->halting = false;
    h->baking = false;
    h->step = first;
    h->failed_tries = 0;
    h->waited_ms = 0;
    etx_hostrun__run_step(h);
}

void
etx_hostrun_start(struct etx_hostrun *h)
{
    h->rb_resume = false;
    begin(h, HR_STEP_PROBE);
}

void
etx_hostrun_rollback(struct etx_hostrun *h)
{
    h->rb_resume = h->env->resume;
    begin(h, h->rb_resume ? HR_STEP_PROBE : HR_STEP_ROLLBACK);
}

void
etx_hostrun_mark_swapped(struct etx_hostrun *h)
{
    h->reached_swapped = true;
}

void
etx_hostrun_mark_healthy(struct etx_hostrun *h)
{
    h->known_healthy = true;
}

uint64_t
etx_hostrun_bake_period_ms(const struct etx_inventory *inv, uint64_t bake_ms)
{
    uint64_t interval = inv->health.interval_ms;

    return interval > bake_ms / 5 ? interval : bake_ms / 5;
}

bool
etx_hostrun_bake(struct etx_hostrun *h, uint64_t bake_ms)
{
    if (h->running || h->state != ETX_HOST_HEALTHY ||
        !h->env->inv->health.enabled || bake_ms == 0)
        return false;
    h->running = true;
    h->halting = false;
    h->baking = true;
    h->step = HR_STEP_CHECK; /* the health step's request */
    h->failed_tries = 0;
    h->waited_ms = 0;
    h->bake_checks = 0;
    h->bake_period = etx_hostrun_bake_period_ms(h->env->inv, bake_ms);
    h->bake_until = uv_now(h->env->loop) + bake_ms;
    bake_wait(h);
    return true;
}

void
etx_hostrun_halt(struct etx_hostrun *h)
{
    if (!h->running || h->rb_resume || is_rollback_step(h->step))
        return;
    h->halting = true;
    if (h->wait == HR_WAIT_BACKOFF || h->wait == HR_WAIT_BAKE) {
        uv_timer_stop(&h->timer);
        finish(h);
    }
}

enum etx_host_state
etx_hostrun_state(const struct etx_hostrun *h)
{
    return h->state;
}

bool
etx_hostrun_reached_swapped(const struct etx_hostrun *h)
{
    return h->reached_swapped;
}

bool
etx_hostrun_is_running(const struct etx_hostrun *h)
{
    return h->running;
}

bool
etx_hostrun_is_retrying(const struct etx_hostrun *h)
{
    return h->wait == HR_WAIT_BACKOFF;
}

unsigned
etx_hostrun_batch(const struct etx_hostrun *h)
{
    return h->batch;
}

unsigned
etx_hostrun_attempts(const struct etx_hostrun *h)
{
    return h->tries;
}

const char *
etx_hostrun_name(const struct etx_hostrun *h)
{
    return h->host->name;
}

const char *
etx_hostrun_last_error(const struct etx_hostrun *h)
{
    return h->last_error;
}
