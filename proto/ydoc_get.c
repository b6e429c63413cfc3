/* SPDX-License-Identifier: MIT */
/*
 * Reading a loaded ydoc tree (ydoc.h): lookups, the typed getters for
 * walkers, key checks with did-you-mean, and the messages that name a
 * node's file:line:col. Loading the tree is in ydoc.c.
 */
#include "proto/ydoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/units.h"
#include "proto/ydoc_internal.h"

#define DYM_MAXLEN 64 /* longer words get no did-you-mean */

const char *
etx_ydoc__show(const char *s, char *buf, size_t len)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i < ETX_YDOC_SHOW_MAX && i + 4 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (s[i] != '\0' && i + 3 < len) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

int
etx_ydoc__vfail(struct etx_error *err, const char *file, size_t line,
                size_t col, const char *fmt, va_list ap)
{
    char where[512];
    char msg[512];
    size_t i;

    snprintf(where, sizeof(where), "%s:%zu:%zu", file, line, col);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* Messages quote the user's text: keep escapes out of terminals. */
    for (i = 0; msg[i] != '\0'; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = '?';
    return etx_error_set(err, ETX_CLASS_INPUT, 0, "yaml", where, "%s", msg);
}

int
etx_ydoc_fail(struct etx_error *err, const struct etx_ydoc_node *n,
              const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    etx_ydoc__vfail(err, n->file, n->line, n->col, fmt, ap);
    va_end(ap);
    return ETX_ERR;
}

const char *
etx_ydoc_kind_name(const struct etx_ydoc_node *n)
{
    switch (n->kind) {
    case ETX_YDOC_SCALAR:
        return "a string";
    case ETX_YDOC_SEQUENCE:
        return "a sequence";
    case ETX_YDOC_MAPPING:
        return "a mapping";
    default:
        return "null";
    }
}

const char *
etx_ydoc_where(const struct etx_ydoc_node *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u:%u", n->file, n->line, n->col);
    return buf;
}

const struct etx_ydoc_node *
etx_ydoc_get(const struct etx_ydoc_node *map, const char *key)
{
    size_t i;

    if (map == NULL || map->kind != ETX_YDOC_MAPPING)
        return NULL;
    for (i = 0; i < map->n; i++)
        if (strcmp(map->items[2 * i]->str, key) == 0)
            return map->items[2 * i + 1];
    return NULL;
}

/*
 * Levenshtein distance of a and b if it is at most k, else k + 1. Only the
 * band |i - j| <= k of the table is computed, so a long list of candidates
 * costs O(length * k) each.
 */
static size_t
edit_distance(const char *a, const char *b, size_t k)
{
    size_t rows[2][DYM_MAXLEN + 2];
    size_t *prev = rows[0], *cur = rows[1], *t = NULL;
    size_t la = strlen(a), lb = strlen(b), i, j, lo, hi, v;

    if (la > DYM_MAXLEN || lb > DYM_MAXLEN || la > lb + k || lb > la + k)
        return k + 1;
    for (j = 0; j <= lb; j++)
        prev[j] = j <= k ? j : k + 1;
    for (i = 1; i <= la; i++) {
        lo = i > k ? i - k : 1;
        hi = i + k < lb ? i + k : lb;
        cur[lo - 1] = lo == 1 && i <= k ? i : k + 1;
        if (hi < lb)
            cur[hi + 1] = k + 1; /* read as "above" by the next row */
        for (j = lo; j <= hi; j++) {
            v = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v > k ? k + 1 : v;
        }
        t = prev, prev = cur, cur = t;
    }
    return prev[lb];
}

const char *
etx_ydoc_did_you_mean(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t wl = strlen(word);
    size_t limit = wl <= 4 ? 1 : 2; /* short words: one edit at most */
    size_t best_d = limit + 1, d, i;

    if (wl == 0 || wl > DYM_MAXLEN)
        return NULL;
    for (i = 0; i < n; i++) {
        if (cands[i] == NULL)
            continue;
        d = edit_distance(word, cands[i], limit);
        /* One letter is within one edit of any other: require d < len. */
        if (d < best_d && d < wl) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

/* "a, b, c" from a NULL-terminated list, cut to fit. */
static const char *
join(const char *const *names, char *buf, size_t len)
{
    size_t used = 0;
    size_t i;

    buf[0] = '\0';
    for (i = 0; names[i] != NULL && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 i == 0 ? "" : ", ", names[i]);
    return buf;
}

static size_t
count_names(const char *const *names)
{
    size_t n = 0;

    while (names[n] != NULL)
        n++;
    return n;
}

int
etx_ydoc_check_keys(const struct etx_ydoc_node *map, const char *const *allowed,
                    const char *what, struct etx_error *err)
{
    const struct etx_ydoc_node *key = NULL;
    const char *dym = NULL;
    char buf[ETX_YDOC_SHOW_BUF];
    char list[400];
    size_t i, j, n_allowed = count_names(allowed);

    if (map->kind != ETX_YDOC_MAPPING)
        return etx_ydoc_fail(err, map, "expected a mapping for %s, found %s",
                             what, etx_ydoc_kind_name(map));
    for (i = 0; i < map->n; i++) {
        key = map->items[2 * i];
        for (j = 0; j < n_allowed && strcmp(key->str, allowed[j]) != 0; j++)
            continue;
        if (j < n_allowed)
            continue;
        dym = etx_ydoc_did_you_mean(key->str, allowed, n_allowed);
        etx_ydoc__show(key->str, buf, sizeof(buf));
        if (dym != NULL)
            return etx_ydoc_fail(err, key,
                                 "unknown key '%s' in %s; did "
                                 "you mean '%s'?",
                                 buf, what, dym);
        return etx_ydoc_fail(err, key,
                             "unknown key '%s' in %s; expected "
                             "one of %s",
                             buf, what, join(allowed, list, sizeof(list)));
    }
    return ETX_OK;
}

int
etx_ydoc_expect(const struct etx_ydoc_node *n, enum etx_ydoc_kind kind,
                const char *what, struct etx_error *err)
{
    struct etx_ydoc_node want = {.kind = kind};

    if (n->kind == kind)
        return ETX_OK;
    return etx_ydoc_fail(err, n, "expected %s for '%s', found %s",
                         etx_ydoc_kind_name(&want), what,
                         etx_ydoc_kind_name(n));
}

int
etx_ydoc_string(const struct etx_ydoc_node *n, const char *what,
                const char **out, struct etx_error *err)
{
    if (etx_ydoc_expect(n, ETX_YDOC_SCALAR, what, err) != ETX_OK)
        return ETX_ERR;
    if (n->len == 0)
        return etx_ydoc_fail(err, n, "expected a non-empty string for '%s'",
                             what);
    *out = n->str;
    return ETX_OK;
}

int
etx_ydoc_strdup(const struct etx_ydoc_node *n, const char *what, char **out,
                struct etx_error *err)
{
    const char *s = NULL;
    char *copy = NULL;

    if (etx_ydoc_string(n, what, &s, err) != ETX_OK)
        return ETX_ERR;
    copy = strdup(s);
    if (copy == NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, ENOMEM, "yaml", n->file,
                             "out of memory");
    *out = copy;
    return ETX_OK;
}

int
etx_ydoc_uint(const struct etx_ydoc_node *n, const char *what, uint64_t min,
              uint64_t max, uint64_t *out, struct etx_error *err)
{
    uint64_t v = 0;
    char buf[ETX_YDOC_SHOW_BUF];

    if (n->kind == ETX_YDOC_SCALAR &&
        etx_units_count(n->str, max, &v, NULL) == ETX_OK && v >= min) {
        *out = v;
        return ETX_OK;
    }
    if (n->kind != ETX_YDOC_SCALAR)
        return etx_ydoc_fail(err, n,
                             "expected a whole number for '%s', "
                             "found %s",
                             what, etx_ydoc_kind_name(n));
    return etx_ydoc_fail(err, n,
                         "expected a whole number from %llu to %llu "
                         "for '%s', found '%s'",
                         (unsigned long long)min, (unsigned long long)max, what,
                         etx_ydoc__show(n->str, buf, sizeof(buf)));
}

int
etx_ydoc_bool(const struct etx_ydoc_node *n, const char *what, bool *out,
              struct etx_error *err)
{
    char buf[ETX_YDOC_SHOW_BUF];

    if (n->kind == ETX_YDOC_SCALAR && strcmp(n->str, "true") == 0) {
        *out = true;
        return ETX_OK;
    }
    if (n->kind == ETX_YDOC_SCALAR && strcmp(n->str, "false") == 0) {
        *out = false;
        return ETX_OK;
    }
    if (n->kind != ETX_YDOC_SCALAR)
        return etx_ydoc_fail(err, n,
                             "expected true or false for '%s', "
                             "found %s",
                             what, etx_ydoc_kind_name(n));
    return etx_ydoc_fail(err, n,
                         "expected true or false for '%s', found "
                         "'%s'",
                         what, etx_ydoc__show(n->str, buf, sizeof(buf)));
}

int
etx_ydoc_duration(const struct etx_ydoc_node *n, const char *what, uint64_t *ms,
                  struct etx_error *err)
{
    const char *why = NULL;
    char buf[ETX_YDOC_SHOW_BUF];

    if (etx_ydoc_expect(n, ETX_YDOC_SCALAR, what, err) != ETX_OK)
        return ETX_ERR;
    if (etx_units_duration(n->str, ms, &why) != ETX_OK)
        return etx_ydoc_fail(err, n, "bad duration '%s' for '%s': %s",
                             etx_ydoc__show(n->str, buf, sizeof(buf)), what,
                             why);
    return ETX_OK;
}

int
etx_ydoc_mode(const struct etx_ydoc_node *n, const char *what, unsigned *mode,
              struct etx_error *err)
{
    const char *why = NULL;
    char buf[ETX_YDOC_SHOW_BUF];

    if (etx_ydoc_expect(n, ETX_YDOC_SCALAR, what, err) != ETX_OK)
        return ETX_ERR;
    if (etx_units_mode(n->str, mode, &why) != ETX_OK)
        return etx_ydoc_fail(err, n, "bad mode '%s' for '%s': %s",
                             etx_ydoc__show(n->str, buf, sizeof(buf)), what,
                             why);
    return ETX_OK;
}

int
etx_ydoc_choice(const struct etx_ydoc_node *n, const char *what,
                const char *const *names, int *out, struct etx_error *err)
{
    const char *dym = NULL;
    char buf[ETX_YDOC_SHOW_BUF];
    char list[400];
    size_t i, count = count_names(names);

    if (etx_ydoc_expect(n, ETX_YDOC_SCALAR, what, err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < count; i++) {
        if (strcmp(n->str, names[i]) == 0) {
            *out = (int)i;
            return ETX_OK;
        }
    }
    join(names, list, sizeof(list));
    etx_ydoc__show(n->str, buf, sizeof(buf));
    dym = etx_ydoc_did_you_mean(n->str, names, count);
    if (dym != NULL)
        return etx_ydoc_fail(err, n,
                             "expected one of %s for '%s', found "
                             "'%s'; did you mean '%s'?",
                             list, what, buf, dym);
    return etx_ydoc_fail(err, n, "expected one of %s for '%s', found '%s'",
                         list, what, buf);
}

void
etx_ydoc_strv_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

int
etx_ydoc_strv(const struct etx_ydoc_node *n, const char *what, size_t *count,
              char ***out, struct etx_error *err)
{
    char **v = NULL;
    size_t i;
    int rc = ETX_ERR;

    if (etx_ydoc_expect(n, ETX_YDOC_SEQUENCE, what, err) != ETX_OK)
        return ETX_ERR;
    if (n->n == 0)
        return etx_ydoc_fail(err, n, "expected a non-empty list for '%s'",
                             what);
    v = calloc(n->n + 1, sizeof(*v));
    if (v == NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, ENOMEM, "yaml", n->file,
                             "out of memory");
    for (i = 0; i < n->n; i++)
        if (etx_ydoc_strdup(n->items[i], what, &v[i], err) != ETX_OK)
            goto out;
    *count = n->n;
    *out = v;
    v = NULL;
    rc = ETX_OK;
out:
    etx_ydoc_strv_free(v);
    return rc;
}
