/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for coordinator/sshcmd.c. Any bytes, as a host's answer
 * to the agent probe, must parse into three bounded name lines or fail
 * with an INPUT error and a zeroed result. The same bytes, cut into an
 * agent path and a config path at a point the input chooses, are quoted
 * into the agent, probe and mv commands in a buffer exactly as large as
 * the input says: never a byte written past it, "" on failure, and a
 * command that is built splits, as a POSIX shell splits it, into exactly
 * the words given, nothing left for the shell to expand.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/sshcmd.h"

#define MAX_WORDS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
name_ok(const char *s)
{
    size_t n = strnlen(s, ETX_SSHCMD_NAME_MAX + 1);

    return n > 0 && n <= ETX_SSHCMD_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") == n;
}

static void
probe(const uint8_t *data, size_t size)
{
    struct etx_sshcmd_probe p;
    struct etx_error err = {0};
    static const struct etx_sshcmd_probe zero;

    if (etx_sshcmd_parse_probe("fuzz", (const char *)data, size, &p, &err) !=
        ETX_OK) {
        if (err.cls != ETX_CLASS_INPUT || memcmp(&p, &zero, sizeof(p)) != 0)
            abort();
        return;
    }
    if (!name_ok(p.sys) || !name_ok(p.machine))
        abort();
    if (etx_sshcmd_check_platform("fuzz", p.sys, p.machine, &err) != ETX_OK &&
        err.cls != ETX_CLASS_PLACEMENT)
        abort();
}

/*
 * Split cmd (NUL-terminated) as a POSIX shell splits a line of words made
 * of '...' strings, \' and the characters in 'bare', separated by single
 * spaces: the words into w, each in its own buffer of strlen(cmd) + 1
 * bytes. Abort on any other character, which a shell might expand; the
 * number of words.
 */
static size_t
split(const char *cmd, const char *bare, char *w[MAX_WORDS])
{
    const char *c = cmd;
    size_t n = 0;
    size_t k = 0;

    for (;;) {
        if (n == MAX_WORDS)
            abort();
        for (k = 0; *c != '\0' && *c != ' '; c++) {
            if (*c == '\'') {
                for (c++; *c != '\'' && *c != '\0'; c++)
                    w[n][k++] = *c;
                if (*c == '\0')
                    abort();
            } else if (*c == '\\' && c[1] == '\'') {
                w[n][k++] = *++c;
            } else if (strchr(bare, *c) != NULL) {
                w[n][k++] = *c;
            } else {
                abort();
            }
        }
        w[n++][k] = '\0';
        if (*c == '\0')
            return n;
        c++;
    }
}

/* cmd splits into exactly the 'want' words. */
static void
expect(const char *cmd, const char *bare, const char *const *want,
       size_t n_want)
{
    char *w[MAX_WORDS] = {NULL};
    size_t len = strlen(cmd) + 1;
    size_t n = 0;
    size_t i;

    for (i = 0; i < MAX_WORDS; i++)
        if ((w[i] = malloc(len)) == NULL)
            abort();
    n = split(cmd, bare, w);
    if (n != n_want)
        abort();
    for (i = 0; i < n; i++)
        if (strcmp(w[i], want[i]) != 0)
            abort();
    for (i = 0; i < MAX_WORDS; i++)
        free(w[i]);
}

/* A failed build leaves "", a successful one a string inside buf. */
static void
check_buf(bool ok, const char *buf, size_t len)
{
    if (len > 0 && (ok ? memchr(buf, '\0', len) == NULL : buf[0] != '\0'))
        abort();
}

static void
commands(const char *a, const char *b, char *buf, size_t len)
{
    const char *cmd[] = {a, "--stdio", "--config", b};
    const char *mv[] = {"mv", "-f", a, b, "2>&1"};
    struct etx_error err = {0};
    bool ok = false;

    ok = etx_sshcmd_command(a, b, buf, len, &err) == ETX_OK;
    check_buf(ok, buf, len);
    if (ok)
        expect(buf, "-abcdefghijklmnopqrstuvwxyz", cmd, 4);
    else if (err.cls != ETX_CLASS_INPUT)
        abort();
    ok = etx_sshcmd_mv_command(a, b, buf, len);
    check_buf(ok, buf, len);
    if (ok)
        expect(buf, "-fmv2>&1", mv, 5);
    ok = etx_sshcmd_probe_command(a, buf, len);
    check_buf(ok, buf, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *a = NULL;
    char *b = NULL;
    char *buf = NULL;
    size_t cut = 0;
    size_t len = 0;

    probe(data, size);
    if (size < 3)
        return 0;
    len = (((size_t)data[1] << 8) | data[2]) % (ETX_SSHCMD_PROBE_MAX + 1);
    cut = data[0] % (size - 3 + 1);
    a = strndup((const char *)data + 3, cut);
    b = strndup((const char *)data + 3 + cut, size - 3 - cut);
    buf = malloc(len > 0 ? len : 1);
    if (a != NULL && b != NULL && buf != NULL)
        commands(a, b, buf, len);
    free(a);
    free(b);
    free(buf);
    return 0;
}
