/* SPDX-License-Identifier: MIT */
/* `etxroll probe`: every host's agent at once, one loop (see probe.h). */
#include "coordinator/probe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "coordinator/inventory.h"
#include "coordinator/carrier.h"
#include "coordinator/peer.h"
#include "proto/psk.h"

struct probe_run;

/* One host being probed; its JSON is the result, whatever happened. */
struct probe_host {
    struct probe_run *run;
    const struct etx_inv_host *spec;
    struct etx_peer *peer; /* NULL once closed */
    json_t *doc;           /* {"address", "ok", "agent", "target", ...} */
    bool answered;
};

struct probe_run {
    uv_loop_t loop;
    uv_timer_t timer;
    const struct etx_inventory *inv;
    struct probe_host *hosts;
    size_t n;
    size_t open; /* peers not yet closed */
    uint64_t timeout_ms;
};

static void host_fail(struct probe_host *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
host_fail(struct probe_host *h, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;

    if (h->answered || json_object_get(h->doc, "error") != NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object_set_new(h->doc, "ok", json_false());
    json_object_set_new(h->doc, "error", json_string(msg));
}

static json_t *
facts_json(const Etxroll__HostFacts *f)
{
    if (f == NULL)
        return json_null();
    return json_pack("{ss ss ss ss ss}", "hostname", f->hostname, "machine_id",
                     f->machine_id, "boot_id", f->boot_id, "kernel", f->kernel,
                     "arch", f->arch);
}

static json_t *
holders_json(const Etxroll__Error *e)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; e != NULL && a != NULL && i < e->n_holders; i++)
        json_array_append_new(
            a, json_pack("{si ss si ss ss ss}", "pid", e->holders[i]->pid,
                         "relation", e->holders[i]->relation, "fd",
                         e->holders[i]->fd, "cmdline", e->holders[i]->cmdline,
                         "unit", e->holders[i]->unit, "container",
                         e->holders[i]->container));
    return a;
}

static json_t *
target_json(const char *path, const Etxroll__Result *r)
{
    const Etxroll__FileFacts *f = r->before;
    char mode[8];

    if (f == NULL)
        return json_pack("{ss sb}", "path", path, "exists", 0);
    snprintf(mode, sizeof(mode), "%04o", f->mode & 07777);
    return json_pack("{ss sb ss sI ss si si ss ss sb sb ss sI so si}", "path",
                     path, "exists", f->exists, "sha256", f->sha256, "size",
                     (json_int_t)f->size, "mode", mode, "uid", (int)f->uid,
                     "gid", (int)f->gid, "symlink_target", f->symlink_target,
                     "fs_type", f->fs_type, "network_fs", f->network_fs,
                     "mount_point", f->mount_point, "mount_source",
                     f->mount_source, "free_bytes", (json_int_t)f->free_bytes,
                     "holders", holders_json(r->error), "holders_unknown",
                     r->error != NULL ? (int)r->error->holders_unknown : 0);
}

/* The host's own target path (${vars} expanded), else the template. */
static const char *
host_target(const struct probe_host *h)
{
    if (h->spec->target_path != NULL)
        return h->spec->target_path;
    return h->run->inv->target.path;
}

static void
on_result(struct etx_peer *p, const Etxroll__Result *res,
          const struct etx_error *err, void *arg)
{
    struct probe_host *h = arg;
    char line[1200];

    if (res == NULL) {
        host_fail(h, "%s", etx_error_format(err, line, sizeof(line)));
    } else if (!res->ok) {
        host_fail(h, "the agent refused the probe: %s", res->detail);
    } else {
        json_object_set_new(h->doc, "ok", json_true());
        json_object_set_new(h->doc, "target", target_json(host_target(h), res));
        h->answered = true;
    }
    etx_peer_close(p);
}

static void
on_ready(struct etx_peer *p, const Etxroll__Hello *hello, void *arg)
{
    struct probe_host *h = arg;
    const struct etx_inv_target *it = &h->run->inv->target;
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__ProbeRequest pr = ETXROLL__PROBE_REQUEST__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;
    struct etx_error err = {0};
    char line[1200];

    json_object_set_new(h->doc, "agent", facts_json(hello->facts));
    json_object_set_new(h->doc, "agent_version",
                        json_string(hello->software_version));
    t.path = (char *)host_target(h);
    t.strategy = (Etxroll__Strategy)it->strategy;
    pr.target = &t;
    env.body_case = ETXROLL__ENVELOPE__BODY_PROBE;
    env.probe = &pr;
    if (etx_peer_request(p, &env, on_result, h, &err) != ETX_OK) {
        host_fail(h, "%s", etx_error_format(&err, line, sizeof(line)));
        etx_peer_close(p);
    }
}

static void
on_closed(struct etx_peer *p, const struct etx_error *why, void *arg)
{
    struct probe_host *h = arg;
    struct probe_run *run = h->run;
    char line[1200];

    (void)p;
    if (why != NULL)
        host_fail(h, "%s", etx_error_format(why, line, sizeof(line)));
    else
        host_fail(h, "the connection closed before the agent answered");
    h->peer = NULL;
    if (--run->open == 0)
        uv_timer_stop(&run->timer);
}

static void
on_timeout(uv_timer_t *t)
{
    struct probe_run *run = t->data;
    size_t i;

    for (i = 0; i < run->n; i++) {
        if (run->hosts[i].peer == NULL)
            continue;
        host_fail(&run->hosts[i], "no answer within %" PRIu64 " ms",
                  run->timeout_ms);
        etx_peer_close(run->hosts[i].peer);
    }
}

static void
start_host(struct probe_run *run, struct probe_host *h)
{
    const struct etx_inv_host *s = h->spec;
    struct etx_peer_cbs cbs = {
        .ready = on_ready, .closed = on_closed, .arg = h};
    struct etx_error err = {0};
    char line[1200];

    h->peer = etx_carrier_connect(&run->loop, s, NULL, &cbs, &err);
    if (h->peer == NULL)
        host_fail(h, "%s", etx_error_format(&err, line, sizeof(line)));
    else
        run->open++;
}

/* ---- which hosts ---- */

static int
select_hosts(struct probe_run *run, const struct etx_probe_opts *o,
             struct etx_error *err)
{
    const struct etx_inventory *inv = run->inv;
    size_t i, n = o->n_hosts > 0 ? o->n_hosts : inv->n_hosts;
    long k;

    run->hosts = calloc(n > 0 ? n : 1, sizeof(*run->hosts));
    if (run->hosts == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "probe", NULL,
                             "cannot probe");
    for (i = 0; i < n; i++) {
        k = o->n_hosts > 0 ? etx_inventory_host_index(inv, o->hosts[i])
                           : (long)i;
        if (k < 0)
            return etx_error_set(err, ETX_CLASS_INPUT, 0, "probe", inv->path,
                                 "no host '%s' in the inventory", o->hosts[i]);
        run->hosts[i].run = run;
        run->hosts[i].spec = &inv->hosts[k];
        run->hosts[i].doc = json_pack(
            "{ss ss}", "address", inv->hosts[k].address, "transport",
            etx_inventory_transport_name(inv->hosts[k].transport.kind));
        if (run->hosts[i].doc == NULL)
            return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "probe", NULL,
                                 "cannot probe");
        run->n++;
    }
    return ETX_OK;
}

/* ---- printing ---- */

static const char *
str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static json_int_t
num(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static bool
yes(json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key));
}

static void
print_holders(json_t *t, FILE *out)
{
    json_t *a = json_object_get(t, "holders"), *x = NULL;
    size_t i;

    if (json_array_size(a) == 0 && num(t, "holders_unknown") == 0) {
        fprintf(out, "    holders:    none\n");
        return;
    }
    json_array_foreach(a, i, x)
        fprintf(out, "    holder:     pid %d %s %s%s%s\n", (int)num(x, "pid"),
                str(x, "relation"), str(x, "cmdline"),
                str(x, "unit")[0] != '\0' ? " unit " : "", str(x, "unit"));
    if (num(t, "holders_unknown") > 0)
        fprintf(out, "    holders:    %d process(es) could not be inspected\n",
                (int)num(t, "holders_unknown"));
}

static void
print_target(json_t *t, FILE *out)
{
    fprintf(out, "  target:       %s\n", str(t, "path"));
    if (!yes(t, "exists")) {
        fprintf(out, "    exists:     no\n");
        return;
    }
    fprintf(out, "    exists:     yes%s%s\n",
            str(t, "symlink_target")[0] != '\0' ? ", a symlink to " : "",
            str(t, "symlink_target"));
    fprintf(out, "    sha256:     %s\n", str(t, "sha256"));
    fprintf(out, "    size:       %" JSON_INTEGER_FORMAT " bytes\n",
            num(t, "size"));
    fprintf(out, "    mode:       %s, owner uid %d gid %d\n", str(t, "mode"),
            (int)num(t, "uid"), (int)num(t, "gid"));
    fprintf(out, "    filesystem: %s%s, mounted from %s%s\n", str(t, "fs_type"),
            yes(t, "network_fs") ? " (network)" : "", str(t, "mount_source"),
            yes(t, "mount_point") ? "; the target itself is a mount point"
                                  : "");
    fprintf(out, "    free:       %" JSON_INTEGER_FORMAT " bytes\n",
            num(t, "free_bytes"));
    print_holders(t, out);
}

static void
print_host(const char *name, json_t *d, FILE *out)
{
    json_t *a = json_object_get(d, "agent");

    fprintf(out, "%s (%s, %s)\n", name, str(d, "address"), str(d, "transport"));
    if (a != NULL)
        fprintf(out, "  agent:        %s on %s, kernel %s %s, boot id %s\n",
                str(d, "agent_version"), str(a, "hostname"), str(a, "kernel"),
                str(a, "arch"), str(a, "boot_id"));
    if (!yes(d, "ok")) {
        fprintf(out, "  error:        %s\n", str(d, "error"));
        return;
    }
    print_target(json_object_get(d, "target"), out);
}

static int
print_all(struct probe_run *run, bool as_json, FILE *out)
{
    json_t *all = json_object();
    char *text = NULL;
    size_t i;

    for (i = 0; i < run->n; i++) {
        if (!as_json)
            print_host(run->hosts[i].spec->name, run->hosts[i].doc, out);
        else
            json_object_set(all, run->hosts[i].spec->name, run->hosts[i].doc);
    }
    if (as_json) {
        text = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text != NULL)
            fprintf(out, "%s\n", text);
        free(text);
    }
    json_decref(all);
    return as_json && text == NULL ? ETX_ERR : ETX_OK;
}

/* ---- the run ---- */

static void
run_loop(struct probe_run *run)
{
    size_t i;

    uv_timer_init(&run->loop, &run->timer);
    run->timer.data = run;
    for (i = 0; i < run->n; i++)
        start_host(run, &run->hosts[i]);
    if (run->open > 0)
        uv_timer_start(&run->timer, on_timeout, run->timeout_ms, 0);
    uv_run(&run->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&run->timer, NULL);
    uv_run(&run->loop, UV_RUN_DEFAULT);
}

int
etx_probe_run(const struct etx_inventory *inv, const struct etx_probe_opts *o,
              FILE *out, size_t *n_failed, struct etx_error *err)
{
    struct probe_run run;
    size_t i;
    int rc = ETX_ERR;

    memset(&run, 0, sizeof(run));
    run.inv = inv;
    run.timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : ETX_PROBE_TIMEOUT_MS;
    *n_failed = 0;
    if (select_hosts(&run, o, err) != ETX_OK)
        goto out;
    if (uv_loop_init(&run.loop) != 0) {
        etx_error_set(err, ETX_CLASS_INTERNAL, 0, "probe", NULL,
                      "cannot start an event loop");
        goto out;
    }
    run_loop(&run);
    if (uv_loop_close(&run.loop) != 0) {
        etx_error_set(err, ETX_CLASS_INTERNAL, 0, "probe", NULL,
                      "handles were left open");
        goto out;
    }
    for (i = 0; i < run.n; i++)
        *n_failed += !yes(run.hosts[i].doc, "ok");
    rc = print_all(&run, o->json, out);
    if (rc != ETX_OK)
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "probe", NULL,
                      "cannot print the results");
out:
    for (i = 0; i < run.n; i++)
        json_decref(run.hosts[i].doc);
    free(run.hosts);
    return rc;
}
