/* SPDX-License-Identifier: MIT */
/* Probing the hosts of a plan and finding its hazards (planprobe.h). */
#include "coordinator/planprobe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "coordinator/carrier.h"
#include "coordinator/peer.h"
#include "proto/psk.h"

struct pp_run;

struct pp_host {
    struct pp_run *run;
    const struct etx_inv_host *spec;
    struct etx_peer *peer; /* NULL once closed */
    json_t *ans;           /* borrowed from run->out */
    char machine_id[64];
};

struct pp_run {
    uv_loop_t loop;
    uv_timer_t timer;
    const struct etx_inventory *inv;
    struct pp_host *hosts;
    size_t n;
    size_t next; /* the first host not started yet */
    size_t open;
    uint64_t timeout_ms;
};

static void start_more(struct pp_run *run);

static void
host_fail(struct pp_host *h, const char *msg)
{
    if (json_object_get(h->ans, "ok") != NULL)
        return;
    json_object_set_new(h->ans, "ok", json_false());
    json_object_set_new(h->ans, "error", json_string(msg));
}

static const char *
host_target(const struct pp_host *h)
{
    if (h->spec->target_path != NULL)
        return h->spec->target_path;
    return h->run->inv->target.path;
}

/* Processes that execute the target: how many, and the first pid. */
static void
exec_holders(json_t *o, const Etxroll__Error *e)
{
    size_t i, count = 0;
    int pid = 0;

    for (i = 0; e != NULL && i < e->n_holders; i++) {
        if (strcmp(e->holders[i]->relation, "EXEC") != 0)
            continue;
        if (count++ == 0)
            pid = e->holders[i]->pid;
    }
    json_object_set_new(o, "exec_count", json_integer((json_int_t)count));
    json_object_set_new(o, "exec_pid", json_integer(pid));
}

static void
record(struct pp_host *h, const Etxroll__Result *r)
{
    const Etxroll__FileFacts *f = r->before;
    json_t *o = h->ans;

    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "machine_id", json_string(h->machine_id));
    json_object_set_new(o, "exists", json_boolean(f != NULL && f->exists));
    if (f == NULL) {
        json_object_set_new(o, "sha256", json_null());
        return;
    }
    json_object_set_new(o, "sha256",
                        f->exists && f->sha256[0] != '\0'
                            ? json_string(f->sha256)
                            : json_null());
    json_object_set_new(o, "size", json_integer((json_int_t)f->size));
    json_object_set_new(o, "network_fs", json_boolean(f->network_fs));
    json_object_set_new(o, "mount_point", json_boolean(f->mount_point));
    json_object_set_new(o, "mount_source", json_string(f->mount_source));
    json_object_set_new(o, "fs_type", json_string(f->fs_type));
    json_object_set_new(o, "free_bytes",
                        json_integer((json_int_t)f->free_bytes));
    exec_holders(o, r->error);
}

static void
on_result(struct etx_peer *p, const Etxroll__Result *res,
          const struct etx_error *err, void *arg)
{
    struct pp_host *h = arg;
    char line[1200];

    if (res == NULL)
        host_fail(h, etx_error_format(err, line, sizeof(line)));
    else if (!res->ok)
        host_fail(h, res->detail);
    else
        record(h, res);
    etx_peer_close(p);
}

static void
on_ready(struct etx_peer *p, const Etxroll__Hello *hello, void *arg)
{
    struct pp_host *h = arg;
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__ProbeRequest pr = ETXROLL__PROBE_REQUEST__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;
    struct etx_error err = {0};
    char line[1200];

    if (hello->facts != NULL)
        snprintf(h->machine_id, sizeof(h->machine_id), "%s",
                 hello->facts->machine_id);
    t.path = (char *)host_target(h);
    t.strategy = (Etxroll__Strategy)h->run->inv->target.strategy;
    pr.target = &t;
    env.body_case = ETXROLL__ENVELOPE__BODY_PROBE;
    env.probe = &pr;
    if (etx_peer_request(p, &env, on_result, h, &err) != ETX_OK) {
        host_fail(h, etx_error_format(&err, line, sizeof(line)));
        etx_peer_close(p);
    }
}

static void
on_closed(struct etx_peer *p, const struct etx_error *why, void *arg)
{
    struct pp_host *h = arg;
    char line[1200];

    (void)p;
    host_fail(h, why != NULL ? etx_error_format(why, line, sizeof(line))
                             : "the connection closed before an answer");
    h->peer = NULL;
    h->run->open--;
    start_more(h->run);
    if (h->run->open == 0)
        uv_timer_stop(&h->run->timer);
}

static void
on_timeout(uv_timer_t *t)
{
    struct pp_run *run = t->data;
    size_t i;

    for (i = 0; i < run->n; i++) {
        if (run->hosts[i].peer == NULL)
            continue;
        host_fail(&run->hosts[i], "no answer before the probe's timeout");
        etx_peer_close(run->hosts[i].peer);
    }
    for (; run->next < run->n; run->next++)
        host_fail(&run->hosts[run->next], "not probed before the timeout");
}

static void
start_host(struct pp_run *run, struct pp_host *h)
{
    const struct etx_inv_host *s = h->spec;
    struct etx_peer_cbs cbs = {
        .ready = on_ready, .closed = on_closed, .arg = h};
    struct etx_error err = {0};
    char line[1200];

    h->peer = etx_carrier_connect(&run->loop, s, NULL, &cbs, &err);
    if (h->peer == NULL)
        host_fail(h, etx_error_format(&err, line, sizeof(line)));
    else
        run->open++;
}

/*
 * Keep up to ETX_PLANPROBE_PARALLEL connections open: each costs a TLS
 * or SSH session, and a fleet of thousands would otherwise hold them all
 * at once.
 */
static void
start_more(struct pp_run *run)
{
    while (run->open < ETX_PLANPROBE_PARALLEL && run->next < run->n)
        start_host(run, &run->hosts[run->next++]);
}

static int
setup(struct pp_run *run, const size_t *idx, json_t *out, struct etx_error *err)
{
    size_t i;

    run->hosts = calloc(run->n > 0 ? run->n : 1, sizeof(*run->hosts));
    if (run->hosts == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "probe", NULL,
                             "cannot probe");
    for (i = 0; i < run->n; i++) {
        run->hosts[i].run = run;
        run->hosts[i].spec = &run->inv->hosts[idx[i]];
        run->hosts[i].ans = json_object();
        if (run->hosts[i].ans == NULL ||
            json_object_set_new(out, run->hosts[i].spec->name,
                                run->hosts[i].ans) != 0)
            return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "probe", NULL,
                                 "cannot probe");
    }
    if (uv_loop_init(&run->loop) != 0)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "probe", NULL,
                             "cannot start an event loop");
    return ETX_OK;
}

int
etx_planprobe_run(const struct etx_inventory *inv, const size_t *idx, size_t n,
                  uint64_t timeout_ms, json_t **out, struct etx_error *err)
{
    struct pp_run run;
    json_t *all = json_object();
    int rc = ETX_ERR;

    memset(&run, 0, sizeof(run));
    run.inv = inv;
    run.n = n;
    run.timeout_ms = timeout_ms != 0 ? timeout_ms : ETX_PLANPROBE_TIMEOUT_MS;
    if (all == NULL || setup(&run, idx, all, err) != ETX_OK)
        goto out;
    uv_timer_init(&run.loop, &run.timer);
    run.timer.data = &run;
    start_more(&run);
    if (run.open > 0)
        uv_timer_start(&run.timer, on_timeout, run.timeout_ms, 0);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&run.timer, NULL);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&run.loop) != 0) {
        etx_error_set(err, ETX_CLASS_INTERNAL, 0, "probe", NULL,
                      "handles were left open");
        goto out;
    }
    *out = all;
    all = NULL;
    rc = ETX_OK;
out:
    json_decref(all);
    free(run.hosts);
    return rc;
}

json_t *
etx_planprobe_current(const json_t *answer)
{
    if (!json_is_true(json_object_get(answer, "ok")))
        return json_pack("{s:s}", "state", "unreachable");
    return json_pack("{s:s, s:O, s:O}", "state", "probed", "exists",
                     json_object_get(answer, "exists"), "sha256",
                     json_object_get(answer, "sha256"));
}

static int hazard(json_t *hz, json_t *det, const char *host, const char *kind,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
hazard(json_t *hz, json_t *det, const char *host, const char *kind,
       const char *fmt, ...)
{
    char detail[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (json_array_append_new(
            hz, json_pack("{s:s, s:s}", "host", host, "kind", kind)) != 0 ||
        json_array_append_new(det, json_pack("{s:s, s:s, s:s}", "host", host,
                                             "kind", kind, "detail", detail)) !=
            0)
        return ETX_ERR;
    return ETX_OK;
}

static const char *
sget(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static json_int_t
iget(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static bool
in_one_storage_group(const struct etx_inventory *inv, long a, long b)
{
    size_t g, i;
    bool has_a, has_b;

    for (g = 0; g < inv->n_storage_groups; g++) {
        has_a = has_b = false;
        for (i = 0; i < inv->storage_groups[g].n_hosts; i++) {
            has_a |= (long)inv->storage_groups[g].hosts[i] == a;
            has_b |= (long)inv->storage_groups[g].hosts[i] == b;
        }
        if (has_a && has_b)
            return true;
    }
    return false;
}

/* The first other host whose target looks like it is on the same storage:
 * the same network mount source, or the same machine and target path. */
static const char *
shares_with(const struct etx_inventory *inv, const json_t *probed,
            const char *name, const json_t *a)
{
    const char *other;
    json_t *b;
    const char *pa, *pb;

    json_object_foreach((json_t *)probed, other, b)
    {
        if (strcmp(other, name) == 0 || !json_is_true(json_object_get(b, "ok")))
            continue;
        if (in_one_storage_group(inv, etx_inventory_host_index(inv, name),
                                 etx_inventory_host_index(inv, other)))
            continue;
        pa = inv->hosts[etx_inventory_host_index(inv, name)].target_path;
        pb = inv->hosts[etx_inventory_host_index(inv, other)].target_path;
        pa = pa != NULL ? pa : inv->target.path;
        pb = pb != NULL ? pb : inv->target.path;
        if (json_is_true(json_object_get(a, "network_fs")) &&
            json_is_true(json_object_get(b, "network_fs")) &&
            strcmp(sget(a, "mount_source"), sget(b, "mount_source")) == 0)
            return other;
        if (sget(a, "machine_id")[0] != '\0' &&
            strcmp(sget(a, "machine_id"), sget(b, "machine_id")) == 0 &&
            strcmp(pa, pb) == 0)
            return other;
    }
    return NULL;
}

static int
host_hazards(const struct etx_inventory *inv, const json_t *probed,
             const char *name, const json_t *a, uint64_t size, json_t *hz,
             json_t *det)
{
    const char *other = NULL;
    int rc = ETX_OK;

    if (!json_is_true(json_object_get(a, "ok")))
        return hazard(hz, det, name, "unreachable", "%s", sget(a, "error"));
    if (json_is_true(json_object_get(a, "network_fs")))
        rc |= hazard(hz, det, name, "network_fs",
                     "the target is on %s from %s: no ETXTBSY across clients",
                     sget(a, "fs_type"), sget(a, "mount_source"));
    if (json_is_true(json_object_get(a, "mount_point")))
        rc |= hazard(hz, det, name, "mount_point",
                     "the target is a mount point (bind mount from %s): a "
                     "rename cannot replace it",
                     sget(a, "mount_source"));
    if (size > 0 && json_object_get(a, "free_bytes") != NULL &&
        (uint64_t)iget(a, "free_bytes") < 2 * size)
        rc |= hazard(hz, det, name, "low_space",
                     "%" JSON_INTEGER_FORMAT " bytes free, the artifact needs "
                     "%" PRIu64 " (twice its size)",
                     iget(a, "free_bytes"), 2 * size);
    if (iget(a, "exec_count") > 0)
        rc |= hazard(hz, det, name, "executed",
                     "%" JSON_INTEGER_FORMAT " process(es) execute the "
                     "target (pid %" JSON_INTEGER_FORMAT "): restart needed",
                     iget(a, "exec_count"), iget(a, "exec_pid"));
    other = shares_with(inv, probed, name, a);
    if (other != NULL)
        rc |= hazard(hz, det, name, "shared_storage",
                     "looks like the same storage as host %s, and no "
                     "storage_group holds both",
                     other);
    return rc;
}

int
etx_planprobe_hazards(const struct etx_inventory *inv, const json_t *probed,
                      uint64_t artifact_size, json_t *hazards, json_t *details,
                      struct etx_error *err)
{
    const char *name;
    json_t *a;

    json_object_foreach((json_t *)probed, name, a)
    {
        if (host_hazards(inv, probed, name, a, artifact_size, hazards,
                         details) != ETX_OK)
            return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "probe", NULL,
                                 "cannot list the hazards");
    }
    return ETX_OK;
}
