/* SPDX-License-Identifier: MIT */
/*
 * Renders a plan document as a summary and a table for people. A host
 * whose variables give it its own target path or health URL shows them
 * on a line of its own under its row.
 */
#include "coordinator/plantable.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "coordinator/inventory.h"

static const char *
str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static uint64_t
num(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v > 0 ? (uint64_t)v : 0;
}

void
etx_plantable_duration(uint64_t ms, char *buf, size_t len)
{
    uint64_t h, m, s;
    int n = 0;

    if (ms % 1000 != 0) {
        snprintf(buf, len, "%" PRIu64 "ms", ms);
        return;
    }
    s = ms / 1000;
    h = s / 3600;
    m = s / 60 % 60;
    s %= 60;
    buf[0] = '\0';
    if (h > 0)
        n += snprintf(buf + n, len - (size_t)n, "%" PRIu64 "h", h);
    if (m > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, "%" PRIu64 "m", m);
    if ((s > 0 || n == 0) && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "%" PRIu64 "s", s);
}

static void
print_artifact(const json_t *a, FILE *out)
{
    const char *url = str(a, "url");

    fprintf(out, "  artifact   %s  sha256 %s", url[0] ? url : "(local file)",
            str(a, "sha256"));
    if (json_is_integer(json_object_get(a, "size")))
        fprintf(out, "  %" PRIu64 " bytes", num(a, "size"));
    if (str(a, "version")[0] != '\0')
        fprintf(out, "  version %s", str(a, "version"));
    fputc('\n', out);
}

/* Whether some host has its own value of 'key' (from its variables). */
static bool
per_host(const json_t *doc, const char *key)
{
    json_t *hosts = json_object_get(doc, "hosts");
    void *it = NULL;

    for (it = json_object_iter(hosts); it != NULL;
         it = json_object_iter_next(hosts, it))
        if (json_object_get(json_object_iter_value(it), key) != NULL)
            return true;
    return false;
}

static void
print_target(const json_t *t, bool varies, FILE *out)
{
    fprintf(out, "  target     %s%s  strategy %s", str(t, "path"),
            varies ? " (per host, below)" : "", str(t, "strategy"));
    if (str(t, "mode")[0] != '\0')
        fprintf(out, "  mode %s", str(t, "mode"));
    if (str(t, "owner")[0] != '\0' || str(t, "group")[0] != '\0')
        fprintf(out, "  owner %s:%s", str(t, "owner"), str(t, "group"));
    fprintf(out, "  keep %" PRIu64 "\n", num(t, "keep"));
}

static void
print_command(const json_t *argv, FILE *out)
{
    size_t i;
    json_t *v;

    json_array_foreach(argv, i, v)
        fprintf(out, "%s%s", i > 0 ? " " : "", json_string_value(v));
}

/* A plan without confirm_ms has the default confirm (plan.c). */
static void
print_restart(const json_t *r, FILE *out)
{
    char d[32], c[32];
    uint64_t confirm = num(r, "confirm_ms");

    etx_plantable_duration(num(r, "timeout_ms"), d, sizeof(d));
    etx_plantable_duration(confirm != 0 ? confirm : ETX_INVENTORY_CONFIRM_MS, c,
                           sizeof(c));
    if (strcmp(str(r, "kind"), "unit") == 0)
        fprintf(out,
                "  restart    systemctl restart %s (timeout %s, confirm %s)\n",
                str(r, "unit"), d, c);
    else if (strcmp(str(r, "kind"), "command") == 0) {
        fprintf(out, "  restart    ");
        print_command(json_object_get(r, "command"), out);
        fprintf(out, " (timeout %s, confirm %s)\n", d, c);
    } else
        fprintf(out, "  restart    none\n");
}

static void
print_health(const json_t *h, bool varies, FILE *out)
{
    const json_t *http = json_object_get(h, "http");
    const json_t *tcp = json_object_get(h, "tcp");
    const json_t *ex = json_object_get(h, "exec");
    char iv[32], to[32], dl[32];

    if (!json_is_object(h)) {
        fprintf(out, "  health     none (hosts count as healthy once "
                     "restarted)\n");
        return;
    }
    fprintf(out, "  health    ");
    if (http != NULL) {
        fprintf(out, " http %s%s expects %" PRIu64, str(http, "url"),
                varies ? " (per host, below)" : "", num(http, "status"));
        if (str(http, "body_contains")[0] != '\0')
            fprintf(out, " with \"%s\"", str(http, "body_contains"));
    }
    if (tcp != NULL)
        fprintf(out, " tcp %s", str(tcp, "address"));
    if (ex != NULL) {
        fprintf(out, " exec ");
        print_command(json_object_get(ex, "command"), out);
    }
    etx_plantable_duration(num(h, "interval_ms"), iv, sizeof(iv));
    etx_plantable_duration(num(h, "timeout_ms"), to, sizeof(to));
    etx_plantable_duration(num(h, "deadline_ms"), dl, sizeof(dl));
    fprintf(out,
            "\n             every %s, timeout %s, %" PRIu64
            " in a row, deadline %s\n",
            iv, to, num(h, "consecutive"), dl);
}

static void
print_policy(const json_t *doc, FILE *out)
{
    const json_t *p = json_object_get(doc, "policy");
    const json_t *mf = json_object_get(p, "max_failures");
    const json_t *r = json_object_get(p, "retry");
    char first[32], cap[32];

    etx_plantable_duration(num(r, "first_ms"), first, sizeof(first));
    etx_plantable_duration(num(r, "cap_ms"), cap, sizeof(cap));
    fprintf(out,
            "  retry      %" PRIu64 " attempts, first wait %s, x%g, cap %s, "
            "%s jitter (transient errors only)\n",
            num(r, "attempts"), first,
            json_real_value(json_object_get(r, "multiplier")), cap,
            str(r, "jitter"));
    if (num(mf, "hosts") == 0)
        fprintf(out,
                "  failures   max_failures %s: halt at the first failed "
                "host\n",
                str(mf, "spec"));
    else
        fprintf(out,
                "  failures   max_failures %s: tolerate %" PRIu64
                " failed host(s), halt at failure %" PRIu64 "\n",
                str(mf, "spec"), num(mf, "hosts"), num(mf, "hosts") + 1);
    fprintf(out, "  on failure %s: %s\n", str(p, "on_failure"),
            str(json_object_get(doc, "rollback"), "what"));
}

static void
print_order(const json_t *o, FILE *out)
{
    char bake[32], pause[32];

    fprintf(out, "  order      %s", str(o, "mode"));
    if (json_is_integer(json_object_get(o, "seed")))
        fprintf(out, " (seed %" PRIu64 ")", num(o, "seed"));
    if (str(o, "first")[0] != '\0')
        fprintf(out, ", group '%s' first", str(o, "first"));
    etx_plantable_duration(num(o, "bake_ms"), bake, sizeof(bake));
    etx_plantable_duration(num(o, "pause_ms"), pause, sizeof(pause));
    fprintf(out, "; bake %s, pause %s between batches\n", bake, pause);
}

static void
print_steps(const json_t *steps, FILE *out)
{
    size_t i;
    json_t *v;

    json_array_foreach(steps, i, v)
        fprintf(out, "%s%s", i > 0 ? " > " : "", json_string_value(v));
}

/* The host's own target path and health URL, where they differ. */
static void
print_host_strings(const json_t *h, FILE *out)
{
    if (json_object_get(h, "target_path") != NULL)
        fprintf(out, "  %-6s %-16s target %s\n", "", "", str(h, "target_path"));
    if (json_object_get(h, "health_url") != NULL)
        fprintf(out, "  %-6s %-16s health %s\n", "", "", str(h, "health_url"));
}

/* The hazards with their details when the plan has them (meta.hazards). */
static const json_t *
hazard_list(const json_t *doc)
{
    const json_t *det =
        json_object_get(json_object_get(doc, "meta"), "hazards");

    return json_array_size(det) > 0 ? det : json_object_get(doc, "hazards");
}

/* What the probe found on the host: its target now, and its hazards. */
static void
print_host_probe(const json_t *doc, const char *name, const json_t *h,
                 FILE *out)
{
    const json_t *cur = json_object_get(h, "current");
    const json_t *hz;
    size_t i;

    if (strcmp(str(cur, "state"), "probed") == 0 &&
        json_is_true(json_object_get(cur, "exists")))
        fprintf(out, "  %-6s %-16s current sha256 %s\n", "", "",
                str(cur, "sha256")[0] ? str(cur, "sha256") : "(not a file)");
    else if (strcmp(str(cur, "state"), "probed") == 0)
        fprintf(out, "  %-6s %-16s current: no target yet\n", "", "");
    json_array_foreach(hazard_list(doc), i, hz)
    {
        if (strcmp(str(hz, "host"), name) != 0)
            continue;
        fprintf(out, "  %-6s %-16s HAZARD %s", "", "", str(hz, "kind"));
        if (str(hz, "detail")[0] != '\0')
            fprintf(out, ": %s", str(hz, "detail"));
        fputc('\n', out);
    }
}

static void
print_batches(const json_t *doc, FILE *out)
{
    const json_t *hosts = json_object_get(doc, "hosts");
    const json_t *batches = json_object_get(doc, "batches");
    size_t b, i;
    json_t *batch, *name;

    fprintf(out, "\n  %-6s %-16s %-28s %-12s %s\n", "BATCH", "HOST", "ADDRESS",
            "VIA", "STEPS");
    json_array_foreach(batches, b, batch)
    {
        json_array_foreach(json_object_get(batch, "hosts"), i, name)
        {
            const json_t *h = json_object_get(hosts, json_string_value(name));
            char via[32], number[24] = "";

            snprintf(via, sizeof(via), "%s:%" PRIu64, str(h, "transport"),
                     num(h, "port"));
            if (i == 0)
                snprintf(number, sizeof(number), "%zu", b + 1);
            fprintf(out, "  %-6s %-16s %-28s %-12s ", number,
                    json_string_value(name), str(h, "address"), via);
            print_steps(json_object_get(h, "steps"), out);
            fputc('\n', out);
            print_host_strings(h, out);
            print_host_probe(doc, json_string_value(name), h, out);
        }
        if (json_is_true(json_object_get(batch, "gate_after")))
            fprintf(out,
                    "  %-6s then wait for `etxroll continue` or "
                    "`etxroll abort`\n",
                    "");
    }
}

void
etx_plantable_print(const json_t *doc, FILE *out)
{
    const json_t *excl = json_object_get(doc, "excluded_hosts");
    const json_t *meta = json_object_get(doc, "meta");

    fprintf(out, "Plan %s\n", str(doc, "plan_id"));
    fprintf(out, "  fleet      %s (%s), %" PRIu64 " hosts in %zu batches\n",
            str(doc, "fleet"), str(meta, "inventory"),
            (uint64_t)json_object_size(json_object_get(doc, "hosts")),
            json_array_size(json_object_get(doc, "batches")));
    if (strcmp(str(doc, "mode"), "offline") == 0)
        fprintf(out, "  mode       offline: no host was contacted; current "
                     "versions and hazards not probed\n");
    else
        fprintf(out,
                "  mode       probed: %zu hazard(s), listed under their "
                "hosts\n",
                json_array_size(json_object_get(doc, "hazards")));
    print_artifact(json_object_get(doc, "artifact"), out);
    print_target(json_object_get(doc, "target"), per_host(doc, "target_path"),
                 out);
    print_restart(json_object_get(doc, "restart"), out);
    print_health(json_object_get(doc, "health"), per_host(doc, "health_url"),
                 out);
    print_policy(doc, out);
    print_order(json_object_get(doc, "order"), out);
    if (json_array_size(excl) > 0)
        fprintf(out, "  excluded   %zu host(s) left out by only/exclude\n",
                json_array_size(excl));
    print_batches(doc, out);
}
