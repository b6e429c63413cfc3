/* SPDX-License-Identifier: MIT */
/*
 * Builds the plan document of an inventory (see plan.h and docs/plan.md):
 * what is deployed, where, in which batches, with which steps, and what
 * happens on failure, and (probed) each host's current target and the
 * hazards (coordinator/planprobe.h); computes its id, saves it, loads a
 * saved one and names where two plans differ.
 */
#include "coordinator/plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/atomicfile.h"
#include "coordinator/batch.h"
#include "coordinator/planprobe.h"
#include "proto/digest.h"

struct etx_plan {
    json_t *doc;
    char id[ETX_DIGEST_HEX_LEN + 1];
};

static int
nomem(struct etx_error *err)
{
    return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "plan", NULL,
                         "cannot build the plan");
}

/* json_string() of NULL is NULL; the plan says null instead. */
static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *
argv_json(char **argv, size_t argc)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < argc; i++)
        json_array_append_new(a, json_string(argv[i]));
    return a;
}

static json_t *
artifact_json(const struct etx_inventory *inv, const char *sha256,
              uint64_t size, bool have_size)
{
    const struct etx_inv_artifact *a = &inv->artifact;

    /* The local path is left out: moving a checkout must not change the
     * plan id; the digest and size say which bytes are deployed. */
    return json_pack("{s:s, s:o, s:s, s:o, s:o}", "source",
                     a->url != NULL ? "url" : "file", "url",
                     str_or_null(a->url), "sha256", sha256, "size",
                     have_size ? json_integer((json_int_t)size) : json_null(),
                     "version", str_or_null(a->version));
}

static json_t *
mode_json(const struct etx_inv_target *t)
{
    char buf[8];

    if (!t->mode_set)
        return json_null();
    snprintf(buf, sizeof(buf), "%04o", t->mode);
    return json_string(buf);
}

static json_t *
target_json(const struct etx_inv_target *t)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:I}", "path", t->path,
                     "strategy", etx_inventory_strategy_name(t->strategy),
                     "mode", mode_json(t), "owner", str_or_null(t->owner),
                     "group", str_or_null(t->group), "keep",
                     (json_int_t)t->keep);
}

/*
 * confirm_ms only when it is not the default, so that a plan made before
 * restart.confirm existed, or without it, keeps its id.
 */
static json_t *
restart_json(const struct etx_inv_restart *r)
{
    json_t *o = NULL;

    switch (r->kind) {
    case ETX_RESTART_UNIT:
        o = json_pack("{s:s, s:s, s:I}", "kind", "unit", "unit", r->unit,
                      "timeout_ms", (json_int_t)r->timeout_ms);
        break;
    case ETX_RESTART_COMMAND:
        o = json_pack("{s:s, s:o, s:I}", "kind", "command", "command",
                      argv_json(r->argv, r->argc), "timeout_ms",
                      (json_int_t)r->timeout_ms);
        break;
    case ETX_RESTART_NONE:
    default:
        return json_pack("{s:s}", "kind", "none");
    }
    if (o != NULL && r->confirm_ms != ETX_INVENTORY_CONFIRM_MS &&
        json_object_set_new(o, "confirm_ms",
                            json_integer((json_int_t)r->confirm_ms)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static json_t *
health_json(const struct etx_inv_health *h)
{
    json_t *o = NULL;

    if (!h->enabled)
        return json_null();
    o = json_pack(
        "{s:I, s:I, s:I, s:I}", "interval_ms", (json_int_t)h->interval_ms,
        "timeout_ms", (json_int_t)h->timeout_ms, "consecutive",
        (json_int_t)h->consecutive, "deadline_ms", (json_int_t)h->deadline_ms);
    if (o != NULL && h->http_url != NULL)
        json_object_set_new(o, "http",
                            json_pack("{s:s, s:I, s:o}", "url", h->http_url,
                                      "status", (json_int_t)h->http_status,
                                      "body_contains",
                                      str_or_null(h->http_body_contains)));
    if (o != NULL && h->tcp_address != NULL)
        json_object_set_new(o, "tcp",
                            json_pack("{s:s}", "address", h->tcp_address));
    if (o != NULL && h->exec_argc > 0)
        json_object_set_new(o, "exec",
                            json_pack("{s:o}", "command",
                                      argv_json(h->exec_argv, h->exec_argc)));
    return o;
}

static json_t *
retry_json(const struct etx_backoff_policy *r)
{
    return json_pack("{s:I, s:I, s:f, s:I, s:s}", "attempts",
                     (json_int_t)r->attempts, "first_ms",
                     (json_int_t)r->first_ms, "multiplier", r->multiplier,
                     "cap_ms", (json_int_t)r->cap_ms, "jitter",
                     etx_inventory_jitter_name(r->jitter));
}

static json_t *
policy_json(const struct etx_inventory *inv, const struct etx_batch_plan *bp)
{
    char spec[32];

    snprintf(spec, sizeof(spec), "%u%s", inv->max_failures.value,
             inv->max_failures.is_percent ? "%" : "");
    return json_pack("{s:{s:s, s:I}, s:s, s:o}", "max_failures", "spec", spec,
                     "hosts", (json_int_t)bp->max_failures, "on_failure",
                     etx_inventory_on_failure_name(inv->on_failure), "retry",
                     retry_json(&inv->retry));
}

static json_t *
order_json(const struct etx_inventory *inv, const struct etx_batch_plan *bp)
{
    const struct etx_inv_batches *b = &inv->batches;

    return json_pack(
        "{s:s, s:o, s:o, s:I, s:I}", "mode", etx_inventory_order_name(b->order),
        "first", str_or_null(b->first), "seed",
        b->order == ETX_ORDER_SHUFFLED ? json_integer((json_int_t)bp->seed)
                                       : json_null(),
        "bake_ms", (json_int_t)b->bake_ms, "pause_ms", (json_int_t)b->pause_ms);
}

static json_t *
steps_json(const struct etx_inventory *inv)
{
    json_t *s = json_pack("[s, s, s]", "stage", "verify", "swap");

    if (s != NULL && inv->restart.kind != ETX_RESTART_NONE)
        json_array_append_new(s, json_string("restart"));
    if (s != NULL && inv->health.enabled)
        json_array_append_new(s, json_string("health"));
    return s;
}

static bool
differs(const char *host_value, const char *tmpl)
{
    return host_value != NULL && tmpl != NULL && strcmp(host_value, tmpl) != 0;
}

static bool
argv_differs(char **host_argv, char **tmpl, size_t argc)
{
    size_t i;

    for (i = 0; host_argv != NULL && tmpl != NULL && i < argc; i++)
        if (strcmp(host_argv[i], tmpl[i]) != 0)
            return true;
    return false;
}

/* A host's own strings, only where its variables made them differ from the
 * inventory's templates: plans of inventories without variables (and
 * their ids) stay as they were. */
static void
host_strings_json(json_t *o, const struct etx_inventory *inv,
                  const struct etx_inv_host *h)
{
    const struct etx_inv_health *hl = &inv->health;
    const struct etx_inv_restart *r = &inv->restart;

    if (differs(h->target_path, inv->target.path))
        json_object_set_new(o, "target_path", json_string(h->target_path));
    if (differs(h->health_http_url, hl->http_url))
        json_object_set_new(o, "health_url", json_string(h->health_http_url));
    if (differs(h->health_tcp_address, hl->tcp_address))
        json_object_set_new(o, "health_tcp_address",
                            json_string(h->health_tcp_address));
    if (argv_differs(h->health_exec_argv, hl->exec_argv, hl->exec_argc))
        json_object_set_new(o, "health_exec",
                            argv_json(h->health_exec_argv, hl->exec_argc));
    if (differs(h->restart_unit, r->unit))
        json_object_set_new(o, "restart_unit", json_string(h->restart_unit));
    if (argv_differs(h->restart_argv, r->argv, r->argc))
        json_object_set_new(o, "restart_command",
                            argv_json(h->restart_argv, r->argc));
}

static json_t *
host_json(const struct etx_inventory *inv, const struct etx_inv_host *h,
          bool offline)
{
    const struct etx_inv_transport *t = &h->transport;
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:o, s:o}", "address", h->address, "transport",
        etx_inventory_transport_name(t->kind), "port", (json_int_t)t->port,
        "steps", steps_json(inv), "current",
        json_pack("{s:s}", "state", offline ? "not probed" : "unknown"));

    if (o != NULL)
        host_strings_json(o, inv, h);
    return o;
}

static json_t *
batches_json(const struct etx_inventory *inv, const struct etx_batch_plan *bp)
{
    json_t *arr = json_array(), *names = NULL;
    size_t b, i;

    for (b = 0; arr != NULL && b < bp->n_batches; b++) {
        const struct etx_batch *bt = &bp->batches[b];

        names = json_array();
        for (i = 0; names != NULL && i < bt->count; i++)
            json_array_append_new(
                names, json_string(inv->hosts[bp->order[bt->first + i]].name));
        json_array_append_new(
            arr, json_pack("{s:I, s:o, s:b}", "number", (json_int_t)(b + 1),
                           "hosts", names, "gate_after", bt->gate_after));
    }
    return arr;
}

static json_t *
hosts_json(const struct etx_inventory *inv, const struct etx_batch_plan *bp,
           bool offline)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o != NULL && i < bp->n_order; i++) {
        const struct etx_inv_host *h = &inv->hosts[bp->order[i]];

        json_object_set_new(o, h->name, host_json(inv, h, offline));
    }
    return o;
}

static json_t *
excluded_json(const struct etx_inventory *inv, const struct etx_batch_plan *bp)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < bp->n_excluded; i++)
        json_array_append_new(a, json_string(inv->hosts[bp->excluded[i]].name));
    return a;
}

static json_t *
rollback_json(const struct etx_inventory *inv)
{
    if (inv->on_failure == ETX_ON_FAILURE_HALT)
        return json_pack("{s:s, s:s}", "policy", "halt", "what",
                         "stop starting batches; hosts stay as they are");
    return json_pack("{s:s, s:s}", "policy", "rollback", "what",
                     "put back every host that reached swapped, newest "
                     "batch first, in the same batch sizes");
}

/* The artifact's digest and size: read from the file, or as declared. */
static int
artifact_digest(const struct etx_inventory *inv, char hex[65], uint64_t *size,
                bool *have_size, struct etx_error *err)
{
    const struct etx_inv_artifact *a = &inv->artifact;

    *have_size = false;
    if (a->path == NULL) {
        snprintf(hex, 65, "%s", a->sha256);
        return ETX_OK;
    }
    if (etx_digest_file(a->path, hex, size, err) != ETX_OK) {
        snprintf(err->msg, sizeof(err->msg), "cannot read the artifact: %s",
                 strerror(err->sys_errno));
        return ETX_ERR;
    }
    *have_size = true;
    if (a->sha256[0] != '\0' && strcmp(a->sha256, hex) != 0)
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "digest", a->path,
                             "the artifact's SHA-256 is %s but the "
                             "inventory says %s",
                             hex, a->sha256);
    return ETX_OK;
}

static json_t *
build_doc(const struct etx_inventory *inv, const struct etx_batch_plan *bp,
          const char *sha256, uint64_t size, bool have_size, bool offline)
{
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o}",
        "format", ETX_PLAN_FORMAT, "fleet", inv->fleet, "mode",
        offline ? "offline" : "probed", "artifact",
        artifact_json(inv, sha256, size, have_size), "target",
        target_json(&inv->target), "restart", restart_json(&inv->restart),
        "health", health_json(&inv->health), "policy", policy_json(inv, bp),
        "order", order_json(inv, bp), "batches", batches_json(inv, bp), "hosts",
        hosts_json(inv, bp, offline), "excluded_hosts", excluded_json(inv, bp),
        "rollback", rollback_json(inv), "hazards", json_array(), "meta",
        json_pack("{s:s, s:s}", "inventory", inv->path, "generated_by",
                  "etxroll " ETX_VERSION));
}

/* Probe the planned hosts: each one's "current", the hazards (in the id),
 * and their details with drifting numbers (meta.hazards, not in the id). */
static int
add_probe(json_t *doc, const struct etx_inventory *inv,
          const struct etx_batch_plan *bp, uint64_t timeout_ms, uint64_t size,
          struct etx_error *err)
{
    json_t *probed = NULL, *hosts = json_object_get(doc, "hosts");
    json_t *hz = json_object_get(doc, "hazards"), *det = json_array();
    const char *name;
    json_t *ans;
    int rc = ETX_ERR;

    if (det == NULL ||
        json_object_set_new(json_object_get(doc, "meta"), "hazards", det) != 0)
        return nomem(err);
    if (etx_planprobe_run(inv, bp->order, bp->n_order, timeout_ms, &probed,
                          err) != ETX_OK)
        goto out;
    json_object_foreach(probed, name, ans)
    {
        if (json_object_set_new(json_object_get(hosts, name), "current",
                                etx_planprobe_current(ans)) != 0) {
            nomem(err);
            goto out;
        }
    }
    rc = etx_planprobe_hazards(inv, probed, size, hz, det, err);
out:
    json_decref(probed);
    return rc;
}

int
etx_plan_compute_id(const json_t *doc, char id[65], struct etx_error *err)
{
    json_t *copy = NULL;
    char *text = NULL;
    struct etx_digest *d = NULL;
    int rc = ETX_ERR;

    copy = json_deep_copy(doc);
    if (copy == NULL || !json_is_object(copy)) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "plan", NULL,
                      "a plan is a JSON object");
        goto out;
    }
    json_object_del(copy, "plan_id");
    json_object_del(copy, "meta");
    text = json_dumps(copy,
                      JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    d = etx_digest_new();
    if (text == NULL || d == NULL) {
        nomem(err);
        goto out;
    }
    etx_digest_update(d, text, strlen(text));
    etx_digest_final(d, id);
    rc = ETX_OK;
out:
    etx_digest_free(d);
    free(text);
    json_decref(copy);
    return rc;
}

int
etx_plan_build(const struct etx_inventory *inv,
               const struct etx_plan_opts *opts, struct etx_plan **out,
               struct etx_error *err)
{
    struct etx_batch_plan *bp = NULL;
    struct etx_plan *p = NULL;
    char sha[ETX_DIGEST_HEX_LEN + 1];
    uint64_t size = 0;
    bool have_size;
    int rc = ETX_ERR;

    *out = NULL;
    if (artifact_digest(inv, sha, &size, &have_size, err) != ETX_OK ||
        etx_batch_plan_new(inv, &bp, err) != ETX_OK)
        goto out;
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->doc = build_doc(inv, bp, sha, size, have_size,
                                         opts->offline)) == NULL) {
        nomem(err);
        goto out;
    }
    if (!opts->offline && add_probe(p->doc, inv, bp, opts->timeout_ms,
                                    have_size ? size : 0, err) != ETX_OK)
        goto out;
    if (etx_plan_compute_id(p->doc, p->id, err) != ETX_OK)
        goto out;
    json_object_set_new(p->doc, "plan_id", json_string(p->id));
    *out = p;
    p = NULL;
    rc = ETX_OK;
out:
    etx_plan_free(p);
    etx_batch_plan_free(bp);
    return rc;
}

void
etx_plan_free(struct etx_plan *p)
{
    if (p == NULL)
        return;
    json_decref(p->doc);
    free(p);
}

const char *
etx_plan_id(const struct etx_plan *p)
{
    return p->id;
}

const json_t *
etx_plan_json(const struct etx_plan *p)
{
    return p->doc;
}

int
etx_plan_save(const struct etx_plan *p, const char *path, struct etx_error *err)
{
    char *text = json_dumps(p->doc, JSON_INDENT(2) | JSON_SORT_KEYS |
                                        JSON_REAL_PRECISION(17));
    size_t len;
    int rc;

    if (text == NULL)
        return nomem(err);
    len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room: the NUL becomes a newline */
    rc = etx_atomicfile_write(path, text, len + 1, 0644, err);
    free(text);
    return rc;
}

int
etx_plan_load(const char *path, json_t **doc, struct etx_error *err)
{
    json_error_t je;
    json_t *d = json_load_file(path, 0, &je);

    *doc = NULL;
    if (d == NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "plan", path,
                             "not a plan document: %s (line %d)", je.text,
                             je.line);
    if (!json_is_object(d) ||
        strcmp(json_string_value(json_object_get(d, "format")) != NULL
                   ? json_string_value(json_object_get(d, "format"))
                   : "",
               ETX_PLAN_FORMAT) != 0) {
        json_decref(d);
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "plan", path,
                             "not a plan document (format is not %s)",
                             ETX_PLAN_FORMAT);
    }
    *doc = d;
    return ETX_OK;
}

bool
etx_plan_is_plan_file(const char *path)
{
    json_t *d = json_load_file(path, 0, NULL);
    const char *f = json_string_value(json_object_get(d, "format"));
    bool yes = f != NULL && strcmp(f, ETX_PLAN_FORMAT) == 0;

    json_decref(d);
    return yes;
}

static void
diff_add(char *buf, size_t len, size_t *n, const char *a, const char *b,
         const char *c)
{
    size_t used = strlen(buf);

    (*n)++;
    if (used + 4 >= len)
        return;
    if ((size_t)snprintf(buf + used, len - used, "%s%s%s%s", *n > 1 ? ", " : "",
                         a, b != NULL ? b : "",
                         c != NULL ? c : "") >= len - used)
        snprintf(buf + len - 4, 4, "...");
}

/* Keys of object a missing from b or differing; named prefix.key. */
static void
diff_keys(const json_t *a, const json_t *b, const char *prefix, char *buf,
          size_t len, size_t *n)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)a, k, v)
    {
        if (!json_equal(v, json_object_get(b, k)))
            diff_add(buf, len, n, prefix, ".", k);
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (json_object_get(a, k) == NULL)
            diff_add(buf, len, n, prefix, ".", k);
    }
}

/* "hosts.NAME" for a host on one side only, else "hosts.NAME.MEMBER". */
static void
diff_hosts(const json_t *a, const json_t *b, char *buf, size_t len, size_t *n)
{
    char prefix[600];
    const char *k;
    json_t *v, *w;

    json_object_foreach((json_t *)a, k, v)
    {
        snprintf(prefix, sizeof(prefix), "hosts.%s", k);
        w = json_object_get(b, k);
        if (w == NULL)
            diff_add(buf, len, n, prefix, NULL, NULL);
        else if (!json_equal(v, w))
            diff_keys(v, w, prefix, buf, len, n);
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (json_object_get(a, k) == NULL)
            diff_add(buf, len, n, "hosts.", k, NULL);
    }
}

static bool
skipped(const char *k)
{
    return strcmp(k, "plan_id") == 0 || strcmp(k, "meta") == 0;
}

size_t
etx_plan_diff(const json_t *a, const json_t *b, char *buf, size_t len)
{
    size_t n = 0;

    const char *k;
    json_t *v, *w;

    buf[0] = '\0';
    json_object_foreach((json_t *)a, k, v)
    {
        w = json_object_get(b, k);
        if (skipped(k) || json_equal(v, w))
            continue;
        if (strcmp(k, "hosts") == 0 && json_is_object(v) && json_is_object(w))
            diff_hosts(v, w, buf, len, &n);
        else
            diff_add(buf, len, &n, k, NULL, NULL);
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (!skipped(k) && json_object_get(a, k) == NULL)
            diff_add(buf, len, &n, k, NULL, NULL);
    }
    return n;
}
