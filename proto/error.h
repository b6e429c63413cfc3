/* SPDX-License-Identifier: MIT */
/*
 * Status codes and the error report shared by every module of etxroll and
 * etxroll-agent: a status for control flow, and a caller-owned struct
 * etx_error for people and policy (../shared/DESIGN.md "Errors",
 * ../shared/STYLE.md R4). Also the one table that maps an errno, in the
 * context of the operation that got it, to its class.
 */
#ifndef ETX_PROTO_ERROR_H
#define ETX_PROTO_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define ETX_OK    0
#define ETX_ERR   (-1)
#define ETX_AGAIN (-2) /* need more input, or would block */

enum etx_err_class {
    ETX_CLASS_NONE = 0,  /* no error recorded */
    ETX_CLASS_TRANSIENT, /* waiting can help: retry with backoff */
    ETX_CLASS_AMBIGUOUS, /* outcome unknown: check the destination first */
    ETX_CLASS_PLACEMENT, /* waiting cannot help: change where or how */
    ETX_CLASS_INTEGRITY, /* digest, identity or health did not match */
    ETX_CLASS_CONFLICT,  /* a transient error outlived its attempts */
    ETX_CLASS_INPUT,     /* bad input: inventory, config, frame, usage */
    ETX_CLASS_INTERNAL,  /* an error that says the code is wrong */
    ETX_CLASS_COUNT
};

/*
 * The operation an errno came from: the same errno means different things
 * in different places (EBUSY on a lock is transient, on a rename it means
 * the target is a mount point).
 */
enum etx_err_ctx {
    ETX_CTX_FILE = 0,    /* any file-system call not listed below */
    ETX_CTX_EXEC,        /* execve or a service restart */
    ETX_CTX_WRITE_OPEN,  /* opening an existing file for writing */
    ETX_CTX_RENAME,      /* rename/link publishing a file */
    ETX_CTX_LOCK,        /* taking a lock */
    ETX_CTX_NETFS_RENAME,/* a retried rename or link on a network fs */
    ETX_CTX_NET,         /* sockets, connections, health checks */
    ETX_CTX_COUNT
};

/* Caller-owned, fixed size (fillable on ENOMEM), written on failure only. */
struct etx_error {
    enum etx_err_class cls;
    int sys_errno;   /* 0 when not from a system call */
    char op[32];     /* "rename", "yaml", "frame" */
    char where[512]; /* a path, "inv.yml:12:3", or a host name */
    char msg[512];   /* one human sentence */
};

/*
 * Fill 'e' (when not NULL) and return ETX_ERR, so that callers can write
 * 'return etx_error_set(...)'. 'where' may be NULL. Text that does not fit
 * is cut, never overflowed.
 */
int etx_error_set(struct etx_error *e, enum etx_err_class cls, int sys_errno,
                  const char *op, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * Like etx_error_set() for a failed system call: the class comes from
 * etx_error_classify(sys_errno, ctx) and the message gets ": <strerror>".
 */
int etx_error_sys(struct etx_error *e, int sys_errno, enum etx_err_ctx ctx,
                  const char *op, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The class of 'sys_errno' met in context 'ctx' (DESIGN.md "Errors"). */
enum etx_err_class etx_error_classify(int sys_errno, enum etx_err_ctx ctx);

/* "ETXTBSY" for 26; "EUNKNOWN" for a number that has no name. */
const char *etx_error_errno_name(int sys_errno);

/* "transient", "ambiguous", ... ; never NULL. */
const char *etx_error_class_name(enum etx_err_class cls);

/* True when waiting and trying again can help (transient only). */
bool etx_error_is_retryable(const struct etx_error *e);

/*
 * Write one line for people into buf: "where: msg [ENAME, class]"; an input
 * error without errno is just "where: msg" (file:line:col: ...). Empty parts
 * are left out. Returns buf.
 */
const char *etx_error_format(const struct etx_error *e, char *buf, size_t len);

#endif /* ETX_PROTO_ERROR_H */
