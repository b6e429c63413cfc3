/* SPDX-License-Identifier: MIT */
/*
 * The fleet key file: generate and load round trip, refusal of a file others
 * may read, of a wrong length, of non-hex and trailing bytes, of a symbolic
 * link and of a directory; generate refuses to replace a key without force.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/psk.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-psk-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/fleet.key", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[160];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "we");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void
read_file(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "re");
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

static void
expect_refused(const char *path, const char *needle)
{
    struct etx_psk key = {{0}};
    struct etx_error err = {0};

    assert_int_equal(etx_psk_load(path, &key, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, path);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void
test_etx_psk_generate_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_psk key = {{0}}, zero = {{0}};
    struct etx_error err = {0};
    char text[200], hex[3];
    struct stat st;
    size_t i;

    assert_int_equal(etx_psk_generate(f->path, false, &err), ETX_OK);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, ETX_PSK_HEX_LEN + 1);
    assert_int_equal(etx_psk_load(f->path, &key, &err), ETX_OK);
    assert_memory_not_equal(key.key, zero.key, ETX_PSK_LEN);
    read_file(f->path, text, sizeof(text));
    for (i = 0; i < ETX_PSK_LEN; i++) {
        snprintf(hex, sizeof(hex), "%02x", key.key[i]);
        assert_memory_equal(text + 2 * i, hex, 2);
    }
    etx_psk_clear(&key);
    assert_memory_equal(key.key, zero.key, ETX_PSK_LEN);
}

/* No temporary file is left behind, and two keys differ. */
static void
test_etx_psk_generate_force(void **state)
{
    struct fixture *f = *state;
    struct etx_psk a, b;
    struct etx_error err = {0};
    char cmd[200], out[16] = "";
    FILE *fp = NULL;

    assert_int_equal(etx_psk_generate(f->path, false, &err), ETX_OK);
    assert_int_equal(etx_psk_load(f->path, &a, &err), ETX_OK);
    assert_int_equal(etx_psk_generate(f->path, false, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_int_equal(err.sys_errno, EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(etx_psk_load(f->path, &b, &err), ETX_OK);
    assert_memory_equal(a.key, b.key, ETX_PSK_LEN);
    assert_int_equal(etx_psk_generate(f->path, true, &err), ETX_OK);
    assert_int_equal(etx_psk_load(f->path, &b, &err), ETX_OK);
    assert_memory_not_equal(a.key, b.key, ETX_PSK_LEN);
    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", f->dir);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    assert_non_null(fgets(out, sizeof(out), fp));
    pclose(fp);
    assert_int_equal(atoi(out), 1);
}

static void
test_etx_psk_generate_no_dir(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char path[160];

    snprintf(path, sizeof(path), "%s/missing/fleet.key", f->dir);
    assert_int_equal(etx_psk_generate(path, false, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENOENT);
}

static const char good_line[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

static void
test_etx_psk_load_exact(void **state)
{
    struct fixture *f = *state;
    struct etx_psk key;
    struct etx_error err = {0};

    write_file(f->path, good_line, 0600);
    assert_int_equal(etx_psk_load(f->path, &key, &err), ETX_OK);
    assert_int_equal(key.key[0], 0x00);
    assert_int_equal(key.key[1], 0x11);
    assert_int_equal(key.key[15], 0xff);
    assert_int_equal(key.key[31], 0xff);
    write_file(f->path, good_line, 0400);
    assert_int_equal(etx_psk_load(f->path, &key, &err), ETX_OK);
}

static void
test_etx_psk_load_hostile_mode(void **state)
{
    struct fixture *f = *state;
    char want[200];

    snprintf(want, sizeof(want), "chmod 600 %s", f->path);
    write_file(f->path, good_line, 0644);
    expect_refused(f->path, want);
    write_file(f->path, good_line, 0620);
    expect_refused(f->path, want);
    write_file(f->path, good_line, 0602);
    expect_refused(f->path, want);
}

static void
test_etx_psk_load_truncated(void **state)
{
    struct fixture *f = *state;
    char text[sizeof(good_line)];

    snprintf(text, sizeof(text), "%.*s\n", ETX_PSK_HEX_LEN - 2, good_line);
    write_file(f->path, text, 0600);
    expect_refused(f->path, "exactly one line");
    write_file(f->path, "", 0600);
    expect_refused(f->path, "exactly one line");
    /* The hex alone, without its newline. */
    snprintf(text, sizeof(text), "%.*s", ETX_PSK_HEX_LEN, good_line);
    write_file(f->path, text, 0600);
    expect_refused(f->path, "exactly one line");
}

static void
test_etx_psk_load_oversize(void **state)
{
    struct fixture *f = *state;
    char text[sizeof(good_line) + 16];

    snprintf(text, sizeof(text), "%sx", good_line);
    write_file(f->path, text, 0600);
    expect_refused(f->path, "exactly one line");
    snprintf(text, sizeof(text), "%s\n", good_line);
    write_file(f->path, text, 0600);
    expect_refused(f->path, "exactly one line");
    snprintf(text, sizeof(text), "%.*s0\n", ETX_PSK_HEX_LEN, good_line);
    write_file(f->path, text, 0600);
    expect_refused(f->path, "exactly one line");
}

static void
test_etx_psk_load_not_hex(void **state)
{
    struct fixture *f = *state;
    struct etx_psk key;
    struct etx_error err = {0};
    char line[sizeof(good_line)];

    memcpy(line, good_line, sizeof(line));
    line[10] = 'g';
    write_file(f->path, line, 0600);
    expect_refused(f->path, "not lower-case hex");
    line[10] = 'A';
    write_file(f->path, line, 0600);
    expect_refused(f->path, "not lower-case hex");
    /* The message never repeats the key's characters. */
    assert_int_equal(etx_psk_load(f->path, &key, &err), ETX_ERR);
    assert_null(strstr(err.msg, "0011223344"));
}

static void
test_etx_psk_load_symlink(void **state)
{
    struct fixture *f = *state;
    char real[160];

    snprintf(real, sizeof(real), "%s/real.key", f->dir);
    write_file(real, good_line, 0600);
    assert_int_equal(symlink(real, f->path), 0);
    expect_refused(f->path, "symbolic link");
}

static void
test_etx_psk_load_not_regular(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mkdir(f->path, 0700), 0);
    expect_refused(f->path, "not a regular file");
    assert_int_equal(rmdir(f->path), 0);
    assert_int_equal(mkfifo(f->path, 0600), 0);
    expect_refused(f->path, "not a regular file");
}

static void
test_etx_psk_load_missing(void **state)
{
    struct fixture *f = *state;

    expect_refused(f->path, "cannot open the key file");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_etx_psk_generate_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_generate_force, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_generate_no_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_exact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_hostile_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_truncated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_oversize, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_not_hex, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_symlink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_not_regular, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_psk_load_missing, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
