/* SPDX-License-Identifier: MIT */
/*
 * Restart and confirm: a small state machine (check -> run -> confirm, with
 * backoff waits) driven by the libuv loop; /proc scans go to the thread
 * pool, the restart command to agent/spawn.c.
 */
#define _GNU_SOURCE
#include "agent/restart.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define NEXT(s)      (1u << (s))
#define UNIT_MAX     255
#define OUTPUT_SHOWN 200 /* bytes of the command's output in a message */

enum rs_state {
    RS_INIT = 0, /* created, nothing started */
    RS_CHECK,    /* exec check on the thread pool */
    RS_BACKOFF,  /* waiting before the next check */
    RS_RUN,      /* the restart command runs */
    RS_CONFIRM,  /* scan for the new inode on the thread pool */
    RS_POLL,     /* waiting before the next scan */
    RS_DONE,     /* result decided; closing */
    RS_COUNT
};

static const uint32_t rs_next[RS_COUNT] = {
    [RS_INIT] = NEXT(RS_CHECK),
    [RS_CHECK] = NEXT(RS_BACKOFF) | NEXT(RS_RUN) | NEXT(RS_DONE),
    [RS_BACKOFF] = NEXT(RS_CHECK) | NEXT(RS_DONE),
    [RS_RUN] = NEXT(RS_BACKOFF) | NEXT(RS_CONFIRM) | NEXT(RS_DONE),
    [RS_CONFIRM] = NEXT(RS_POLL) | NEXT(RS_DONE),
    [RS_POLL] = NEXT(RS_CONFIRM) | NEXT(RS_DONE),
    [RS_DONE] = 0,
};

struct etx_restart {
    uv_loop_t *loop;
    enum rs_state state;
    char **argv; /* the command, or systemctl restart UNIT */
    bool is_command;
    char *target;
    struct etx_file_id ids[2]; /* new, old */
    size_t n_ids;
    uint64_t timeout_ms, confirm_ms, poll_ms, confirm_until;
    struct etx_backoff_policy retry;
    etx_restart_retry_cb on_retry;
    void *retry_arg;
    etx_restart_done_cb cb;
    void *arg;
    uv_timer_t timer;      /* backoff and poll waits */
    uv_work_t work;        /* the scan in flight */
    int wrc;               /* the scan's status ... */
    struct etx_error werr; /* ... and error, written on the pool */
    struct etx_spawn *sp;
    bool stopping;
    struct etx_restart_result res;
};

static void
set_state(struct etx_restart *r, enum rs_state to)
{
    assert(to < RS_COUNT && (rs_next[r->state] & NEXT(to)));
    r->state = to;
}

static void
restart_free(struct etx_restart *r)
{
    etx_spawn_argv_free(r->argv);
    free(r->target);
    etx_holders_free(&r->res.writers);
    etx_holders_free(&r->res.running_new);
    etx_holders_free(&r->res.running_old);
    free(r);
}

static void
closed_cb(uv_handle_t *h)
{
    struct etx_restart *r = h->data;

    r->cb(&r->res, r->arg);
    restart_free(r);
}

/* The result is decided; it goes out once the timer is closed. */
static void
end(struct etx_restart *r, int status)
{
    set_state(r, RS_DONE);
    r->res.status = status;
    uv_close((uv_handle_t *)&r->timer, closed_cb);
}

static void
fail(struct etx_restart *r, const struct etx_error *e)
{
    r->res.err = *e;
    end(r, ETX_ERR);
}

static void
end_stopped(struct etx_restart *r)
{
    etx_error_set(&r->res.err, ETX_CLASS_AMBIGUOUS, ECANCELED, "restart",
                  r->target, "restart stopped before it finished");
    end(r, ETX_ERR);
}

static uint64_t
rnd(void *arg)
{
    uint64_t v = 0;

    (void)arg;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = uv_hrtime();
    return v;
}

static void check_start(struct etx_restart *r);

static void
backoff_cb(uv_timer_t *t)
{
    check_start(t->data);
}

/*
 * A transient ETXTBSY: wait and check again while the budget allows; past
 * it, a design conflict that names what kept colliding (MUST 11). A budget
 * of one try leaves the retrying to the caller: the error stays transient.
 */
static void
retry_or_conflict(struct etx_restart *r, const struct etx_error *e)
{
    uint64_t delay = 0;

    if (r->retry.attempts <= 1) {
        fail(r, e);
        return;
    }
    if (!etx_backoff_may_retry(&r->retry, r->res.attempts)) {
        etx_error_set(
            &r->res.err, ETX_CLASS_CONFLICT, e->sys_errno, "restart", e->where,
            "still busy after %u attempts and %" PRIu64 " ms of waiting: %s",
            r->res.attempts, r->res.waited_ms, e->msg);
        end(r, ETX_ERR);
        return;
    }
    delay = etx_backoff_delay_ms(&r->retry, r->res.attempts, rnd, NULL);
    if (r->on_retry != NULL)
        r->on_retry(e, r->res.attempts, delay, r->retry_arg);
    r->res.waited_ms += delay;
    r->res.attempts++;
    set_state(r, RS_BACKOFF);
    uv_timer_start(&r->timer, backoff_cb, delay, 0);
}

/* Thread pool: the target, then the command file, must have no writer. */
static void
check_work(uv_work_t *w)
{
    struct etx_restart *r = w->data;
    struct stat st;
    struct etx_file_id cmd;

    r->wrc = etx_holders_check_exec(&r->ids[0], r->target, &r->res.writers,
                                    &r->werr);
    if (r->wrc != ETX_OK || !r->is_command || stat(r->argv[0], &st) != 0)
        return;
    cmd.dev = st.st_dev;
    cmd.ino = st.st_ino;
    etx_holders_free(&r->res.writers);
    r->wrc =
        etx_holders_check_exec(&cmd, r->argv[0], &r->res.writers, &r->werr);
}

static void run_start(struct etx_restart *r);

static void
check_after(uv_work_t *w, int status)
{
    struct etx_restart *r = w->data;

    if (r->stopping || status != 0) {
        end_stopped(r);
        return;
    }
    if (r->wrc == ETX_OK)
        run_start(r);
    else if (etx_error_is_retryable(&r->werr))
        retry_or_conflict(r, &r->werr);
    else
        fail(r, &r->werr);
}

static void
check_start(struct etx_restart *r)
{
    if (r->stopping) {
        end_stopped(r);
        return;
    }
    set_state(r, RS_CHECK);
    etx_holders_free(&r->res.writers);
    r->work.data = r;
    uv_queue_work(r->loop, &r->work, check_work, check_after);
}

/* The first OUTPUT_SHOWN bytes of the output on one line. */
static void
output_line(const struct etx_spawn_result *run, char *buf, size_t len)
{
    size_t i = 0;

    snprintf(buf, len, "%.*s", OUTPUT_SHOWN, run->output);
    for (i = 0; buf[i] != '\0'; i++)
        if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
            buf[i] = ' ';
}

static void confirm_start(struct etx_restart *r);

static void
run_done(const struct etx_spawn_result *run, void *arg)
{
    struct etx_restart *r = arg;
    char how[128];
    char out[OUTPUT_SHOWN + 1];

    r->sp = NULL;
    r->res.ran = true;
    r->res.run = *run;
    if (r->stopping) {
        end_stopped(r);
        return;
    }
    if (etx_spawn_is_success(run)) {
        uv_update_time(r->loop);
        r->confirm_until = uv_now(r->loop) + r->confirm_ms;
        confirm_start(r);
        return;
    }
    etx_spawn_describe(run, r->timeout_ms, how, sizeof(how));
    output_line(run, out, sizeof(out));
    etx_error_set(&r->res.err, ETX_CLASS_INTEGRITY,
                  run->timed_out ? ETIMEDOUT : 0, "restart", r->target,
                  "service did not start: %s%s: %s%s%s", r->argv[0],
                  r->is_command ? "" : " restart", how,
                  out[0] != '\0' ? "; output: " : "", out);
    end(r, ETX_ERR);
}

static void
run_start(struct etx_restart *r)
{
    struct etx_spawn_opts o = {0};
    struct etx_error e = {0};

    set_state(r, RS_RUN);
    o.argv = (const char *const *)r->argv;
    o.timeout_ms = r->timeout_ms;
    if (etx_spawn_start(r->loop, &o, run_done, r, &r->sp, &e) == ETX_OK)
        return;
    if (etx_error_is_retryable(&e))
        retry_or_conflict(r, &e);
    else
        fail(r, &e);
}

/* The EXEC holders of ids[idx] from a scan of all relations. */
static int
pick_exec(const struct etx_holders *all, size_t idx, struct etx_holders *out)
{
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    out->n_unknown = all->n_unknown;
    out->first_unknown = all->first_unknown;
    out->v = calloc(all->n != 0 ? all->n : 1, sizeof(*out->v));
    if (out->v == NULL)
        return ETX_ERR;
    for (i = 0; i < all->n; i++)
        if (all->v[i].rel == ETX_HOLD_EXEC && all->v[i].id_index == idx)
            out->v[out->n++] = all->v[i];
    return ETX_OK;
}

/* Thread pool: who executes the new and the old inode now. */
static void
confirm_work(uv_work_t *w)
{
    struct etx_restart *r = w->data;
    struct etx_holders all;

    r->wrc =
        etx_holders_scan(r->ids, r->n_ids, ETX_HOLDERS_ALL, &all, &r->werr);
    if (r->wrc != ETX_OK)
        return;
    if (pick_exec(&all, 0, &r->res.running_new) != ETX_OK ||
        pick_exec(&all, 1, &r->res.running_old) != ETX_OK)
        r->wrc = etx_error_sys(&r->werr, ENOMEM, ETX_CTX_FILE, "restart",
                               r->target, "out of memory");
    etx_holders_free(&all);
}

static void
poll_cb(uv_timer_t *t)
{
    confirm_start(t->data);
}

/* No process runs the new inode in time: old binary, or not started. */
static void
confirm_failed(struct etx_restart *r)
{
    char list[300];

    if (r->res.running_old.n > 0) {
        etx_holders_format(&r->res.running_old, list, sizeof(list));
        etx_error_set(&r->res.err, ETX_CLASS_INTEGRITY, 0, "restart", r->target,
                      "running the old binary: %s still executes the "
                      "previous inode and no process executes the "
                      "published one after %" PRIu64 " ms",
                      list, r->confirm_ms);
    } else {
        etx_holders_format(&r->res.running_new, list, sizeof(list));
        etx_error_set(&r->res.err, ETX_CLASS_INTEGRITY, 0, "restart", r->target,
                      "service did not start: no process executes the "
                      "published file %" PRIu64 " ms after the restart%s%s",
                      r->confirm_ms, list[0] != '\0' ? "; " : "", list);
    }
    end(r, ETX_ERR);
}

static void
confirm_after(uv_work_t *w, int status)
{
    struct etx_restart *r = w->data;

    if (r->stopping || status != 0) {
        end_stopped(r);
        return;
    }
    if (r->wrc != ETX_OK) {
        fail(r, &r->werr);
        return;
    }
    if (r->res.running_new.n > 0) {
        end(r, ETX_OK);
        return;
    }
    uv_update_time(r->loop);
    if (uv_now(r->loop) >= r->confirm_until) {
        confirm_failed(r);
        return;
    }
    set_state(r, RS_POLL);
    uv_timer_start(&r->timer, poll_cb, r->poll_ms, 0);
}

static void
confirm_start(struct etx_restart *r)
{
    if (r->stopping) {
        end_stopped(r);
        return;
    }
    set_state(r, RS_CONFIRM);
    etx_holders_free(&r->res.running_new);
    etx_holders_free(&r->res.running_old);
    r->work.data = r;
    uv_queue_work(r->loop, &r->work, confirm_work, confirm_after);
}

bool
etx_restart_unit_is_valid(const char *unit)
{
    size_t i = 0;

    if (unit == NULL || unit[0] == '\0' || unit[0] == '-' ||
        strlen(unit) > UNIT_MAX)
        return false;
    for (i = 0; unit[i] != '\0'; i++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789:_.@-\\",
                   unit[i]) == NULL)
            return false;
    return true;
}

static int
check_spec(const struct etx_restart_spec *s, struct etx_error *err)
{
    if (s->target == NULL || s->target[0] != '/')
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "restart", s->target,
                             "a restart needs the absolute path of the "
                             "published target");
    if ((s->unit == NULL) == (s->argv == NULL))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "restart", s->target,
                             "a restart needs either a unit or a command");
    if (s->unit != NULL && !etx_restart_unit_is_valid(s->unit))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "restart", s->unit,
                             "not a systemd unit name (letters, digits, "
                             "\":_.@-\\\", no '/', not starting with '-')");
    if (s->argv != NULL && (s->argv[0] == NULL || s->argv[0][0] != '/'))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "restart", s->argv[0],
                             "a restart command must be an absolute path");
    return ETX_OK;
}

static int
copy_spec(struct etx_restart *r, const struct etx_restart_spec *s)
{
    const char *unit_argv[] = {ETX_RESTART_SYSTEMCTL, "restart", s->unit, NULL};

    r->is_command = s->argv != NULL;
    r->argv = etx_spawn_argv_dup(r->is_command ? s->argv : unit_argv);
    r->target = strdup(s->target);
    if (r->argv == NULL || r->target == NULL)
        return ETX_ERR;
    r->ids[0] = s->new_id;
    r->ids[1] = s->old_id;
    r->n_ids = s->has_old_id ? 2 : 1;
    r->timeout_ms = s->timeout_ms != 0 ? s->timeout_ms : ETX_RESTART_TIMEOUT_MS;
    r->confirm_ms = s->confirm_ms != 0 ? s->confirm_ms : ETX_RESTART_CONFIRM_MS;
    r->poll_ms = s->poll_ms != 0 ? s->poll_ms : ETX_RESTART_POLL_MS;
    if (s->retry != NULL) {
        r->retry = *s->retry;
    } else {
        r->retry.attempts = 5;
        r->retry.first_ms = 50;
        r->retry.multiplier = 2;
        r->retry.cap_ms = 1000;
        r->retry.jitter = ETX_JITTER_FULL;
    }
    r->on_retry = s->on_retry;
    r->retry_arg = s->retry_arg;
    return ETX_OK;
}

int
etx_restart_start(uv_loop_t *loop, const struct etx_restart_spec *spec,
                  etx_restart_done_cb cb, void *arg, struct etx_restart **out,
                  struct etx_error *err)
{
    struct etx_restart *r = NULL;

    if (check_spec(spec, err) != ETX_OK)
        return ETX_ERR;
    r = calloc(1, sizeof(*r));
    if (r == NULL || copy_spec(r, spec) != ETX_OK) {
        if (r != NULL)
            restart_free(r);
        return etx_error_sys(err, ENOMEM, ETX_CTX_EXEC, "restart", spec->target,
                             "out of memory");
    }
    r->loop = loop;
    r->cb = cb;
    r->arg = arg;
    r->res.attempts = 1;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    check_start(r);
    if (out != NULL)
        *out = r;
    return ETX_OK;
}

void
etx_restart_stop(struct etx_restart *r)
{
    if (r == NULL || r->stopping || r->state == RS_DONE)
        return;
    r->stopping = true;
    switch (r->state) {
    case RS_BACKOFF:
    case RS_POLL:
        uv_timer_stop(&r->timer);
        end_stopped(r);
        break;
    case RS_RUN:
        etx_spawn_stop(r->sp);
        break;
    default:
        uv_cancel((uv_req_t *)&r->work);
        break;
    }
}
