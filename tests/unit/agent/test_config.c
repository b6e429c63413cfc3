/* SPDX-License-Identifier: MIT */
/*
 * Tests of the agent config: a full and a minimal file, the allow-lists
 * matching exactly, bad files failing at their file:line:col, and the key
 * file check on real files with real modes and owners.
 */
#include <errno.h>
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

#include "agent/config.h"

static struct etx_agent_config *
load_ok(const char *yaml)
{
    struct etx_agent_config *cfg = NULL;
    struct etx_error err = {0};

    if (etx_agent_config_load_buffer("agent.yml", yaml, strlen(yaml), &cfg,
                                     &err) != ETX_OK)
        fail_msg("%s: %s", err.where, err.msg);
    return cfg;
}

static void
expect_fail(const char *yaml, const char *where, const char *msg)
{
    struct etx_agent_config *cfg = NULL;
    struct etx_error err = {0};

    assert_int_equal(etx_agent_config_load_buffer("agent.yml", yaml,
                                                  strlen(yaml), &cfg, &err),
                     ETX_ERR);
    assert_null(cfg);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, where);
    assert_string_equal(err.msg, msg);
}

static const char full[] = "listen: \"[::1]:7500\"\n"
                           "key_file: /etc/etxroll/agent.key\n"
                           "roots: [/srv/app, /opt/tools]\n"
                           "restart_units: [app.service, worker@1.service]\n"
                           "restart_commands:\n"
                           "  - [/usr/local/sbin/app-ctl, restart]\n"
                           "  - [/usr/local/sbin/app-ctl]\n"
                           "health_commands:\n"
                           "  - [/usr/local/bin/check-app, --quick]\n"
                           "state_dir: /var/lib/etx\n";

static void
test_config_load_ok(void **state)
{
    struct etx_agent_config *cfg = load_ok(full);

    (void)state;
    assert_string_equal(cfg->path, "agent.yml");
    assert_string_equal(cfg->listen, "[::1]:7500");
    assert_string_equal(cfg->listen_host, "::1");
    assert_int_equal(cfg->listen_port, 7500);
    assert_string_equal(cfg->key_file, "/etc/etxroll/agent.key");
    assert_int_equal(cfg->key_file_line, 2);
    assert_int_equal(cfg->key_file_col, 11);
    assert_int_equal(cfg->n_roots, 2);
    assert_string_equal(cfg->roots[1], "/opt/tools");
    assert_int_equal(cfg->n_restart_units, 2);
    assert_int_equal(cfg->n_restart_commands, 2);
    assert_int_equal(cfg->restart_commands[0].argc, 2);
    assert_null(cfg->restart_commands[0].argv[2]);
    assert_int_equal(cfg->n_health_commands, 1);
    assert_string_equal(cfg->state_dir, "/var/lib/etx");
    etx_agent_config_free(cfg);
}

static void
test_config_load_defaults(void **state)
{
    struct etx_agent_config *cfg = load_ok("roots: [/srv]\n");

    (void)state;
    assert_string_equal(cfg->listen, "127.0.0.1:7420");
    assert_string_equal(cfg->listen_host, "127.0.0.1");
    assert_int_equal(cfg->listen_port, 7420);
    assert_null(cfg->key_file);
    assert_int_equal(cfg->n_restart_units, 0);
    assert_int_equal(cfg->n_restart_commands, 0);
    assert_int_equal(cfg->n_health_commands, 0);
    assert_string_equal(cfg->state_dir, "/var/lib/etxroll-agent");
    assert_false(etx_agent_config_allows_unit(cfg, "app.service"));
    etx_agent_config_free(cfg);
}

static void
test_config_allows_exact(void **state)
{
    struct etx_agent_config *cfg = load_ok(full);
    const char *restart[] = {"/usr/local/sbin/app-ctl", "restart"};
    const char *other[] = {"/usr/local/sbin/app-ctl", "stop"};
    const char *more[] = {"/usr/local/sbin/app-ctl", "restart", "x"};
    const char *health[] = {"/usr/local/bin/check-app", "--quick"};

    (void)state;
    assert_true(etx_agent_config_allows_unit(cfg, "app.service"));
    assert_true(etx_agent_config_allows_unit(cfg, "worker@1.service"));
    assert_false(etx_agent_config_allows_unit(cfg, "app"));
    assert_false(etx_agent_config_allows_unit(cfg, "sshd.service"));
    assert_true(etx_agent_config_allows_restart_command(cfg, 2, restart));
    assert_true(etx_agent_config_allows_restart_command(cfg, 1, restart));
    assert_false(etx_agent_config_allows_restart_command(cfg, 2, other));
    assert_false(etx_agent_config_allows_restart_command(cfg, 3, more));
    assert_false(etx_agent_config_allows_restart_command(cfg, 2, health));
    assert_true(etx_agent_config_allows_health_command(cfg, 2, health));
    assert_false(etx_agent_config_allows_health_command(cfg, 1, health));
    assert_false(etx_agent_config_allows_health_command(cfg, 2, restart));
    etx_agent_config_free(cfg);
}

static void
test_config_load_hostile(void **state)
{
    (void)state;
    expect_fail("roots: [/srv]\nrootz: [/x]\n", "agent.yml:2:1",
                "unknown key 'rootz' in the agent config; did you mean "
                "'roots'?");
    expect_fail("listen: 127.0.0.1:7420\n", "agent.yml:1:1",
                "missing required key 'roots': the agent writes only under "
                "the directories it lists");
    expect_fail("roots: []\n", "agent.yml:1:8",
                "expected a non-empty list for 'roots'");
    expect_fail("roots: /srv\n", "agent.yml:1:8",
                "expected a sequence for 'roots', found a string");
    expect_fail("roots: [/srv, srv/app]\n", "agent.yml:1:15",
                "bad path 'srv/app' for 'roots': expected an absolute path "
                "(starting with '/', not '/' itself)");
    expect_fail("roots: [/]\n", "agent.yml:1:9",
                "bad path '/' for 'roots': expected an absolute path "
                "(starting with '/', not '/' itself)");
    expect_fail("roots: [/srv/../etc]\n", "agent.yml:1:9",
                "bad path '/srv/../etc' for 'roots': a path without '.', "
                "'..', '//' or a trailing '/' is expected");
    expect_fail("roots: [/srv, /opt, /srv]\n", "agent.yml:1:21",
                "root '/srv' is listed twice");
    expect_fail("roots: [/srv]\nroots: [/opt]\n", "agent.yml:2:1",
                "duplicate key 'roots' (first defined at agent.yml:1:1)");
    expect_fail("", "agent.yml:1:1",
                "empty agent config: expected a YAML mapping with at least "
                "'roots'");
    expect_fail("- /srv\n", "agent.yml:1:1",
                "expected a mapping for the agent config, found a sequence");
}

static void
test_config_load_hostile_values(void **state)
{
    static const char *const why_addr =
        "expected host:port or [v6addr]:port with a port from 1 to 65535 "
        "(such as 127.0.0.1:7420)";
    char msg[512];

    (void)state;
    snprintf(msg, sizeof(msg), "bad address '127.0.0.1' for 'listen': %s",
             why_addr);
    expect_fail("listen: 127.0.0.1\nroots: [/srv]\n", "agent.yml:1:9", msg);
    snprintf(msg, sizeof(msg), "bad address '::1:7420' for 'listen': %s",
             why_addr);
    expect_fail("listen: '::1:7420'\nroots: [/srv]\n", "agent.yml:1:9", msg);
    snprintf(msg, sizeof(msg), "bad address 'h:70000' for 'listen': %s",
             why_addr);
    expect_fail("roots: [/srv]\nlisten: h:70000\n", "agent.yml:2:9", msg);
    expect_fail("roots: [/srv]\nkey_file: agent.key\n", "agent.yml:2:11",
                "bad path 'agent.key' for 'key_file': expected an absolute "
                "path (starting with '/', not '/' itself)");
    expect_fail("roots: [/srv]\nstate_dir: [/x]\n", "agent.yml:2:12",
                "expected a string for 'state_dir', found a sequence");
    expect_fail("roots: [/srv]\nrestart_units: [app.service, '-x']\n",
                "agent.yml:2:30",
                "bad unit name '-x' in 'restart_units': use letters, digits "
                "and '._-@:\\' (such as app.service)");
    expect_fail("roots: [/srv]\nrestart_commands: [[/bin/a], [b, c]]\n",
                "agent.yml:2:31",
                "expected an absolute path as the first word of a command in "
                "'restart_commands', found 'b'");
    expect_fail("roots: [/srv]\nhealth_commands: [/bin/check]\n",
                "agent.yml:2:19",
                "expected a sequence for 'health_commands', found a string");
}

static void
test_config_load_missing(void **state)
{
    struct etx_agent_config *cfg = NULL;
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(
        etx_agent_config_load("/nonexistent/agent.yml", &cfg, &err), ETX_ERR);
    assert_null(cfg);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, "/nonexistent/agent.yml");
}

/* A config file naming a key file with 'mode'; both in a fresh dir. */
struct keyfix {
    char dir[64];
    char key[128];
    char conf[128];
};

static void
make_fixture(struct keyfix *f, mode_t mode)
{
    FILE *fp = NULL;

    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-agentcfg-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->key, sizeof(f->key), "%s/agent.key", f->dir);
    snprintf(f->conf, sizeof(f->conf), "%s/agent.yml", f->dir);
    fp = fopen(f->key, "w");
    assert_non_null(fp);
    fputs("0123456789abcdef0123456789abcdef\n", fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(f->key, mode), 0);
    fp = fopen(f->conf, "w");
    assert_non_null(fp);
    fprintf(fp, "roots: [/srv]\nkey_file: %s\n", f->key);
    assert_int_equal(fclose(fp), 0);
}

static void
remove_fixture(struct keyfix *f)
{
    unlink(f->key);
    unlink(f->conf);
    rmdir(f->dir);
}

/* Load f's config and run the key check; returns its status. */
static int
check_fixture(const struct keyfix *f, struct etx_error *err)
{
    struct etx_agent_config *cfg = NULL;
    int rc;

    assert_int_equal(etx_agent_config_load(f->conf, &cfg, err), ETX_OK);
    rc = etx_agent_config_check_key_perms(cfg, err);
    etx_agent_config_free(cfg);
    return rc;
}

static void
test_config_check_key_perms_ok(void **state)
{
    struct keyfix f;
    struct etx_error err = {0};

    (void)state;
    make_fixture(&f, 0600);
    assert_int_equal(check_fixture(&f, &err), ETX_OK);
    assert_int_equal(chmod(f.key, 0400), 0);
    assert_int_equal(check_fixture(&f, &err), ETX_OK);
    remove_fixture(&f);
}

static void
test_config_check_key_perms_hostile(void **state)
{
    static const mode_t bad[] = {0640, 0604, 0620, 0602, 0610, 0644, 0666};
    struct keyfix f;
    struct etx_error err = {0};
    char where[256], msg[512];
    size_t i;

    (void)state;
    make_fixture(&f, 0600);
    snprintf(where, sizeof(where), "%s:2:11", f.conf);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(chmod(f.key, bad[i]), 0);
        assert_int_equal(check_fixture(&f, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_string_equal(err.where, where);
        snprintf(msg, sizeof(msg),
                 "key_file %s has mode %04o: it must not "
                 "be readable or writable by group or others (chmod 600 it)",
                 f.key, (unsigned)bad[i]);
        assert_string_equal(err.msg, msg);
    }
    unlink(f.key);
    assert_int_equal(check_fixture(&f, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_string_equal(err.where, where);
    assert_int_equal(mkdir(f.key, 0700), 0);
    assert_int_equal(check_fixture(&f, &err), ETX_ERR);
    snprintf(msg, sizeof(msg), "key_file %s is not a regular file", f.key);
    assert_string_equal(err.msg, msg);
    rmdir(f.key);
    remove_fixture(&f);
}

static void
test_config_check_key_perms_owner(void **state)
{
    struct keyfix f;
    struct etx_error err = {0};

    (void)state;
    if (geteuid() != 0)
        skip(); /* only root can give a file away */
    make_fixture(&f, 0600);
    assert_int_equal(chown(f.key, 54321, 54321), 0);
    assert_int_equal(check_fixture(&f, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "is owned by uid 54321; it must be owned "
                                    "by root or by the agent's user"));
    remove_fixture(&f);
}

static void
test_config_check_key_perms_absent(void **state)
{
    struct etx_agent_config *cfg = load_ok("roots: [/srv]\n");
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(etx_agent_config_check_key_perms(cfg, &err), ETX_ERR);
    assert_string_equal(err.where, "agent.yml");
    assert_string_equal(err.msg, "no key_file in the agent config; the TCP "
                                 "listener needs a pre-shared key");
    etx_agent_config_free(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_load_ok),
        cmocka_unit_test(test_config_load_defaults),
        cmocka_unit_test(test_config_allows_exact),
        cmocka_unit_test(test_config_load_hostile),
        cmocka_unit_test(test_config_load_hostile_values),
        cmocka_unit_test(test_config_load_missing),
        cmocka_unit_test(test_config_check_key_perms_ok),
        cmocka_unit_test(test_config_check_key_perms_hostile),
        cmocka_unit_test(test_config_check_key_perms_owner),
        cmocka_unit_test(test_config_check_key_perms_absent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
