/* SPDX-License-Identifier: MIT */
/*
 * The rollout summary on real journals: the fold of a long run, of a
 * rollback story, of ended runs and waiting gates, corruption reported by
 * line, and the listing of a fleet's rollouts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/journal.h"
#include "coordinator/rollsum.h"

#include "tests/unit/testutil.h"

#define ID "20261126T143501Z-0badcafe"

struct fixture {
    char root[64];
    char path[PATH_MAX];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (etx_test_tmpdir(f->root, sizeof(f->root), "rollsum") != 0)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/web/rollouts/%s.jsonl", f->root, ID);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    etx_test_rmtree(f->root);
    free(f);
    return 0;
}

/* Append records given as JSON texts, each synced; all must go. */
static void
append_all(struct etx_journal *j, const char *const *recs, size_t n)
{
    struct etx_error err = {0};
    json_t *rec = NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        rec = json_loads(recs[i], 0, NULL);
        assert_non_null(rec);
        if (etx_journal_append(j, rec, true, &err) != ETX_OK)
            fail_msg("append %s: %s", recs[i], err.msg);
        json_decref(rec);
    }
}

/*
 * Create the journal of rollout 'id' in fleet "web" holding 'recs'. Returns
 * it still open, for more records: etx_journal_close() it.
 */
static struct etx_journal *
story(const char *root, const char *id, const char *const *recs, size_t n)
{
    struct etx_journal *j = NULL;
    struct etx_error err = {0};

    if (etx_journal_create(root, "web", id, &j, &err) != ETX_OK)
        fail_msg("create: %s", err.msg);
    append_all(j, recs, n);
    return j;
}

/* Add bytes at the end of the file at 'path' (damage after the fact). */
static void
append_text(const char *path, const char *text)
{
    size_t len = strlen(text);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* A rollout of one host "a" that starts, then ends done. */
static const char *const start_done[] = {
    "{\"kind\":\"rollout\",\"event\":\"start\",\"hosts\":[\"a\"]}",
    "{\"kind\":\"rollout\",\"event\":\"end\",\"result\":\"done\"}",
};

static void
test_rollsum_fold_many_records(void **state)
{
    static const char *const bare[] = {
        "{\"kind\":\"rollout\",\"event\":\"start\"}",
    };
    struct fixture *f = *state;
    struct etx_rollsum s;
    struct etx_error err = {0};
    struct etx_journal *j = story(f->root, ID, bare, 1);
    json_t *rec = NULL;
    char host[32];
    int i;

    for (i = 0; i < 999; i++) {
        snprintf(host, sizeof(host), "host%03d", i % 100);
        rec = json_pack("{s:s,s:s,s:s,s:s,s:i}", "kind", "intent", "host", host,
                        "step", "stage", "state", "staging", "attempt",
                        i / 100 + 1);
        assert_int_equal(etx_journal_append(j, rec, i % 10 == 0, &err), ETX_OK);
        json_decref(rec);
    }
    etx_journal_close(j);
    assert_int_equal(etx_rollsum_fold(f->path, &s, &err), ETX_OK);
    assert_int_equal(s.records, 1000);
    assert_int_equal(s.n_hosts, 100);
    assert_int_equal(s.hosts[42].state, ETX_HOST_STAGING);
    assert_true(s.hosts[42].in_flight);
    etx_rollsum_clear(&s);
}

static const char *const rollback_story[] = {
    "{\"kind\":\"rollout\",\"event\":\"start\",\"fleet\":\"web\","
    "\"plan_id\":\"p1\",\"batches\":2,\"hosts\":[\"a\",\"b\",\"c\"]}",
    "{\"kind\":\"batch\",\"event\":\"start\",\"batch\":1}",
    "{\"kind\":\"intent\",\"host\":\"a\",\"step\":\"stage\","
    "\"state\":\"staging\",\"batch\":1}",
    "{\"kind\":\"outcome\",\"host\":\"a\",\"step\":\"stage\","
    "\"state\":\"staged\"}",
    "{\"kind\":\"outcome\",\"host\":\"a\",\"step\":\"verify\","
    "\"state\":\"verified\"}",
    "{\"kind\":\"intent\",\"host\":\"a\",\"step\":\"swap\","
    "\"state\":\"verified\"}",
    "{\"kind\":\"outcome\",\"host\":\"a\",\"step\":\"swap\","
    "\"state\":\"swapped\"}",
    "{\"kind\":\"probe\",\"host\":\"a\",\"state\":\"healthy\"}",
    "{\"kind\":\"batch\",\"event\":\"done\",\"batch\":1}",
    "{\"kind\":\"gate\",\"event\":\"wait\",\"batch\":1}",
    "{\"kind\":\"gate\",\"event\":\"continue\",\"batch\":1}",
    "{\"kind\":\"batch\",\"event\":\"start\",\"batch\":2}",
    "{\"kind\":\"intent\",\"host\":\"b\",\"step\":\"stage\","
    "\"state\":\"staging\",\"batch\":2}",
    "{\"kind\":\"outcome\",\"host\":\"b\",\"step\":\"stage\","
    "\"state\":\"failed\",\"error\":{\"op\":\"open\",\"path\":\"/srv/app\","
    "\"errno\":28,\"errno_name\":\"ENOSPC\",\"class\":\"placement\","
    "\"message\":\"no space\",\"attempt\":1,\"waited_ms\":0,"
    "\"holders\":[]}}",
    "{\"kind\":\"rollout\",\"event\":\"halt\",\"reason\":\"b failed\"}",
    "{\"kind\":\"rollout\",\"event\":\"rollback\"}",
    "{\"kind\":\"intent\",\"host\":\"a\",\"step\":\"rollback\","
    "\"state\":\"rolling_back\"}",
    "{\"kind\":\"mystery\",\"x\":1}",
};

static void
test_rollsum_fold_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_rollsum s;
    struct etx_error err = {0};

    etx_journal_close(
        story(f->root, ID, rollback_story,
              sizeof(rollback_story) / sizeof(rollback_story[0])));
    assert_int_equal(etx_rollsum_fold(f->path, &s, &err), ETX_OK);
    assert_string_equal(s.rollout, ID);
    assert_string_equal(s.fleet, "web");
    assert_string_equal(s.plan_id, "p1");
    assert_int_equal(s.records, 18);
    assert_int_equal(s.status, ETX_ROLLSUM_ROLLING_BACK);
    assert_string_equal(s.reason, "b failed");
    assert_int_equal(s.batches, 2);
    assert_int_equal(s.batch, 2);
    assert_false(s.batch_done);
    assert_int_equal(s.gate_batch, 0);
    assert_int_equal(s.n_hosts, 3);
    assert_string_equal(s.hosts[0].name, "a");
    assert_int_equal(s.hosts[0].state, ETX_HOST_ROLLING_BACK);
    assert_true(s.hosts[0].reached_swapped);
    assert_true(s.hosts[0].in_flight);
    assert_string_equal(s.hosts[0].step, "rollback");
    assert_int_equal(s.hosts[0].batch, 1);
    assert_int_equal(s.hosts[1].state, ETX_HOST_FAILED);
    assert_false(s.hosts[1].reached_swapped);
    assert_false(s.hosts[1].in_flight);
    assert_string_equal(s.hosts[1].error,
                        "open /srv/app: no space [ENOSPC, placement]");
    assert_int_equal(s.hosts[2].state, ETX_HOST_PENDING);
    assert_true(strcmp(s.started, s.updated) <= 0);
    etx_rollsum_clear(&s);
    assert_null(s.hosts);
}

static void
test_rollsum_fold_end_and_gate(void **state)
{
    static const char *const recs[] = {
        "{\"kind\":\"rollout\",\"event\":\"start\",\"hosts\":[\"a\"]}",
        "{\"kind\":\"batch\",\"event\":\"start\",\"batch\":1}",
        "{\"kind\":\"batch\",\"event\":\"done\",\"batch\":1}",
        "{\"kind\":\"gate\",\"event\":\"wait\",\"batch\":1}",
    };
    static const char *const more[] = {
        "{\"kind\":\"gate\",\"event\":\"abort\",\"batch\":1}",
        "{\"kind\":\"rollout\",\"event\":\"end\",\"result\":\"halted\"}",
    };
    struct fixture *f = *state;
    struct etx_rollsum s;
    struct etx_error err = {0};
    struct etx_journal *j = NULL;

    etx_journal_close(story(f->root, ID, recs, sizeof(recs) / sizeof(recs[0])));
    assert_int_equal(etx_rollsum_fold(f->path, &s, &err), ETX_OK);
    assert_int_equal(s.status, ETX_ROLLSUM_RUNNING);
    assert_int_equal(s.gate_batch, 1);
    assert_true(s.batch_done);
    etx_rollsum_clear(&s);
    assert_int_equal(etx_journal_open(f->root, "web", ID, &j, &err), ETX_OK);
    append_all(j, more, 2);
    etx_journal_close(j);
    assert_int_equal(etx_rollsum_fold(f->path, &s, &err), ETX_OK);
    assert_int_equal(s.gate_batch, 0);
    assert_int_equal(s.status, ETX_ROLLSUM_HALTED);
    assert_true(etx_rollsum_status_is_ended(s.status));
    assert_string_equal(etx_rollsum_status_name(s.status), "halted");
    etx_rollsum_clear(&s);
}

/* Fold a two-record story whose second record is 'second'. */
static void
expect_fold_error(struct fixture *f, const char *second, const char *words)
{
    const char *recs[2] = {start_done[0], second};
    struct etx_rollsum s;
    struct etx_error err = {0};
    char where[PATH_MAX + 32];

    unlink(f->path);
    etx_journal_close(story(f->root, ID, recs, 2));
    assert_int_equal(etx_rollsum_fold(f->path, &s, &err), ETX_ERR);
    snprintf(where, sizeof(where), "%s:2", f->path);
    assert_string_equal(err.where, where);
    if (strstr(err.msg, words) == NULL)
        fail_msg("'%s' lacks '%s'", err.msg, words);
    assert_int_equal(s.n_hosts, 0);
}

static void
test_rollsum_fold_hostile(void **state)
{
    struct fixture *f = *state;

    expect_fold_error(f,
                      "{\"kind\":\"outcome\",\"host\":\"a\",\"step\":"
                      "\"check\",\"state\":\"healthy\"}",
                      "host a cannot go from pending to healthy");
    expect_fold_error(f,
                      "{\"kind\":\"intent\",\"host\":\"a\",\"step\":"
                      "\"rollback\",\"state\":\"rolling_back\"}",
                      "cannot go from pending to rolling_back");
    expect_fold_error(f, "{\"kind\":\"intent\",\"host\":\"a\"}", "state");
    expect_fold_error(f, "{\"kind\":\"rollout\",\"event\":\"explode\"}",
                      "unknown rollout event");
    expect_fold_error(f,
                      "{\"kind\":\"rollout\",\"event\":\"end\","
                      "\"result\":\"running\"}",
                      "unknown result");
    expect_fold_error(f, "{\"kind\":\"batch\",\"event\":\"start\"}", "batch");
    expect_fold_error(f,
                      "{\"kind\":\"batch\",\"event\":\"start\","
                      "\"batch\":-1}",
                      "not a count");
    expect_fold_error(f, "{\"kind\":\"gate\",\"event\":\"open\",\"batch\":1}",
                      "unknown gate event");
}

static void
test_rollsum_list_ok(void **state)
{
    static const char *const ids[] = {
        "20261126T100000Z-00000002",
        "20261125T100000Z-00000001",
        "20261127T100000Z-00000003",
    };
    struct fixture *f = *state;
    struct etx_rollsum_entry *e = NULL;
    struct etx_error err = {0};
    char path[PATH_MAX];
    size_t i, n = 0;

    assert_int_equal(etx_rollsum_list(f->root, "web", &e, &n, &err), ETX_OK);
    assert_int_equal(n, 0);
    assert_null(e);
    for (i = 0; i < 3; i++)
        etx_journal_close(story(f->root, ids[i], start_done, i == 1 ? 2 : 1));
    snprintf(path, sizeof(path), "%s/web/rollouts/%s.jsonl", f->root, ids[2]);
    append_text(path, "\nxx\n");
    assert_int_equal(etx_rollsum_list(f->root, "web", &e, &n, &err), ETX_OK);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].id, ids[1]);
    assert_int_equal(e[0].status, ETX_ROLLSUM_DONE);
    assert_int_equal(e[0].n_hosts, 1);
    assert_string_equal(e[1].id, ids[0]);
    assert_int_equal(e[1].status, ETX_ROLLSUM_RUNNING);
    assert_int_equal(strlen(e[1].started), 24);
    assert_true(e[2].corrupt);
    assert_non_null(strstr(e[2].error, ":2: corrupt journal"));
    free(e);
}
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_rollsum_fold_many_records), T(test_rollsum_fold_ok),
        T(test_rollsum_fold_end_and_gate), T(test_rollsum_fold_hostile),
        T(test_rollsum_list_ok),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
