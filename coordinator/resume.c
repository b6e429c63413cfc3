/* SPDX-License-Identifier: MIT */
/* `etxroll resume ID`: finish or roll back a crashed rollout (resume.h). */
#include "coordinator/resume.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "coordinator/apply.h"
#include "coordinator/batch.h"
#include "coordinator/carrier.h"
#include "coordinator/eventlog.h"
#include "coordinator/journal.h"
#include "coordinator/lock.h"
#include "coordinator/plan.h"
#include "coordinator/rollout.h"
#include "coordinator/rollsum.h"
#include "coordinator/statedir.h"
#include "proto/psk.h"

struct resume_ctx {
    const struct etx_resume_opts *a;
    char state[4096];
    char fleet[256];
    char path[4600];
    char control[4600];
    char inventory[4096]; /* from the start record */
    char sha256[65];      /* from the start record */
    struct etx_rollsum sum;
    struct etx_inventory *inv;
    struct etx_batch_plan *bp;
    struct etx_plan *plan;
    struct etx_psk *psks;
    struct etx_lock *lock;
    struct etx_journal *journal;
    struct etx_eventlog *log;
    bool *swapped; /* per host in rollout order, from the journal */
    bool *healthy;
    char halt[160]; /* the reason of a halt the dead run did not record */
    struct etx_error err;
};

static int
say(const struct etx_error *e, int code)
{
    char line[1200];

    fprintf(stderr, "etxroll resume: %s\n",
            etx_error_format(e, line, sizeof(line)));
    return code;
}

/* The fleet whose rollouts directory holds the journal of c->a->id. */
static int
find_fleet(struct resume_ctx *c)
{
    struct etx_error ignored = {0};
    struct dirent *d = NULL;
    DIR *dir = opendir(c->state);
    int rc = ETX_ERR;

    if (dir == NULL)
        return etx_error_sys(&c->err, errno, ETX_CTX_FILE, "opendir", c->state,
                             "cannot read the state directory");
    while (rc != ETX_OK && (d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.' || strlen(d->d_name) >= sizeof(c->fleet) ||
            etx_journal_locate(c->state, d->d_name, c->a->id, c->path,
                               sizeof(c->path), &ignored) != ETX_OK ||
            access(c->path, F_OK) != 0)
            continue;
        snprintf(c->fleet, sizeof(c->fleet), "%s", d->d_name);
        rc = ETX_OK;
    }
    closedir(dir);
    if (rc != ETX_OK)
        etx_error_set(&c->err, ETX_CLASS_INPUT, ENOENT, "resume", c->a->id,
                      "no rollout with this id in %s", c->state);
    return rc;
}

/* The start record's inventory path and artifact digest. */
static int
start_cb(const json_t *rec, size_t line, void *arg, struct etx_error *err)
{
    struct resume_ctx *c = arg;
    const char *inv = json_string_value(json_object_get(rec, "inventory"));
    const char *sha = json_string_value(json_object_get(rec, "sha256"));

    (void)line;
    if (strcmp(json_string_value(json_object_get(rec, "kind")), "rollout") !=
            0 ||
        json_string_value(json_object_get(rec, "event")) == NULL ||
        strcmp(json_string_value(json_object_get(rec, "event")), "start") != 0)
        return ETX_OK;
    if (inv == NULL || sha == NULL || strlen(sha) != 64)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "resume", c->path,
                             "the start record names no inventory and "
                             "artifact digest (a journal of an older etxroll)");
    snprintf(c->inventory, sizeof(c->inventory), "%s", inv);
    memcpy(c->sha256, sha, 65);
    return ETX_OK;
}

static int
read_journal(struct resume_ctx *c)
{
    if (etx_rollsum_fold(c->path, &c->sum, &c->err) != ETX_OK ||
        etx_journal_replay(c->path, start_cb, c, NULL, &c->err) != ETX_OK)
        return say(&c->err, ETX_EXIT_USAGE);
    if (c->sha256[0] == '\0') {
        etx_error_set(&c->err, ETX_CLASS_INPUT, 0, "resume", c->path,
                      "the journal has no start record");
        return say(&c->err, ETX_EXIT_USAGE);
    }
    if (c->a->rollback && c->sum.status != ETX_ROLLSUM_DONE) {
        fprintf(stderr,
                "etxroll rollback: rollout %s is %s: only a rollout that "
                "ended done is put back (use `etxroll resume %s`)\n",
                c->a->id, etx_rollsum_status_name(c->sum.status), c->a->id);
        return ETX_EXIT_USAGE;
    }
    if (!c->a->rollback && etx_rollsum_status_is_ended(c->sum.status)) {
        fprintf(stderr,
                "etxroll resume: rollout %s already ended (%s): nothing "
                "to resume\n",
                c->a->id, etx_rollsum_status_name(c->sum.status));
        return ETX_EXIT_USAGE;
    }
    return ETX_EXIT_DONE;
}

/* The holder is the dead coordinator of this rollout, on this host. */
static bool
holder_is_dead_self(const struct resume_ctx *c, const struct etx_lock_holder *h)
{
    char me[256] = {0};

    if (strcmp(h->rollout, c->a->id) != 0 ||
        gethostname(me, sizeof(me) - 1) != 0 || strcmp(h->host, me) != 0 ||
        h->pid <= 0)
        return false;
    return kill((pid_t)h->pid, 0) != 0 && errno == ESRCH;
}

/* Take the fleet lock, or take it over from this rollout's dead run. */
static int
take_lock(struct resume_ctx *c)
{
    struct etx_lock_holder h = {0};
    struct etx_error why = {0};
    bool held = false;

    if (etx_lock_acquire(c->state, c->fleet, c->a->id, "resume", &c->lock,
                         &why) == ETX_OK)
        return ETX_OK;
    if (why.cls != ETX_CLASS_CONFLICT ||
        etx_lock_show(c->state, c->fleet, &h, &held, &c->err) != ETX_OK ||
        !held || !holder_is_dead_self(c, &h)) {
        c->err = why;
        return ETX_ERR;
    }
    printf("taking over the lock %s of rollout %s (pid %ld is gone)\n",
           h.lock_id, h.rollout, h.pid);
    if (etx_lock_break(c->state, c->fleet, h.lock_id, &c->err) != ETX_OK)
        return ETX_ERR;
    return etx_lock_acquire(c->state, c->fleet, c->a->id, "resume", &c->lock,
                            &c->err);
}

static int
load_keys(struct resume_ctx *c)
{
    c->swapped = calloc(c->bp->n_order ? c->bp->n_order : 1, sizeof(bool));
    c->healthy = calloc(c->bp->n_order ? c->bp->n_order : 1, sizeof(bool));
    if (c->swapped == NULL || c->healthy == NULL)
        return etx_error_sys(&c->err, ENOMEM, ETX_CTX_FILE, "key", NULL,
                             "out of memory");
    c->psks =
        etx_carrier_load_keys(c->inv, c->bp->order, c->bp->n_order, &c->err);
    return c->psks != NULL ? ETX_OK : ETX_ERR;
}

static const char *
plan_sha(const struct etx_plan *p)
{
    const json_t *art = json_object_get(etx_plan_json(p), "artifact");

    return json_string_value(json_object_get(art, "sha256"));
}

/* The same hosts in the same order, and the same artifact, as recorded. */
static int
check_same(struct resume_ctx *c)
{
    const char *sha = plan_sha(c->plan);
    size_t i;

    if (sha == NULL || strcmp(sha, c->sha256) != 0)
        return etx_error_set(&c->err, ETX_CLASS_INPUT, 0, "resume",
                             c->inventory,
                             "the artifact changed since the rollout started "
                             "(sha256 %s, journal %s)",
                             sha != NULL ? sha : "unknown", c->sha256);
    if (c->sum.n_hosts != c->bp->n_order)
        return etx_error_set(&c->err, ETX_CLASS_INPUT, 0, "resume",
                             c->inventory,
                             "the inventory now selects %zu host(s), the "
                             "journal %zu",
                             c->bp->n_order, c->sum.n_hosts);
    for (i = 0; i < c->bp->n_order; i++) {
        if (strcmp(c->sum.hosts[i].name, c->inv->hosts[c->bp->order[i]].name) !=
            0)
            return etx_error_set(
                &c->err, ETX_CLASS_INPUT, 0, "resume", c->inventory,
                "host %zu is now %s, the journal has %s", i + 1,
                c->inv->hosts[c->bp->order[i]].name, c->sum.hosts[i].name);
        c->swapped[i] = c->sum.hosts[i].reached_swapped;
        c->healthy[i] = c->sum.hosts[i].state == ETX_HOST_HEALTHY;
    }
    return ETX_OK;
}

/* Reload and check the inventory: exit 2, or 4 when it changed. */
static int
prepare(struct resume_ctx *c)
{
    struct etx_plan_opts po = {.offline = true};

    if (etx_inventory_load(c->inventory, &c->inv, &c->err) != ETX_OK ||
        etx_batch_plan_new(c->inv, &c->bp, &c->err) != ETX_OK ||
        etx_plan_build(c->inv, &po, &c->plan, &c->err) != ETX_OK ||
        load_keys(c) != ETX_OK)
        return say(&c->err, ETX_EXIT_USAGE);
    if (check_same(c) != ETX_OK)
        return say(&c->err, ETX_EXIT_STALE);
    return ETX_EXIT_DONE;
}

/*
 * A running rollout with more failed hosts than max_failures: the dead
 * run was about to halt (it died between a host's failure and the halt
 * record), so the resume halts; the reason goes to c->halt.
 */
static bool
past_max_failures(struct resume_ctx *c)
{
    size_t i, failed = 0;

    for (i = 0; i < c->sum.n_hosts; i++)
        failed += c->sum.hosts[i].state == ETX_HOST_FAILED;
    if (c->sum.status != ETX_ROLLSUM_RUNNING || failed <= c->bp->max_failures)
        return false;
    snprintf(c->halt, sizeof(c->halt),
             "%zu host(s) had failed before the coordinator died (%u "
             "tolerated)",
             failed, c->bp->max_failures);
    return true;
}

static void
fill_resume(struct resume_ctx *c, struct etx_rollout_resume *rs)
{
    size_t i, done;

    if (!c->a->rollback && past_max_failures(c))
        rs->halt = c->halt;
    rs->rollback = c->a->rollback || c->sum.status == ETX_ROLLSUM_HALTING ||
                   c->sum.status == ETX_ROLLSUM_ROLLING_BACK ||
                   rs->halt != NULL;
    rs->batch = c->sum.batch > 0 ? (size_t)c->sum.batch : 0;
    done = rs->batch > 0 && !c->sum.batch_done ? rs->batch - 1 : rs->batch;
    if (c->sum.gate_batch > 0 && (size_t)c->sum.gate_batch == done)
        done--; /* its gate still waits for an answer */
    rs->batches_done = done;
    rs->swapped = c->swapped;
    rs->healthy = c->healthy;
    for (i = 0; i < c->sum.n_hosts; i++)
        rs->rollback_failed = rs->rollback_failed ||
                              c->sum.hosts[i].state == ETX_HOST_ROLLBACK_FAILED;
}

static int
run(struct resume_ctx *c)
{
    static const int codes[] = {ETX_EXIT_DONE, ETX_EXIT_HALTED, ETX_EXIT_HALTED,
                                ETX_EXIT_INCOMPLETE};
    struct etx_rollout_resume rs = {0};
    struct etx_rollout_opts o = {0};
    enum etx_rollout_result res = ETX_ROLLOUT_HALTED;
    json_t *art = json_object_get(etx_plan_json(c->plan), "artifact");
    uv_loop_t loop;
    int rc;

    if (take_lock(c) != ETX_OK ||
        etx_journal_open(c->state, c->fleet, c->a->id, &c->journal, &c->err) !=
            ETX_OK ||
        etx_apply_control_path(c->state, c->fleet, c->a->id, c->control,
                               sizeof(c->control), &c->err) != ETX_OK ||
        etx_eventlog_open(c->a->log_json, c->a->id, stdout, &c->log, &c->err) !=
            ETX_OK)
        return say(&c->err, ETX_EXIT_HALTED);
    fill_resume(c, &rs);
    printf("resuming rollout %s of fleet %s (%s): %s\njournal: %s\n", c->a->id,
           c->fleet, etx_rollsum_status_name(c->sum.status),
           rs.rollback ? "putting back every host that reached swapped"
                       : "probing the hosts, then going on",
           etx_journal_path(c->journal));
    if (uv_loop_init(&loop) != 0) {
        etx_error_set(&c->err, ETX_CLASS_INTERNAL, 0, "resume", NULL,
                      "cannot start the event loop");
        return say(&c->err, ETX_EXIT_HALTED);
    }
    o = (struct etx_rollout_opts){.loop = &loop,
                                  .inv = c->inv,
                                  .bp = c->bp,
                                  .journal = c->journal,
                                  .log = c->log,
                                  .plan_id = c->sum.plan_id,
                                  .sha256 = c->sha256,
                                  .psks = c->psks,
                                  .control_path = c->control,
                                  .inventory_path = c->inventory,
                                  .resume = &rs};
    o.size = (uint64_t)json_integer_value(json_object_get(art, "size"));
    rc = etx_rollout_run(&o, stdout, &res, &c->err);
    uv_loop_close(&loop);
    if (rc != ETX_OK)
        return say(&c->err, ETX_EXIT_HALTED);
    if (c->a->rollback && res == ETX_ROLLOUT_ROLLED_BACK)
        return ETX_EXIT_DONE;
    return codes[res];
}

static void
cleanup(struct resume_ctx *c)
{
    if (c->lock != NULL && etx_lock_release(c->lock, &c->err) != ETX_OK)
        say(&c->err, ETX_EXIT_HALTED);
    etx_eventlog_close(c->log);
    etx_journal_close(c->journal);
    if (c->inv != NULL)
        etx_carrier_free_keys(c->psks, c->inv->n_hosts);
    free(c->swapped);
    free(c->healthy);
    etx_plan_free(c->plan);
    etx_batch_plan_free(c->bp);
    etx_inventory_free(c->inv);
    etx_rollsum_clear(&c->sum);
}

int
etx_resume_run(const struct etx_resume_opts *a)
{
    struct resume_ctx *c = calloc(1, sizeof(*c));
    int code = ETX_EXIT_USAGE;

    if (c == NULL) {
        fprintf(stderr, "etxroll resume: out of memory\n");
        return ETX_EXIT_HALTED;
    }
    c->a = a;
    if (etx_statedir_resolve(a->state_dir, geteuid(), c->state,
                             sizeof(c->state), &c->err) != ETX_OK ||
        find_fleet(c) != ETX_OK)
        code = say(&c->err, ETX_EXIT_USAGE);
    else
        code = read_journal(c);
    if (code == ETX_EXIT_DONE)
        code = prepare(c);
    if (code == ETX_EXIT_DONE)
        code = run(c);
    cleanup(c);
    free(c);
    return code;
}
