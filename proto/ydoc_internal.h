/* SPDX-License-Identifier: MIT */
/*
 * What proto/ydoc.c (loading) and proto/ydoc_get.c (reading, messages)
 * share; not part of the ydoc API (see ydoc.h).
 */
#ifndef ETX_PROTO_YDOC_INTERNAL_H
#define ETX_PROTO_YDOC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "proto/error.h"

#define ETX_YDOC_SHOW_MAX 64 /* characters of a user's value in a message */
#define ETX_YDOC_SHOW_BUF (ETX_YDOC_SHOW_MAX + 8) /* holds one shown value */

/*
 * Copy at most ETX_YDOC_SHOW_MAX characters of s into buf (len bytes), with
 * control bytes made '?' and "..." when cut; returns buf.
 */
const char *etx_ydoc__show(const char *s, char *buf, size_t len);

/*
 * etx_ydoc_fail() at an explicit file:line:col (1-based), with a va_list;
 * returns ETX_ERR.
 */
int etx_ydoc__vfail(struct etx_error *err, const char *file, size_t line,
                    size_t col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

#endif /* ETX_PROTO_YDOC_INTERNAL_H */
