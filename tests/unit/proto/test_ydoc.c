/* SPDX-License-Identifier: MIT */
/*
 * Tests of proto/ydoc: the tree and its marks, the hard limits on hostile
 * documents (each failing fast at the offending place), and the typed
 * getters' messages.
 */
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

#include "proto/ydoc.h"

/* Load 's'; on failure check where and that msg contains 'part'. */
static void
expect_fail(const char *s, size_t len, const char *where, const char *part)
{
    struct etx_ydoc *doc = NULL;
    struct etx_error err = {0};

    assert_int_equal(etx_ydoc_load_buffer("t.yml", s, len, &doc, &err),
                     ETX_ERR);
    assert_null(doc);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, where);
    if (strstr(err.msg, part) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, part);
}

static struct etx_ydoc *
load_ok(const char *s)
{
    struct etx_ydoc *doc = NULL;
    struct etx_error err = {0};

    if (etx_ydoc_load_buffer("t.yml", s, strlen(s), &doc, &err) != ETX_OK)
        fail_msg("%s: %s", err.where, err.msg);
    return doc;
}

static void
test_load_buffer_ok(void **state)
{
    struct etx_ydoc *doc = load_ok("a: 1\n"
                                   "b:\n"
                                   "  - x\n"
                                   "  - ''\n"
                                   "  - ~\n"
                                   "c: {d: null, e: \"null\"}\n");
    const struct etx_ydoc_node *root = etx_ydoc_root(doc);
    const struct etx_ydoc_node *b = etx_ydoc_get(root, "b");
    const struct etx_ydoc_node *c = etx_ydoc_get(root, "c");

    (void)state;
    assert_string_equal(etx_ydoc_name(doc), "t.yml");
    assert_int_equal(root->kind, ETX_YDOC_MAPPING);
    assert_int_equal(root->n, 3);
    assert_int_equal(root->weight, 14);
    assert_string_equal(etx_ydoc_get(root, "a")->str, "1");
    assert_int_equal(b->kind, ETX_YDOC_SEQUENCE);
    assert_int_equal(b->n, 3);
    assert_int_equal(b->line, 3);
    assert_int_equal(b->col, 3);
    assert_int_equal(b->items[1]->kind, ETX_YDOC_SCALAR);
    assert_int_equal(b->items[1]->len, 0);
    assert_int_equal(b->items[2]->kind, ETX_YDOC_NULL);
    assert_int_equal(b->items[2]->line, 5);
    assert_int_equal(b->items[2]->col, 5);
    assert_int_equal(etx_ydoc_get(c, "d")->kind, ETX_YDOC_NULL);
    assert_int_equal(etx_ydoc_get(c, "e")->kind, ETX_YDOC_SCALAR);
    assert_string_equal(etx_ydoc_get(c, "d")->file, "t.yml");
    assert_null(etx_ydoc_get(c, "zz"));
    assert_null(etx_ydoc_get(b, "x"));
    etx_ydoc_free(doc);
}

static void
test_load_buffer_empty(void **state)
{
    struct etx_ydoc *doc = load_ok("# only a comment\n\n");

    (void)state;
    assert_null(etx_ydoc_root(doc));
    etx_ydoc_free(doc);
    doc = load_ok("");
    assert_null(etx_ydoc_root(doc));
    etx_ydoc_free(doc);
}

static void
test_load_buffer_duplicate(void **state)
{
    const char *top = "a: 1\nb: 2\na: 3\n";
    const char *nested = "x:\n  k: 1\n  j: 2\n  k: 3\n";

    (void)state;
    expect_fail(top, strlen(top), "t.yml:3:1",
                "duplicate key 'a' (first defined at t.yml:1:1)");
    expect_fail(nested, strlen(nested), "t.yml:4:3",
                "duplicate key 'k' (first defined at t.yml:2:3)");
}

static void
test_load_buffer_duplicate_many(void **state)
{
    /* 40 keys, then one repeat of the 7th: the sort finds it. */
    char buf[1024];
    size_t used = 0;
    int i;

    (void)state;
    for (i = 0; i < 40; i++)
        used +=
            (size_t)snprintf(buf + used, sizeof(buf) - used, "k%d: %d\n", i, i);
    snprintf(buf + used, sizeof(buf) - used, "k6: again\nk9: again\n");
    expect_fail(buf, strlen(buf), "t.yml:41:1",
                "duplicate key 'k6' (first defined at t.yml:7:1)");
}

static void
test_load_buffer_second_document(void **state)
{
    const char *s = "a: 1\n---\nb: 2\n";

    (void)state;
    expect_fail(s, strlen(s), "t.yml:2:1", "a second YAML document");
}

static void
test_load_buffer_bad_keys(void **state)
{
    const char *seq = "a: 1\n[x, y]: 2\n";
    const char *null = "a: 1\n~: 2\n";
    const char *alias = "a: &m {x: 1}\n*m : 2\n";

    (void)state;
    expect_fail(seq, strlen(seq), "t.yml:2:1",
                "expected a string as a mapping key, found a sequence");
    expect_fail(null, strlen(null), "t.yml:2:1",
                "expected a string as a mapping key, found null");
    expect_fail(alias, strlen(alias), "t.yml:2:1",
                "expected a string as a mapping key, found a mapping");
}

static void
test_load_buffer_alias(void **state)
{
    struct etx_ydoc *doc = load_ok("t: &t {kind: ssh, user: deploy}\n"
                                   "u: *t\n");
    const struct etx_ydoc_node *root = etx_ydoc_root(doc);

    (void)state;
    assert_ptr_equal(etx_ydoc_get(root, "t"), etx_ydoc_get(root, "u"));
    assert_int_equal(root->weight, 1 + 2 + 5 + 5);
    etx_ydoc_free(doc);
}

static void
test_load_buffer_alias_hostile(void **state)
{
    const char *unknown = "a: *nope\n";
    const char *recursive = "a: &r [1, *r]\n";
    const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                         "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                         "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                         "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";

    (void)state;
    expect_fail(unknown, strlen(unknown), "t.yml:1:4",
                "alias '*nope' names no anchor defined before it");
    expect_fail(recursive, strlen(recursive), "t.yml:1:11", "recursive alias");
    /* 123463 nodes before the first *e (111111 nodes) in f: too many. */
    expect_fail(laughs, strlen(laughs), "t.yml:6:8",
                "alias expansion exceeds 200000 nodes");
}

static void
test_load_buffer_anchors_oversize(void **state)
{
    char *s = malloc(300 * 16);
    size_t used = 0;
    int i;

    (void)state;
    assert_non_null(s);
    for (i = 0; i < 300; i++)
        used += (size_t)sprintf(s + used, "k%d: &a%d 1\n", i, i);
    expect_fail(s, used, "t.yml:257:7", "more than 256 anchors");
    free(s);
}

static void
test_load_buffer_deep(void **state)
{
    size_t n = 10000;
    char *s = malloc(2 * n + 1);

    (void)state;
    assert_non_null(s);
    memset(s, '[', n);
    memset(s + n, ']', n);
    expect_fail(s, 2 * n, "t.yml:1:65", "nested deeper than 64 levels");
    /* The root mapping is level 1, so the 64th '[' (column 67) is 65. */
    memcpy(s, "a: ", 3);
    memset(s + 3, '[', n - 3);
    expect_fail(s, n, "t.yml:1:67", "nested deeper than 64 levels");
    free(s);
}

static void
test_load_buffer_nodes_oversize(void **state)
{
    size_t n = ETX_YDOC_MAX_NODES + 10;
    char *s = malloc(2 * n + 2);
    size_t i;

    (void)state;
    assert_non_null(s);
    s[0] = '[';
    for (i = 0; i < n; i++) {
        s[1 + 2 * i] = '1';
        s[2 + 2 * i] = ',';
    }
    s[2 * n] = ']';
    /* The sequence is node 1; item k is node k + 1 at column 2k. */
    expect_fail(s, 2 * n + 1, "t.yml:1:400000",
                "the document has more than 200000 nodes");
    free(s);
}

static void
test_load_buffer_scalar_oversize(void **state)
{
    size_t n = ETX_YDOC_MAX_SCALAR + 1;
    char *s = malloc(n + 8);

    (void)state;
    assert_non_null(s);
    memcpy(s, "a: b\nc: ", 8);
    memset(s + 8, 'x', n);
    expect_fail(s, n + 8, "t.yml:2:4", "a scalar of 65537 bytes");
    free(s);
}

static void
test_load_buffer_oversize(void **state)
{
    size_t n = ETX_YDOC_MAX_BYTES + 1;
    char *s = calloc(1, n);

    (void)state;
    assert_non_null(s);
    memset(s, '#', n);
    expect_fail(s, n, "t.yml",
                "the file is 4194305 bytes; the limit is "
                "4194304 bytes");
    free(s);
}

static void
test_load_buffer_hostile(void **state)
{
    static const char garbage[] = "a: 1\n\x7f\x45\x4c\x46\x02\x01\x01\x00";
    static const char utf8[] = "a: 1\nb: caf\xc3\xa9\nc: \xff\xfe\n";
    static const char nul[] = "a: \"x\\0y\"\n";
    static const char tab[] = "a:\n\t- b\n";

    (void)state;
    expect_fail(garbage, sizeof(garbage) - 1, "t.yml:2:1",
                "invalid YAML: control characters are not allowed");
    expect_fail(utf8, sizeof(utf8) - 1, "t.yml:3:4",
                "invalid YAML: invalid leading UTF-8 octet (byte 0xff)");
    expect_fail(nul, sizeof(nul) - 1, "t.yml:1:4", "holds a NUL byte");
    expect_fail(tab, sizeof(tab) - 1, "t.yml:2:1",
                "invalid YAML: found character that cannot start any "
                "token");
}

/* A file in a fresh temporary directory, removed by the caller. */
static char *
temp_path(const char *name)
{
    char tmpl[] = "/tmp/etx-ydoc-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char *p = NULL;

    assert_non_null(dir);
    p = malloc(strlen(dir) + strlen(name) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void
remove_temp(char *path)
{
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

static void
test_load_ok(void **state)
{
    char *path = temp_path("ok.yml");
    struct etx_ydoc *doc = NULL;
    struct etx_error err = {0};
    FILE *f = fopen(path, "w");

    (void)state;
    assert_non_null(f);
    fputs("x:\n  y: [1, 2]\n", f);
    fclose(f);
    assert_int_equal(etx_ydoc_load(path, &doc, &err), ETX_OK);
    assert_string_equal(etx_ydoc_name(doc), path);
    assert_int_equal(
        etx_ydoc_get(etx_ydoc_get(etx_ydoc_root(doc), "x"), "y")->n, 2);
    etx_ydoc_free(doc);
    remove_temp(path);
}

static void
test_load_hostile(void **state)
{
    char *path = temp_path("big.yml");
    struct etx_ydoc *doc = NULL;
    struct etx_error err = {0};
    FILE *f = NULL;

    (void)state;
    assert_int_equal(etx_ydoc_load("/nonexistent/inv.yml", &doc, &err),
                     ETX_ERR);
    assert_string_equal(err.where, "/nonexistent/inv.yml");
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.msg,
                        "cannot open the file: No such file or directory");
    assert_int_equal(etx_ydoc_load("/tmp", &doc, &err), ETX_ERR);
    assert_string_equal(err.msg, "not a regular file");
    /* A 6 MiB sparse file is refused by its size, without reading it. */
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 6 << 20), 0);
    fclose(f);
    assert_int_equal(etx_ydoc_load(path, &doc, &err), ETX_ERR);
    assert_string_equal(err.where, path);
    assert_string_equal(err.msg, "the file is 6291456 bytes; the limit is "
                                 "4194304 bytes (4 MiB)");
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(etx_ydoc_load(path, &doc, &err), ETX_ERR);
    assert_string_equal(err.msg, "not a regular file");
    assert_null(doc);
    remove_temp(path);
}

static const struct etx_ydoc_node *
get(struct etx_ydoc *doc, const char *key)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(etx_ydoc_root(doc), key);

    assert_non_null(n);
    return n;
}

static void
assert_err(const struct etx_error *err, const char *where, const char *msg)
{
    assert_int_equal(err->cls, ETX_CLASS_INPUT);
    assert_string_equal(err->where, where);
    assert_string_equal(err->msg, msg);
}

static void
test_getters_ok(void **state)
{
    struct etx_ydoc *doc = load_ok("s: hello\nu: 42\nb: false\nd: 2m\n"
                                   "m: \"0640\"\nc: green\nv: [/bin/a, b]\n");
    static const char *const colours[] = {"blue", "green", NULL};
    struct etx_error err = {0};
    const char *s = NULL;
    char *dup = NULL;
    char **v = NULL;
    uint64_t u = 0;
    bool b = true;
    unsigned m = 0;
    int c = -1;
    size_t n = 0;

    (void)state;
    assert_int_equal(etx_ydoc_string(get(doc, "s"), "s", &s, &err), ETX_OK);
    assert_string_equal(s, "hello");
    assert_int_equal(etx_ydoc_strdup(get(doc, "s"), "s", &dup, &err), ETX_OK);
    assert_string_equal(dup, "hello");
    free(dup);
    assert_int_equal(etx_ydoc_uint(get(doc, "u"), "u", 1, 42, &u, &err),
                     ETX_OK);
    assert_int_equal(u, 42);
    assert_int_equal(etx_ydoc_bool(get(doc, "b"), "b", &b, &err), ETX_OK);
    assert_false(b);
    assert_int_equal(etx_ydoc_duration(get(doc, "d"), "d", &u, &err), ETX_OK);
    assert_int_equal(u, 120000);
    assert_int_equal(etx_ydoc_mode(get(doc, "m"), "m", &m, &err), ETX_OK);
    assert_int_equal(m, 0640);
    assert_int_equal(etx_ydoc_choice(get(doc, "c"), "c", colours, &c, &err),
                     ETX_OK);
    assert_int_equal(c, 1);
    assert_int_equal(etx_ydoc_strv(get(doc, "v"), "v", &n, &v, &err), ETX_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[1], "b");
    assert_null(v[2]);
    etx_ydoc_strv_free(v);
    assert_int_equal(err.cls, ETX_CLASS_NONE);
    etx_ydoc_free(doc);
}

static void
test_getters_hostile(void **state)
{
    struct etx_ydoc *doc = load_ok("address: [a]\nempty: ''\nu: 43\n"
                                   "b: yes\nd: 5x\nm: \"0800\"\nc: gren\n"
                                   "v: [/bin/a, [b]]\nw: []\n");
    static const char *const colours[] = {"blue", "green", NULL};
    struct etx_error err = {0};
    const char *s = NULL;
    char **v = NULL;
    uint64_t u = 0;
    bool b = true;
    unsigned m = 0;
    int c = -1;
    size_t n = 0;

    (void)state;
    etx_ydoc_string(get(doc, "address"), "address", &s, &err);
    assert_err(&err, "t.yml:1:10",
               "expected a string for 'address', found a sequence");
    etx_ydoc_string(get(doc, "empty"), "empty", &s, &err);
    assert_err(&err, "t.yml:2:8", "expected a non-empty string for 'empty'");
    etx_ydoc_uint(get(doc, "u"), "u", 1, 42, &u, &err);
    assert_err(&err, "t.yml:3:4",
               "expected a whole number from 1 to 42 for 'u', found '43'");
    etx_ydoc_bool(get(doc, "b"), "b", &b, &err);
    assert_err(&err, "t.yml:4:4",
               "expected true or false for 'b', found "
               "'yes'");
    etx_ydoc_duration(get(doc, "d"), "bake", &u, &err);
    assert_err(&err, "t.yml:5:4",
               "bad duration '5x' for 'bake': unknown "
               "unit: expected ms, s, m or h (such as 30s)");
    etx_ydoc_mode(get(doc, "m"), "mode", &m, &err);
    assert_err(&err, "t.yml:6:4",
               "bad mode '0800' for 'mode': a mode is "
               "written in octal: digits 0 to 7 only "
               "(such as \"0755\")");
    etx_ydoc_choice(get(doc, "c"), "live", colours, &c, &err);
    assert_err(&err, "t.yml:7:4",
               "expected one of blue, green for 'live', "
               "found 'gren'; did you mean 'green'?");
    assert_int_equal(etx_ydoc_strv(get(doc, "v"), "command", &n, &v, &err),
                     ETX_ERR);
    assert_err(&err, "t.yml:8:13",
               "expected a string for 'command', found a sequence");
    assert_null(v);
    etx_ydoc_strv(get(doc, "w"), "command", &n, &v, &err);
    assert_err(&err, "t.yml:9:4", "expected a non-empty list for 'command'");
    assert_true(u == 0 && b && m == 0 && c == -1 && s == NULL);
    etx_ydoc_free(doc);
}

static void
test_check_keys_hostile(void **state)
{
    struct etx_ydoc *doc = load_ok("h:\n  adress: x\n  zzzzzz: y\n");
    static const char *const keys[] = {"address", "transport", NULL};
    const struct etx_ydoc_node *h = NULL;
    struct etx_error err = {0};

    (void)state;
    h = get(doc, "h");
    assert_int_equal(etx_ydoc_check_keys(h, keys, "host 'h'", &err), ETX_ERR);
    assert_err(&err, "t.yml:2:3",
               "unknown key 'adress' in host 'h'; did you mean 'address'?");
    assert_int_equal(
        etx_ydoc_check_keys(etx_ydoc_get(h, "adress"), keys, "host 'h'", &err),
        ETX_ERR);
    assert_err(&err, "t.yml:2:11",
               "expected a mapping for host 'h', found a string");
    etx_ydoc_free(doc);
    doc = load_ok("h: {address: x, zzzzzz: y}\n");
    etx_ydoc_check_keys(get(doc, "h"), keys, "host 'h'", &err);
    assert_err(&err, "t.yml:1:17",
               "unknown key 'zzzzzz' in host 'h'; "
               "expected one of address, transport");
    etx_ydoc_free(doc);
}

static void
test_fail_hostile(void **state)
{
    struct etx_ydoc *doc = load_ok("e: \"\\e[31mred\\nx\"\n");
    struct etx_error err = {0};
    bool b = false;

    (void)state;
    assert_int_equal(etx_ydoc_bool(get(doc, "e"), "e", &b, &err), ETX_ERR);
    assert_err(&err, "t.yml:1:4",
               "expected true or false for 'e', found "
               "'?[31mred?x'");
    etx_ydoc_free(doc);
}

static void
test_did_you_mean_ok(void **state)
{
    static const char *const c[] = {"strategy", NULL, "target", "timeout"};

    (void)state;
    assert_string_equal(etx_ydoc_did_you_mean("stratgey", c, 4), "strategy");
    assert_string_equal(etx_ydoc_did_you_mean("targte", c, 4), "target");
    assert_string_equal(etx_ydoc_did_you_mean("timout", c, 4), "timeout");
    assert_null(etx_ydoc_did_you_mean("xyz", c, 4));
    assert_null(etx_ydoc_did_you_mean("ta", c, 4));
    assert_null(etx_ydoc_did_you_mean("", c, 4));
}

static void
test_did_you_mean_hostile(void **state)
{
    /* 200000 candidates of 60 characters: banded distance keeps it fast. */
    size_t n = 200000, i;
    char **c = calloc(n, sizeof(*c));
    char word[61];

    (void)state;
    assert_non_null(c);
    for (i = 0; i < n; i++) {
        c[i] = malloc(61);
        assert_non_null(c[i]);
        snprintf(c[i], 61, "%060zu", i);
    }
    snprintf(word, sizeof(word), "%060zu", (size_t)123456);
    word[0] = 'x';
    assert_string_equal(etx_ydoc_did_you_mean(word, (const char *const *)c, n),
                        c[123456]);
    for (i = 0; i < n; i++)
        free(c[i]);
    free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_buffer_ok),
        cmocka_unit_test(test_load_buffer_empty),
        cmocka_unit_test(test_load_buffer_duplicate),
        cmocka_unit_test(test_load_buffer_duplicate_many),
        cmocka_unit_test(test_load_buffer_second_document),
        cmocka_unit_test(test_load_buffer_bad_keys),
        cmocka_unit_test(test_load_buffer_alias),
        cmocka_unit_test(test_load_buffer_alias_hostile),
        cmocka_unit_test(test_load_buffer_anchors_oversize),
        cmocka_unit_test(test_load_buffer_deep),
        cmocka_unit_test(test_load_buffer_nodes_oversize),
        cmocka_unit_test(test_load_buffer_scalar_oversize),
        cmocka_unit_test(test_load_buffer_oversize),
        cmocka_unit_test(test_load_buffer_hostile),
        cmocka_unit_test(test_load_ok),
        cmocka_unit_test(test_load_hostile),
        cmocka_unit_test(test_getters_ok),
        cmocka_unit_test(test_getters_hostile),
        cmocka_unit_test(test_check_keys_hostile),
        cmocka_unit_test(test_fail_hostile),
        cmocka_unit_test(test_did_you_mean_ok),
        cmocka_unit_test(test_did_you_mean_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
