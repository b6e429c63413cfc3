/* SPDX-License-Identifier: MIT */
/*
 * Offline plans: the id is stable under comments, blank lines and key
 * order, and changes with any value or with the artifact's bytes; the
 * canary goes first; the JSON has what machines read; saving is whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/inventory.h"
#include "coordinator/plan.h"
#include "coordinator/plantable.h"

struct ctx {
    char dir[64];
    char inv[128];
    char artifact[128];
};

static const char base_inventory[] =
    "version: 1\n"
    "fleet: web\n"
    "defaults:\n"
    "  transport: {kind: agent, port: 7420, key_file: fleet.key}\n"
    "hosts:\n"
    "  web1: {address: web1.prod.example}\n"
    "  web2: {address: web2.prod.example}\n"
    "  web3: {address: web3.prod.example}\n"
    "  web4: {address: web4.prod.example}\n"
    "groups:\n"
    "  canary: [web3]\n"
    "artifact: {path: app.bin}\n"
    "target: {path: /srv/app/bin/app, strategy: rename, mode: \"0755\"}\n"
    "restart: {unit: app.service}\n"
    "health:\n"
    "  http: {url: \"http://127.0.0.1:8080/health\", status: 200}\n"
    "batches:\n"
    "  sizes: [1, \"50%\", \"100%\"]\n"
    "  first: canary\n"
    "  gate_after: [1]\n"
    "max_failures: 0\n"
    "on_failure: rollback\n";

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    snprintf(c->dir, sizeof(c->dir), "/tmp/etx-plan-XXXXXX");
    if (mkdtemp(c->dir) == NULL)
        return -1;
    snprintf(c->inv, sizeof(c->inv), "%s/inv.yml", c->dir);
    snprintf(c->artifact, sizeof(c->artifact), "%s/app.bin", c->dir);
    write_file(c->artifact, "version 2 of the app\n");
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct ctx *c = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
        return -1;
    free(c);
    return 0;
}

/* Plan the inventory text; returns the plan (caller frees). */
static struct etx_plan *
plan_of(struct ctx *c, const char *text)
{
    struct etx_inventory *inv = NULL;
    struct etx_plan *p = NULL;
    struct etx_plan_opts o = {.offline = true};
    struct etx_error err = {0};

    write_file(c->inv, text);
    if (etx_inventory_load(c->inv, &inv, &err) != ETX_OK)
        fail_msg("inventory: %s: %s", err.where, err.msg);
    if (etx_plan_build(inv, &o, &p, &err) != ETX_OK)
        fail_msg("plan: %s: %s", err.where, err.msg);
    etx_inventory_free(inv);
    return p;
}

static void
id_of(struct ctx *c, const char *text, char id[65])
{
    struct etx_plan *p = plan_of(c, text);

    snprintf(id, 65, "%s", etx_plan_id(p));
    etx_plan_free(p);
}

/* text with the first 'from' replaced by 'to' (static buffer per call). */
static char *
edit(const char *text, const char *from, const char *to)
{
    static char buf[4096];
    const char *at = strstr(text, from);

    assert_non_null(at);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - text), text, to,
             at + strlen(from));
    return buf;
}

static void
test_etx_plan_build_id_ignores_comments_and_key_order(void **state)
{
    struct ctx *c = *state;
    char a[65], b[65], reordered[4096];

    id_of(c, base_inventory, a);
    id_of(c, base_inventory, b);
    assert_string_equal(a, b);
    id_of(c, edit(base_inventory, "fleet: web\n",
                  "# the web tier\n\nfleet: web   # lock name\n\n"),
          b);
    assert_string_equal(a, b);
    /* Move on_failure and max_failures to the top: same values. */
    snprintf(reordered, sizeof(reordered),
             "on_failure: rollback\nmax_failures: 0\n%.*s",
             (int)(strstr(base_inventory, "max_failures") - base_inventory),
             base_inventory);
    id_of(c, reordered, b);
    assert_string_equal(a, b);
    id_of(c, edit(base_inventory, "{kind: agent, port: 7420, key_file: fleet.key}",
                  "{key_file: fleet.key, port: 7420, kind: agent}"),
          b);
    assert_string_equal(a, b);
}

static void
test_etx_plan_build_id_changes_with_values(void **state)
{
    struct ctx *c = *state;
    char a[65], b[65];

    id_of(c, base_inventory, a);
    id_of(c, edit(base_inventory, "web4.prod", "web9.prod"), b);
    assert_string_not_equal(a, b);
    id_of(c, edit(base_inventory, "\"50%\"", "\"25%\""), b);
    assert_string_not_equal(a, b);
    id_of(c, edit(base_inventory, "\"0755\"", "\"0750\""), b);
    assert_string_not_equal(a, b);
    id_of(c, edit(base_inventory, "on_failure: rollback", "on_failure: halt"),
          b);
    assert_string_not_equal(a, b);
    write_file(c->artifact, "version 3 of the app\n");
    id_of(c, base_inventory, b);
    assert_string_not_equal(a, b);
}

static void
test_etx_plan_build_canary_batch_first(void **state)
{
    struct ctx *c = *state;
    struct etx_plan *p = plan_of(c, base_inventory);
    const json_t *doc = etx_plan_json(p);
    const json_t *batches = json_object_get(doc, "batches");
    const json_t *first = json_object_get(json_array_get(batches, 0), "hosts");
    const json_t *web3 = json_object_get(json_object_get(doc, "hosts"), "web3");

    assert_string_equal(json_string_value(json_object_get(doc, "plan_id")),
                        etx_plan_id(p));
    assert_int_equal(json_array_size(batches), 3);
    assert_int_equal(json_array_size(first), 1);
    assert_string_equal(json_string_value(json_array_get(first, 0)), "web3");
    assert_true(json_is_true(
        json_object_get(json_array_get(batches, 0), "gate_after")));
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(batches, 1), "hosts")),
        2);
    assert_int_equal(json_array_size(json_object_get(web3, "steps")), 5);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(doc, "artifact"), "sha256")),
        /* sha256sum of "version 2 of the app\n" */
        "afd2859075e94bf2a7a5fb22b1f07436617780c6576ccaadd1dad9fc013ebb51");
    etx_plan_free(p);
}

static void
test_etx_plan_build_artifact_digest_mismatch(void **state)
{
    struct ctx *c = *state;
    struct etx_inventory *inv = NULL;
    struct etx_plan *p = NULL;
    struct etx_plan_opts o = {.offline = true};
    struct etx_error err = {0};

    write_file(c->inv,
               edit(base_inventory, "{path: app.bin}",
                    "{path: app.bin, sha256: "
                    "\"0000000000000000000000000000000000000000000000000000"
                    "000000000000\"}"));
    assert_int_equal(etx_inventory_load(c->inv, &inv, &err), ETX_OK);
    assert_int_equal(etx_plan_build(inv, &o, &p, &err), ETX_ERR);
    assert_null(p);
    assert_int_equal(err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(err.msg, "but the inventory says 0000"));
    etx_inventory_free(inv);
}

static void
test_etx_plan_build_missing_artifact(void **state)
{
    struct ctx *c = *state;
    struct etx_inventory *inv = NULL;
    struct etx_plan *p = NULL;
    struct etx_plan_opts o = {.offline = true};
    struct etx_error err = {0};

    assert_int_equal(unlink(c->artifact), 0);
    write_file(c->inv, base_inventory);
    assert_int_equal(etx_inventory_load(c->inv, &inv, &err), ETX_OK);
    assert_int_equal(etx_plan_build(inv, &o, &p, &err), ETX_ERR);
    assert_non_null(strstr(err.where, "app.bin"));
    assert_non_null(strstr(err.msg, "cannot read the artifact"));
    etx_inventory_free(inv);
}

static void
test_etx_plan_save_roundtrip(void **state)
{
    struct ctx *c = *state;
    struct etx_plan *p = plan_of(c, base_inventory);
    struct etx_error err = {0};
    char path[160], id[65];
    json_t *loaded = NULL;
    json_error_t jerr;

    snprintf(path, sizeof(path), "%s/plan.json", c->dir);
    assert_int_equal(etx_plan_save(p, path, &err), ETX_OK);
    loaded = json_load_file(path, 0, &jerr);
    assert_non_null(loaded);
    assert_int_equal(etx_plan_compute_id(loaded, id, &err), ETX_OK);
    assert_string_equal(id, etx_plan_id(p));
    json_object_set_new(loaded, "fleet", json_string("tampered"));
    assert_int_equal(etx_plan_compute_id(loaded, id, &err), ETX_OK);
    assert_string_not_equal(id, etx_plan_id(p));
    json_decref(loaded);
    snprintf(path, sizeof(path), "%s/no-such-dir/plan.json", c->dir);
    assert_int_equal(etx_plan_save(p, path, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENOENT);
    etx_plan_free(p);
}

/* Two hosts with their own root, one with the default's. */
static const char vars_inventory[] =
    "version: 1\n"
    "fleet: web\n"
    "defaults:\n"
    "  transport: {kind: agent, key_file: fleet.key}\n"
    "  vars: {root: /srv/app}\n"
    "hosts:\n"
    "  web1: {address: 127.0.0.1, vars: {root: /srv/a, port: '8181'}}\n"
    "  web2: {address: 127.0.0.1, vars: {root: /srv/b, port: '8182'}}\n"
    "  web3: {address: 127.0.0.1, vars: {port: '8183'}}\n"
    "artifact: {path: app.bin}\n"
    "target: {path: '${root}/bin/app'}\n"
    "health:\n"
    "  http: {url: 'http://127.0.0.1:${port}/'}\n";

static const char *
host_str(const json_t *doc, const char *host, const char *key)
{
    const json_t *h = json_object_get(json_object_get(doc, "hosts"), host);

    return json_string_value(json_object_get(h, key));
}

static void
test_etx_plan_build_host_vars(void **state)
{
    struct ctx *c = *state;
    struct etx_plan *p = plan_of(c, vars_inventory);
    const json_t *doc = etx_plan_json(p);
    char a[65], b[65];
    char *text = NULL;
    size_t len = 0;
    FILE *table = NULL;

    assert_string_equal(host_str(doc, "web1", "target_path"), "/srv/a/bin/app");
    assert_string_equal(host_str(doc, "web2", "target_path"), "/srv/b/bin/app");
    assert_string_equal(host_str(doc, "web3", "target_path"),
                        "/srv/app/bin/app");
    assert_string_equal(host_str(doc, "web2", "health_url"),
                        "http://127.0.0.1:8182/");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(doc, "target"), "path")),
                        "${root}/bin/app");
    table = open_memstream(&text, &len);
    assert_non_null(table);
    etx_plantable_print(doc, table);
    assert_int_equal(fclose(table), 0);
    assert_non_null(strstr(text, "${root}/bin/app (per host, below)"));
    assert_non_null(strstr(text, " target /srv/b/bin/app\n"));
    assert_non_null(strstr(text, " health http://127.0.0.1:8182/\n"));
    free(text);
    etx_plan_free(p);
    /* Without '$' in the templates, hosts get no strings of their own:
     * an unused variable leaves the id as it was. */
    p = plan_of(c, base_inventory);
    assert_null(host_str(etx_plan_json(p), "web1", "target_path"));
    assert_null(host_str(etx_plan_json(p), "web1", "health_url"));
    snprintf(a, sizeof(a), "%s", etx_plan_id(p));
    etx_plan_free(p);
    id_of(c,
          edit(base_inventory, "{address: web1.prod.example}",
               "{address: web1.prod.example, vars: {unused: x}}"),
          b);
    assert_string_equal(a, b);
    /* A variable changes the id through the strings it makes. */
    id_of(c, vars_inventory, a);
    id_of(c, edit(vars_inventory, "root: /srv/b", "root: /srv/c"), b);
    assert_string_not_equal(a, b);
}

/* The plan's restart text for 'text' (caller frees). */
static char *
restart_table(struct ctx *c, const char *text)
{
    struct etx_plan *p = plan_of(c, text);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    etx_plantable_print(etx_plan_json(p), f);
    assert_int_equal(fclose(f), 0);
    etx_plan_free(p);
    return out;
}

/*
 * restart.confirm is in the plan only when it is not the default 10 s: a
 * plan without it keeps its id, and any other value changes the id.
 */
static void
test_etx_plan_build_restart_confirm(void **state)
{
    struct ctx *c = *state;
    const char *two = "{unit: app.service, confirm: 2s}";
    struct etx_plan *p =
        plan_of(c, edit(base_inventory, "{unit: app.service}", two));
    const json_t *r = json_object_get(etx_plan_json(p), "restart");
    char a[65], b[65];
    char *table = NULL;

    assert_int_equal(json_integer_value(json_object_get(r, "confirm_ms")),
                     2000);
    snprintf(a, sizeof(a), "%s", etx_plan_id(p));
    etx_plan_free(p);
    id_of(c, base_inventory, b);
    assert_string_not_equal(a, b);
    id_of(c,
          edit(base_inventory, "{unit: app.service}",
               "{unit: app.service, confirm: 10s}"),
          a);
    assert_string_equal(a, b);
    p = plan_of(c, base_inventory);
    assert_null(json_object_get(json_object_get(etx_plan_json(p), "restart"),
                                "confirm_ms"));
    etx_plan_free(p);
    table = restart_table(c, edit(base_inventory, "{unit: app.service}", two));
    assert_non_null(strstr(table, "(timeout 1m, confirm 2s)"));
    free(table);
    table = restart_table(c, base_inventory);
    assert_non_null(strstr(table, "(timeout 1m, confirm 10s)"));
    free(table);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_etx_plan_build_id_ignores_comments_and_key_order, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_etx_plan_build_id_changes_with_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etx_plan_build_canary_batch_first,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_etx_plan_build_artifact_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etx_plan_build_missing_artifact,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etx_plan_save_roundtrip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_plan_build_host_vars, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_plan_build_restart_confirm,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
