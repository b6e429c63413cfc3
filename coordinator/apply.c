/* SPDX-License-Identifier: MIT */
/* `etxroll apply`: set up one rollout, run it, clean up (apply.h). */
#include "coordinator/apply.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "coordinator/batch.h"
#include "coordinator/carrier.h"
#include "coordinator/eventlog.h"
#include "coordinator/journal.h"
#include "coordinator/lock.h"
#include "coordinator/plan.h"
#include "coordinator/rollout.h"
#include "coordinator/statedir.h"
#include "proto/digest.h"
#include "proto/psk.h"

struct apply_ctx {
    struct etx_inventory *inv;
    struct etx_batch_plan *bp;
    struct etx_plan *plan;
    json_t *saved; /* a saved plan given instead of an inventory */
    struct etx_psk *psks;
    struct etx_lock *lock;
    struct etx_journal *journal;
    struct etx_eventlog *log;
    char state[4096];
    char id[ETX_JOURNAL_ID_MAX];
    char control[4600];
    const char *inventory_arg; /* for the start record (resume) */
    char inventory_abs[PATH_MAX];
    struct etx_error err;
};

static int
say(const struct etx_error *e, int code)
{
    char line[1200];

    fprintf(stderr, "etxroll apply: %s\n",
            etx_error_format(e, line, sizeof(line)));
    return code;
}

int
etx_apply_control_path(const char *state, const char *fleet, const char *id,
                       char *buf, size_t len, struct etx_error *err)
{
    char path[4600];
    size_t n;

    if (etx_journal_locate(state, fleet, id, path, sizeof(path), err) != ETX_OK)
        return ETX_ERR;
    n = strlen(path) - strlen(".jsonl");
    if ((size_t)snprintf(buf, len, "%.*s.control", (int)n, path) >= len)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "control", path,
                             "path too long");
    return ETX_OK;
}

/*
 * Only per-host rollouts are built: refuse shared-storage groups (one
 * flip per group, DESIGN "Shared storage") and blue-green cutovers before
 * any work, rather than run them as if they were ordinary hosts.
 */
static int
check_strategies(struct apply_ctx *c)
{
    if (c->inv->n_storage_groups > 0)
        return etx_error_set(&c->err, ETX_CLASS_INPUT, 0, "storage_groups",
                             c->inv->path,
                             "shared-storage rollouts are not built yet: "
                             "remove storage_groups to roll hosts one by one");
    if (c->inv->blue_green.enabled)
        return etx_error_set(&c->err, ETX_CLASS_INPUT, 0, "blue_green",
                             c->inv->path,
                             "blue-green cutovers are not built yet");
    return ETX_OK;
}

static int
load_keys(struct apply_ctx *c)
{
    c->psks =
        etx_carrier_load_keys(c->inv, c->bp->order, c->bp->n_order, &c->err);
    return c->psks != NULL ? ETX_OK : ETX_ERR;
}

/* A saved plan: its id must match its content; it names the inventory
 * to plan again and whether hosts were probed. */
static int
load_saved(struct apply_ctx *c, const char *path, const char **inv,
           bool *offline)
{
    const char *id = NULL, *mode = NULL;
    char now[ETX_DIGEST_HEX_LEN + 1];

    if (etx_plan_load(path, &c->saved, &c->err) != ETX_OK ||
        etx_plan_compute_id(c->saved, now, &c->err) != ETX_OK)
        return say(&c->err, ETX_EXIT_USAGE);
    id = json_string_value(json_object_get(c->saved, "plan_id"));
    if (id == NULL || strcmp(id, now) != 0) {
        fprintf(stderr,
                "etxroll apply: stale plan: the plan file was "
                "changed after it was made (%s: its content has id "
                "%s, not %s)\n",
                path, now, id != NULL ? id : "(none)");
        return ETX_EXIT_STALE;
    }
    *inv = json_string_value(
        json_object_get(json_object_get(c->saved, "meta"), "inventory"));
    mode = json_string_value(json_object_get(c->saved, "mode"));
    *offline = mode == NULL || strcmp(mode, "offline") == 0;
    if (*inv != NULL)
        return ETX_EXIT_DONE;
    etx_error_set(&c->err, ETX_CLASS_INPUT, 0, "plan", path,
                  "the plan names no inventory (meta.inventory)");
    return say(&c->err, ETX_EXIT_USAGE);
}

/* The saved plan against the one made now: exit 4 naming what changed. */
static int
check_saved(struct apply_ctx *c, const char *path)
{
    char what[1024];

    if (strcmp(json_string_value(json_object_get(c->saved, "plan_id")),
               etx_plan_id(c->plan)) == 0)
        return ETX_EXIT_DONE;
    etx_plan_diff(c->saved, etx_plan_json(c->plan), what, sizeof(what));
    fprintf(stderr,
            "etxroll apply: stale plan: %s no longer matches the inventory, "
            "the artifact or the hosts; changed: %s (plan id now %s); make "
            "and review a new plan\n",
            path, what, etx_plan_id(c->plan));
    return ETX_EXIT_STALE;
}

/* Load, plan, check: every refusal here is exit 2 or 4. */
static int
prepare(struct apply_ctx *c, const struct etx_apply_opts *a)
{
    struct etx_plan_opts po = {.offline = true};
    const char *inv = a->inventory;
    int code;

    if (etx_plan_is_plan_file(a->inventory) &&
        (code = load_saved(c, a->inventory, &inv, &po.offline)) !=
            ETX_EXIT_DONE)
        return code;
    c->inventory_arg = inv; /* recorded for resume */
    if (etx_inventory_load(inv, &c->inv, &c->err) != ETX_OK ||
        etx_batch_plan_new(c->inv, &c->bp, &c->err) != ETX_OK ||
        check_strategies(c) != ETX_OK ||
        etx_plan_build(c->inv, &po, &c->plan, &c->err) != ETX_OK)
        return say(&c->err, ETX_EXIT_USAGE);
    if (c->saved != NULL &&
        (code = check_saved(c, a->inventory)) != ETX_EXIT_DONE)
        return code;
    if (a->expect_plan_id != NULL &&
        strcmp(a->expect_plan_id, etx_plan_id(c->plan)) != 0) {
        fprintf(stderr,
                "etxroll apply: stale plan: expected plan id %s, but the "
                "inventory and artifact now plan %s; review with `etxroll "
                "plan %s`\n",
                a->expect_plan_id, etx_plan_id(c->plan), inv);
        return ETX_EXIT_STALE;
    }
    if (load_keys(c) != ETX_OK ||
        etx_statedir_resolve(a->state_dir, geteuid(), c->state,
                             sizeof(c->state), &c->err) != ETX_OK)
        return say(&c->err, ETX_EXIT_USAGE);
    return ETX_EXIT_DONE;
}

/* Lock, journal, log: failures here are runtime failures (exit 1). */
static int
open_run(struct apply_ctx *c, const struct etx_apply_opts *a)
{
    if (etx_journal_new_id(c->id, sizeof(c->id), &c->err) != ETX_OK)
        return say(&c->err, ETX_EXIT_HALTED);
    if (etx_lock_acquire(c->state, c->inv->fleet, c->id, a->message, &c->lock,
                         &c->err) != ETX_OK)
        return say(&c->err, ETX_EXIT_HALTED);
    if (etx_journal_create(c->state, c->inv->fleet, c->id, &c->journal,
                           &c->err) != ETX_OK ||
        etx_apply_control_path(c->state, c->inv->fleet, c->id, c->control,
                               sizeof(c->control), &c->err) != ETX_OK ||
        etx_eventlog_open(a->log_json, c->id, stdout, &c->log, &c->err) !=
            ETX_OK)
        return say(&c->err, ETX_EXIT_HALTED);
    return ETX_EXIT_DONE;
}

static const char *
artifact_sha(const struct etx_plan *p, uint64_t *size)
{
    const json_t *art = json_object_get(etx_plan_json(p), "artifact");
    const json_t *sz = json_object_get(art, "size");

    *size = json_is_integer(sz) ? (uint64_t)json_integer_value(sz) : 0;
    return json_string_value(json_object_get(art, "sha256"));
}

static int
run(struct apply_ctx *c)
{
    static const int codes[] = {ETX_EXIT_DONE, ETX_EXIT_HALTED, ETX_EXIT_HALTED,
                                ETX_EXIT_INCOMPLETE};
    struct etx_rollout_opts o = {0};
    enum etx_rollout_result res = ETX_ROLLOUT_HALTED;
    uv_loop_t loop;
    int rc;

    printf("rollout %s of fleet %s: %zu host(s) in %zu batch(es), plan %s\n"
           "journal: %s\n",
           c->id, c->inv->fleet, c->bp->n_order, c->bp->n_batches,
           etx_plan_id(c->plan), etx_journal_path(c->journal));
    o.sha256 = artifact_sha(c->plan, &o.size);
    if (o.sha256 == NULL || uv_loop_init(&loop) != 0) {
        etx_error_set(&c->err, ETX_CLASS_INTERNAL, 0, "apply", NULL,
                      "cannot start the event loop or read the digest");
        return say(&c->err, ETX_EXIT_HALTED);
    }
    o.loop = &loop;
    o.inv = c->inv;
    o.bp = c->bp;
    o.journal = c->journal;
    o.log = c->log;
    o.plan_id = etx_plan_id(c->plan);
    o.psks = c->psks;
    o.control_path = c->control;
    o.inventory_path = realpath(c->inventory_arg, c->inventory_abs);
    rc = etx_rollout_run(&o, stdout, &res, &c->err);
    uv_loop_close(&loop);
    if (rc != ETX_OK)
        return say(&c->err, ETX_EXIT_HALTED);
    return codes[res];
}

static void
cleanup(struct apply_ctx *c)
{
    if (c->lock != NULL && etx_lock_release(c->lock, &c->err) != ETX_OK)
        say(&c->err, ETX_EXIT_HALTED);
    etx_eventlog_close(c->log);
    etx_journal_close(c->journal);
    if (c->inv != NULL)
        etx_carrier_free_keys(c->psks, c->inv->n_hosts);
    etx_plan_free(c->plan);
    json_decref(c->saved);
    etx_batch_plan_free(c->bp);
    etx_inventory_free(c->inv);
}

int
etx_apply_run(const struct etx_apply_opts *a)
{
    struct apply_ctx *c = calloc(1, sizeof(*c));
    int code;

    if (c == NULL) {
        fprintf(stderr, "etxroll apply: out of memory\n");
        return ETX_EXIT_HALTED;
    }
    code = prepare(c, a);
    if (code == ETX_EXIT_DONE)
        code = open_run(c, a);
    if (code == ETX_EXIT_DONE)
        code = run(c);
    cleanup(c);
    free(c);
    return code;
}
