/* SPDX-License-Identifier: MIT */
/*
 * The rollout's event log on real files: one JSON object per line with the
 * rollout id, host, event, message and the caller's fields; the line for
 * people; no progress line when the output is not a terminal; a JSON path
 * that cannot be opened is an error naming it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "coordinator/eventlog.h"

struct fixture {
    char dir[64];
    char json[128];
    char human[128];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-eventlog.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->json, sizeof(f->json), "%s/log.jsonl", f->dir);
    snprintf(f->human, sizeof(f->human), "%s/out.txt", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    unlink(f->json);
    unlink(f->human);
    rmdir(f->dir);
    free(f);
    return 0;
}

static char *
slurp(const char *path)
{
    static char buf[4096];
    FILE *fp = fopen(path, "r");
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void
test_eventlog_emit_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_eventlog *l = NULL;
    struct etx_error err = {0};
    FILE *human = fopen(f->human, "w");
    json_error_t jerr;
    json_t *ev = NULL;

    assert_non_null(human);
    assert_int_equal(etx_eventlog_open(f->json, "R-1", human, &l, &err),
                     ETX_OK);
    assert_false(etx_eventlog_is_tty(l));
    etx_eventlog_emit(l, "web1", "retry", json_pack("{si}", "attempt", 2),
                      "retrying %s in %d ms", "restart", 350);
    etx_eventlog_progress(l, "[batch 1/2]");
    etx_eventlog_record(l, NULL, "intent", NULL, "stage");
    etx_eventlog_close(l);
    fclose(human);
    assert_string_equal(slurp(f->human), "web1         retrying restart in "
                                         "350 ms\n");
    ev = json_loads(slurp(f->json), JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "rollout")),
                        "R-1");
    assert_string_equal(json_string_value(json_object_get(ev, "host")), "web1");
    assert_string_equal(json_string_value(json_object_get(ev, "event")),
                        "retry");
    assert_string_equal(json_string_value(json_object_get(ev, "message")),
                        "retrying restart in 350 ms");
    assert_int_equal(json_integer_value(json_object_get(ev, "attempt")), 2);
    assert_non_null(json_object_get(ev, "ts"));
    json_decref(ev);
    assert_non_null(strstr(slurp(f->json), "\"event\":\"intent\""));
}

static void
test_eventlog_open_missing_dir(void **state)
{
    struct fixture *f = *state;
    struct etx_eventlog *l = NULL;
    struct etx_error err = {0};
    char path[160];

    snprintf(path, sizeof(path), "%s/no/such/log.jsonl", f->dir);
    assert_int_equal(etx_eventlog_open(path, "R-1", NULL, &l, &err), ETX_ERR);
    assert_null(l);
    assert_string_equal(err.where, path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eventlog_emit_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eventlog_open_missing_dir, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
