/* SPDX-License-Identifier: MIT */
/*
 * The rollout's handles on the loop (coordinator/rollout_internal.h):
 * the phase timer, the gate's control file, SIGINT/SIGTERM, the progress
 * line, and the summary table. The control file is a few bytes read on
 * the loop every ETX_ROLLOUT_GATE_POLL_MS while a gate waits.
 */
#include "coordinator/rollout_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator/eventlog.h"

#define TICK_MS 250

void
etx_rollout__timer_cb(uv_timer_t *t)
{
    etx_rollout__timer_fired(t->data);
}

void
etx_rollout__gate_poll(struct etx_rollout *r)
{
    char buf[32] = {0};
    ssize_t n = 0;
    int fd = open(r->o->control_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return; /* nobody answered yet */
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    if (strncmp(buf, "continue", 8) == 0 || strncmp(buf, "abort", 5) == 0) {
        unlink(r->o->control_path);
        etx_rollout__gate_answer(r, buf[0] == 'c');
    }
}

static void
signal_cb(uv_signal_t *s, int signum)
{
    struct etx_rollout *r = s->data;

    etx_rollout__halt(r, signum == SIGINT ? "interrupted (SIGINT)"
                                          : "terminated (SIGTERM)");
}

/* A write to an agent that died: the write fails with EPIPE instead. */
static void
sigpipe_cb(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
}

static void
tick_cb(uv_timer_t *t)
{
    struct etx_rollout *r = t->data;
    unsigned count[ETX_HOST_STATE_COUNT] = {0}, retrying = 0;
    char line[512];
    size_t i, off;
    int s;

    for (i = 0; i < r->n; i++) {
        count[etx_hostrun_state(r->hosts[i])]++;
        retrying += etx_hostrun_is_retrying(r->hosts[i]);
    }
    off = (size_t)snprintf(
        line, sizeof(line), "[batch %zu/%zu %3llus]", r->batch + 1,
        r->o->bp->n_batches,
        (unsigned long long)(uv_now(t->loop) - r->started_ms) / 1000);
    for (s = 0; s < ETX_HOST_STATE_COUNT && off < sizeof(line); s++)
        if (count[s] > 0)
            off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %u",
                                    etx_hoststate_name(s), count[s]);
    if (retrying > 0 && off < sizeof(line))
        snprintf(line + off, sizeof(line) - off, " (retrying %u)", retrying);
    etx_eventlog_progress(r->o->log, line);
}

void
etx_rollout__handles_start(struct etx_rollout *r)
{
    uv_loop_t *loop = r->o->loop;

    r->started_ms = uv_now(loop);
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->tick);
    uv_signal_init(loop, &r->sigint);
    uv_signal_init(loop, &r->sigterm);
    r->timer.data = r->tick.data = r;
    r->sigint.data = r->sigterm.data = r;
    uv_signal_start(&r->sigint, signal_cb, SIGINT);
    uv_signal_start(&r->sigterm, signal_cb, SIGTERM);
    uv_signal_init(loop, &r->sigpipe);
    uv_signal_start(&r->sigpipe, sigpipe_cb, SIGPIPE);
    if (etx_eventlog_is_tty(r->o->log))
        uv_timer_start(&r->tick, tick_cb, TICK_MS, TICK_MS);
}

void
etx_rollout__stop(struct etx_rollout *r)
{
    size_t i;

    uv_close((uv_handle_t *)&r->timer, NULL);
    uv_close((uv_handle_t *)&r->tick, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigpipe, NULL);
    for (i = 0; i < r->n; i++) {
        etx_hostrun_close(r->hosts[i]);
        r->hosts[i] = NULL;
    }
}

void
etx_rollout__free(struct etx_rollout *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; r->hosts != NULL && i < r->n; i++)
        etx_hostrun_close(r->hosts[i]);
    if (r->hosts != NULL && r->phase != PH_END)
        uv_run(r->o->loop, UV_RUN_DEFAULT); /* let them free themselves */
    free(r->hosts);
    free(r);
}

void
etx_rollout__summary(const struct etx_rollout *r, FILE *out)
{
    const struct etx_hostrun *h;
    size_t i;

    if (out == NULL)
        return;
    fprintf(out, "\n%-16s %5s  %-16s %8s  %s\n", "HOST", "BATCH", "STATE",
            "ATTEMPTS", "LAST ERROR");
    for (i = 0; i < r->n; i++) {
        h = r->hosts[i];
        fprintf(out, "%-16s %5u  %-16s %8u  %s\n", etx_hostrun_name(h),
                etx_hostrun_batch(h), etx_hoststate_name(etx_hostrun_state(h)),
                etx_hostrun_attempts(h),
                etx_hostrun_last_error(h)[0] ? etx_hostrun_last_error(h) : "-");
    }
    fflush(out);
}
