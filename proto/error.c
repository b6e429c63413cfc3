/* SPDX-License-Identifier: MIT */
/*
 * The error report and the errno classification table of DESIGN.md.
 * strerrorname_np() (glibc 2.32+) gives errno names, so no table of names
 * is kept here.
 */
#define _GNU_SOURCE
#include "proto/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const class_names[ETX_CLASS_COUNT] = {
    [ETX_CLASS_NONE] = "none",           [ETX_CLASS_TRANSIENT] = "transient",
    [ETX_CLASS_AMBIGUOUS] = "ambiguous", [ETX_CLASS_PLACEMENT] = "placement",
    [ETX_CLASS_INTEGRITY] = "integrity", [ETX_CLASS_CONFLICT] = "conflict",
    [ETX_CLASS_INPUT] = "input",         [ETX_CLASS_INTERNAL] = "internal",
};

static void
copy_field(char *dst, size_t len, const char *src)
{
    if (src == NULL)
        src = "";
    snprintf(dst, len, "%s", src);
}

static void
fill(struct etx_error *e, enum etx_err_class cls, int sys_errno,
     const char *op, const char *where)
{
    e->cls = cls;
    e->sys_errno = sys_errno;
    copy_field(e->op, sizeof(e->op), op);
    copy_field(e->where, sizeof(e->where), where);
}

int
etx_error_set(struct etx_error *e, enum etx_err_class cls, int sys_errno,
              const char *op, const char *where, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return ETX_ERR;
    fill(e, cls, sys_errno, op, where);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return ETX_ERR;
}

int
etx_error_sys(struct etx_error *e, int sys_errno, enum etx_err_ctx ctx,
              const char *op, const char *where, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (e == NULL)
        return ETX_ERR;
    fill(e, etx_error_classify(sys_errno, ctx), sys_errno, op, where);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    n = strlen(e->msg);
    if (n < sizeof(e->msg))
        snprintf(e->msg + n, sizeof(e->msg) - n, ": %s",
                 strerror(sys_errno));
    return ETX_ERR;
}

/* Errnos whose class depends on where they were met. */
static enum etx_err_class
classify_by_context(int sys_errno, enum etx_err_ctx ctx)
{
    switch (sys_errno) {
    case ETXTBSY:
        /* On exec a writer may still be closing; anywhere else it means
         * somebody writes a running file in place: a design conflict. */
        return ctx == ETX_CTX_EXEC ? ETX_CLASS_TRANSIENT : ETX_CLASS_CONFLICT;
    case EBUSY:
        return ctx == ETX_CTX_LOCK ? ETX_CLASS_TRANSIENT : ETX_CLASS_PLACEMENT;
    case EPIPE:
    case ECONNABORTED:
    case ENOTCONN:
    case ENETDOWN:
        /* A peer that went away, like ECONNRESET: it may come back. */
        return ctx == ETX_CTX_NET ? ETX_CLASS_TRANSIENT : ETX_CLASS_NONE;
    case ENOENT:
    case EEXIST:
    case ETIMEDOUT:
        if (ctx == ETX_CTX_NETFS_RENAME)
            return ETX_CLASS_AMBIGUOUS;
        if (sys_errno == ETIMEDOUT)
            return ETX_CLASS_TRANSIENT;
        return ETX_CLASS_PLACEMENT;
    default:
        return ETX_CLASS_NONE;
    }
}

enum etx_err_class
etx_error_classify(int sys_errno, enum etx_err_ctx ctx)
{
    enum etx_err_class cls = classify_by_context(sys_errno, ctx);

    if (cls != ETX_CLASS_NONE)
        return cls;
    switch (sys_errno) {
    case EAGAIN:
    case EINTR:
    case ESTALE:
    case ECONNRESET:
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return ETX_CLASS_TRANSIENT;
    case EIO:
        return ETX_CLASS_AMBIGUOUS;
    case EXDEV:
    case EROFS:
    case ENOSPC:
    case EDQUOT:
    case EOPNOTSUPP:
    case EACCES:
    case EPERM:
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY:
    case ELOOP:
    case ENAMETOOLONG:
        return ETX_CLASS_PLACEMENT;
    default:
        return ETX_CLASS_INTERNAL;
    }
}

const char *
etx_error_errno_name(int sys_errno)
{
    const char *name = strerrorname_np(sys_errno);

    return name != NULL ? name : "EUNKNOWN";
}

const char *
etx_error_class_name(enum etx_err_class cls)
{
    if ((unsigned)cls >= ETX_CLASS_COUNT)
        return "unknown";
    return class_names[cls];
}

bool
etx_error_is_retryable(const struct etx_error *e)
{
    return e != NULL && e->cls == ETX_CLASS_TRANSIENT;
}

const char *
etx_error_format(const struct etx_error *e, char *buf, size_t len)
{
    const char *sep = e->where[0] != '\0' ? ": " : "";

    if (e->sys_errno != 0)
        snprintf(buf, len, "%s%s%s [%s, %s]", e->where, sep, e->msg,
                 etx_error_errno_name(e->sys_errno),
                 etx_error_class_name(e->cls));
    else if (e->cls == ETX_CLASS_INPUT)
        snprintf(buf, len, "%s%s%s", e->where, sep, e->msg);
    else
        snprintf(buf, len, "%s%s%s [%s]", e->where, sep, e->msg,
                 etx_error_class_name(e->cls));
    return buf;
}
