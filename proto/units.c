/* SPDX-License-Identifier: MIT */
/*
 * Parsers for durations, percents, octal modes, counts and decimals. They
 * are strict on purpose: a value that could be read two ways is refused with
 * a sentence saying what was expected.
 */
#include "proto/units.h"

#include <stdbool.h>
#include <string.h>

struct unit {
    const char *name;
    uint64_t ms;
};

/* Longest suffix first is not needed: "m" and "ms" are compared whole. */
static const struct unit units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60u * 1000},
    {"h", 60u * 60 * 1000},
};

static void
set_why(const char **why, const char *text)
{
    if (why != NULL)
        *why = text;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Read the leading decimal digits of s into *v; *end gets the first
 * non-digit. Fails on no digits or on a value above 'max'.
 */
static int
read_digits(const char *s, uint64_t max, uint64_t *v, const char **end,
            const char **why)
{
    uint64_t acc = 0;
    const char *p = s;

    if (!is_digit(*p)) {
        set_why(why, "expected decimal digits");
        return ETX_ERR;
    }
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > max || acc > (max - d) / 10) {
            set_why(why, "the number is too large");
            return ETX_ERR;
        }
        acc = acc * 10 + d;
    }
    *v = acc;
    *end = p;
    return ETX_OK;
}

int
etx_units_duration(const char *s, uint64_t *ms, const char **why)
{
    uint64_t v = 0;
    const char *end = NULL;
    size_t i;

    if (s == NULL || !is_digit(*s)) {
        set_why(why, "expected a number followed by ms, s, m or h "
                     "(such as 500ms, 30s, 2m)");
        return ETX_ERR;
    }
    if (read_digits(s, UINT64_MAX, &v, &end, why) != ETX_OK)
        return ETX_ERR;
    if (*end == '\0') {
        set_why(why, "a duration needs a unit: ms, s, m or h (such as 30s)");
        return ETX_ERR;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].name) != 0)
            continue;
        if (v > UINT64_MAX / units[i].ms) {
            set_why(why, "the duration is too large");
            return ETX_ERR;
        }
        *ms = v * units[i].ms;
        return ETX_OK;
    }
    set_why(why, "unknown unit: expected ms, s, m or h (such as 30s)");
    return ETX_ERR;
}

int
etx_units_percent(const char *s, unsigned *pct, const char **why)
{
    uint64_t v = 0;
    const char *end = NULL;

    if (s == NULL || read_digits(s, 100, &v, &end, why) != ETX_OK ||
        strcmp(end, "%") != 0) {
        set_why(why, "expected a whole percent from 0% to 100% (such as "
                     "\"10%\")");
        return ETX_ERR;
    }
    *pct = (unsigned)v;
    return ETX_OK;
}

int
etx_units_mode(const char *s, unsigned *mode, const char **why)
{
    unsigned v = 0;
    size_t i;
    size_t len = s == NULL ? 0 : strlen(s);

    if (len == 0 || len > 5) {
        set_why(why, "expected an octal mode of up to 4 digits (such as "
                     "\"0755\")");
        return ETX_ERR;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '7') {
            set_why(why, "a mode is written in octal: digits 0 to 7 only "
                         "(such as \"0755\")");
            return ETX_ERR;
        }
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v > ETX_UNITS_MODE_MAX) {
        set_why(why, "the mode is larger than 07777");
        return ETX_ERR;
    }
    *mode = v;
    return ETX_OK;
}

int
etx_units_count(const char *s, uint64_t max, uint64_t *n, const char **why)
{
    uint64_t v = 0;
    const char *end = NULL;

    if (s == NULL || read_digits(s, max, &v, &end, why) != ETX_OK)
        return ETX_ERR;
    if (*end != '\0') {
        set_why(why, "expected a whole number (decimal digits only)");
        return ETX_ERR;
    }
    *n = v;
    return ETX_OK;
}

int
etx_units_decimal(const char *s, double *v, const char **why)
{
    double acc = 0.0;
    double scale = 1.0;
    size_t digits = 0;
    const char *p = s;

    if (s == NULL || !is_digit(*p)) {
        set_why(why, "expected a decimal number (such as 2 or 1.5)");
        return ETX_ERR;
    }
    for (; is_digit(*p); p++, digits++)
        acc = acc * 10.0 + (double)(*p - '0');
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) {
            set_why(why, "expected digits after the decimal point");
            return ETX_ERR;
        }
        for (; is_digit(*p); p++, digits++) {
            scale /= 10.0;
            acc += scale * (double)(*p - '0');
        }
    }
    if (*p != '\0') {
        set_why(why, "expected a decimal number (such as 2 or 1.5)");
        return ETX_ERR;
    }
    if (digits > 15) {
        set_why(why, "too many digits (at most 15)");
        return ETX_ERR;
    }
    *v = acc;
    return ETX_OK;
}

int
etx_units_abs_path(const char *s, const char **why)
{
    const char *p = s;
    size_t len;

    if (s == NULL || s[0] != '/' || s[1] == '\0') {
        set_why(why, "expected an absolute path (starting with '/', not "
                     "'/' itself)");
        return ETX_ERR;
    }
    while (*p == '/') {
        p++;
        len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.')) {
            set_why(why, "a path without '.', '..', '//' or a trailing "
                         "'/' is expected");
            return ETX_ERR;
        }
        p += len;
    }
    return ETX_OK;
}

int
etx_units_unit_name(const char *s, const char **why)
{
    size_t len = s == NULL ? 0
                           : strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789._-@:\\");

    if (s == NULL || len == 0 || s[len] != '\0' || len > 256 || s[0] == '-') {
        set_why(why, "use letters, digits and '._-@:\\' (such as "
                     "app.service)");
        return ETX_ERR;
    }
    return ETX_OK;
}

static bool
has_blank(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return true;
    return false;
}

int
etx_units_host_port(const char *s, char *host, size_t hostlen, uint16_t *port,
                    const char **why)
{
    const char *colon = s == NULL ? NULL : strrchr(s, ':');
    const char *h = s;
    size_t hl = colon == NULL ? 0 : (size_t)(colon - s);
    uint64_t p = 0;

    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        h = s + 1;
        hl -= 2;
    } else if (hl > 0 && memchr(s, ':', hl) != NULL) {
        hl = 0; /* an IPv6 address needs brackets */
    }
    if (colon == NULL || hl == 0 || has_blank(h, hl) ||
        etx_units_count(colon + 1, 65535, &p, NULL) != ETX_OK || p == 0 ||
        (host != NULL && hl >= hostlen)) {
        set_why(why, "expected host:port or [v6addr]:port with a port from "
                     "1 to 65535 (such as 127.0.0.1:7420)");
        return ETX_ERR;
    }
    if (host != NULL) {
        memcpy(host, h, hl);
        host[hl] = '\0';
    }
    *port = (uint16_t)p;
    return ETX_OK;
}
