/* SPDX-License-Identifier: MIT */
/*
 * The agent pulls an artifact from a real nginx on 127.0.0.1 (started by
 * the test): with the right digest it is staged, verified and swapped;
 * with a wrong one the pull fails as an integrity error and nothing is
 * staged. And `etxroll probe` against the same agent: text, --json, one
 * named host, an ssh host (reported, exit 1) and an unknown host (exit 2).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/integration/agent_fixture.h"

struct pulltest {
    struct etx_test_agent a;
    struct etx_test_nginx ngx;
    uv_loop_t loop;
    char target[400];
    char sha[ETX_DIGEST_HEX_LEN + 1];
};

static int
setup(void **state)
{
    struct pulltest *p = calloc(1, sizeof(*p));
    char dir[400], file[500], why[300];
    uint64_t size = 0;

    assert_non_null(p);
    etx_test_agent_setup(&p->a);
    etx_test_agent_config(&p->a, NULL);
    snprintf(p->target, sizeof(p->target), "%s/app", p->a.root);
    assert_int_equal(etx_test_write_file(p->target, "old\n", 4), 0);
    snprintf(dir, sizeof(dir), "%s/nginx", p->a.dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(file, sizeof(file), "%s/www", dir);
    assert_int_equal(mkdir(file, 0755), 0);
    snprintf(file, sizeof(file), "%s/www/app-v2", dir);
    assert_int_equal(etx_test_write_file(file, "new version 2\n", 14), 0);
    assert_int_equal(etx_digest_file(file, p->sha, &size, NULL), ETX_OK);
    if (etx_test_nginx_start(&p->ngx, dir, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    etx_test_agent_start(&p->a);
    assert_int_equal(uv_loop_init(&p->loop), 0);
    *state = p;
    return 0;
}

static int
teardown(void **state)
{
    struct pulltest *p = *state;

    uv_run(&p->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&p->loop), 0);
    etx_test_nginx_stop(&p->ngx);
    assert_true(etx_test_agent_alive(&p->a));
    assert_int_equal(etx_test_agent_stop(&p->a), 0);
    etx_test_agent_cleanup(&p->a);
    free(p);
    return 0;
}

static Etxroll__Result *
request(struct etx_test_client *c, Etxroll__Envelope__BodyCase kind,
        const char *path, const char *url, const char *sha)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__PullRequest pr = ETXROLL__PULL_REQUEST__INIT;
    Etxroll__VerifyRequest v = ETXROLL__VERIFY_REQUEST__INIT;
    Etxroll__SwapRequest s = ETXROLL__SWAP_REQUEST__INIT;
    Etxroll__Target t;

    etx_test_target(&t, path);
    pr.target = v.target = s.target = &t;
    pr.url = (char *)url;
    pr.sha256 = v.sha256 = s.sha256 = (char *)sha;
    env.body_case = kind;
    if (kind == ETXROLL__ENVELOPE__BODY_PULL)
        env.pull = &pr;
    else if (kind == ETXROLL__ENVELOPE__BODY_VERIFY)
        env.verify = &v;
    else
        env.swap = &s;
    return etx_test_call(c, &env);
}

static void
test_agent_pull_ok(void **state)
{
    struct pulltest *p = *state;
    struct etx_test_client c;
    Etxroll__Result *r = NULL;
    char url[400], buf[64];

    snprintf(url, sizeof(url), "%s/app-v2", p->ngx.base);
    assert_true(etx_test_client_connect(&c, &p->loop, p->a.port, &p->a.psk));
    r = request(&c, ETXROLL__ENVELOPE__BODY_PULL, p->target, url, p->sha);
    assert_non_null(r);
    if (!r->ok)
        fail_msg("pull: %s", r->detail);
    etx_test_result_free(r);
    r = request(&c, ETXROLL__ENVELOPE__BODY_VERIFY, p->target, NULL, p->sha);
    assert_true(r != NULL && r->ok);
    etx_test_result_free(r);
    r = request(&c, ETXROLL__ENVELOPE__BODY_SWAP, p->target, NULL, p->sha);
    assert_true(r != NULL && r->ok);
    assert_string_equal(r->after->sha256, p->sha);
    etx_test_result_free(r);
    etx_test_client_close(&c);
    assert_int_equal(etx_test_read_file(p->target, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "new version 2\n");
}

static void
test_agent_pull_wrong_digest(void **state)
{
    struct pulltest *p = *state;
    struct etx_test_client c;
    Etxroll__Result *r = NULL;
    char url[400], buf[64], wrong[ETX_DIGEST_HEX_LEN + 1];

    memset(wrong, 'a', ETX_DIGEST_HEX_LEN);
    wrong[ETX_DIGEST_HEX_LEN] = '\0';
    snprintf(url, sizeof(url), "%s/app-v2", p->ngx.base);
    assert_true(etx_test_client_connect(&c, &p->loop, p->a.port, &p->a.psk));
    r = request(&c, ETXROLL__ENVELOPE__BODY_PULL, p->target, url, wrong);
    assert_non_null(r);
    assert_false(r->ok);
    assert_int_equal(etx_test_class(r), ETXROLL__ERROR_CLASS__CLASS_INTEGRITY);
    etx_test_result_free(r);
    r = request(&c, ETXROLL__ENVELOPE__BODY_VERIFY, p->target, NULL, wrong);
    assert_non_null(r);
    assert_false(r->ok);
    assert_int_equal(etx_test_class(r), ETXROLL__ERROR_CLASS__CLASS_INPUT);
    etx_test_result_free(r);
    etx_test_client_close(&c);
    assert_int_equal(etx_test_read_file(p->target, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "old\n");
}

/* ---- etxroll probe ---- */

static void
write_inventory(struct pulltest *p, char *path, size_t len)
{
    char text[2048];

    snprintf(path, len, "%s/inv.yml", p->a.dir);
    snprintf(text, sizeof(text),
             "version: 1\nfleet: probe-test\n"
             "defaults:\n  transport: {kind: agent, key_file: %s}\n"
             "hosts:\n"
             "  a1: {address: 127.0.0.1, transport: {port: %d}}\n"
             "  s1: {address: 127.0.0.1, transport: {kind: ssh}}\n"
             "artifact: {path: %s}\n"
             "target: {path: %s}\n",
             p->a.key, p->a.port, p->target, p->target);
    assert_int_equal(etx_test_write_file(path, text, strlen(text)), 0);
}

/* Run `etxroll probe ARGS` into out; returns its exit status. */
static int
run_probe(const char *args, char *out, size_t cap)
{
    char cmd[1200];
    size_t got = 0, n;
    FILE *f = NULL;
    int status;

    snprintf(cmd, sizeof(cmd), "%s/etxroll probe %s 2>&1", etx_test_bindir(),
             args);
    f = popen(cmd, "r");
    assert_non_null(f);
    while ((n = fread(out + got, 1, cap - 1 - got, f)) > 0)
        got += n;
    out[got] = '\0';
    status = pclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_probe_cmd(void **state)
{
    struct pulltest *p = *state;
    static char out[65536];
    char inv[400], args[600], sha[ETX_DIGEST_HEX_LEN + 1];
    uint64_t size = 0;

    assert_int_equal(etx_digest_file(p->target, sha, &size, NULL), ETX_OK);
    write_inventory(p, inv, sizeof(inv));
    snprintf(args, sizeof(args), "%s a1", inv);
    assert_int_equal(run_probe(args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, sha));
    assert_non_null(strstr(out, "kernel"));
    snprintf(args, sizeof(args), "%s --json", inv);
    assert_int_equal(run_probe(args, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "\"a1\""));
    assert_non_null(strstr(out, sha));
    /* s1 is an ssh host with no sshd (or an unknown host key) there */
    assert_non_null(strstr(out, "\"error\": \"s1: "));
    snprintf(args, sizeof(args), "%s nosuchhost", inv);
    assert_int_equal(run_probe(args, out, sizeof(out)), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_pull_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_pull_wrong_digest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_probe_cmd, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
