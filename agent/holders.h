/* SPDX-License-Identifier: MIT */
/*
 * Who holds a file: a scan of /proc that finds the processes that execute,
 * map, hold open (with the access mode), or sit in (cwd/root) any of a set
 * of files, matched by device and inode, never by path
 * (../shared/reference/etxtbsy-correctness.md §5, MUST 21). A /proc entry
 * that cannot be read is counted as unknown, never as "no holder".
 */
#ifndef ETX_AGENT_HOLDERS_H
#define ETX_AGENT_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "proto/error.h"

struct etx_file_id {
    dev_t dev;
    ino_t ino;
};

enum etx_holder_rel {
    ETX_HOLD_EXEC = 0, /* /proc/PID/exe is the file */
    ETX_HOLD_MAP_R,    /* mapped, not shared-writable */
    ETX_HOLD_MAP_W,    /* MAP_SHARED + PROT_WRITE ("rw-s"): blocks exec */
    ETX_HOLD_FD_R,     /* open read-only */
    ETX_HOLD_FD_W,     /* open for writing: blocks exec */
    ETX_HOLD_CWD,      /* current directory */
    ETX_HOLD_ROOT,     /* root directory */
    ETX_HOLD_REL_COUNT
};

struct etx_holder {
    pid_t pid;
    pid_t ppid;
    uid_t uid;
    uint64_t start_time; /* /proc/PID/stat field 22, in clock ticks */
    enum etx_holder_rel rel;
    int fd;            /* for FD_R/FD_W, else -1 */
    unsigned fd_flags; /* fdinfo "flags:" (octal in /proc) */
    size_t id_index;   /* which of the scanned ids it holds */
    char comm[32];
    char cmdline[256];  /* NULs shown as spaces, cut to fit */
    char unit[128];     /* systemd unit from the cgroup, or "" */
    char container[80]; /* container id from the cgroup, or "" */
    char path[256];     /* the path as the process sees it */
};

struct etx_holders {
    size_t n;
    struct etx_holder *v;
    size_t n_unknown;    /* processes whose entries could not be read */
    pid_t first_unknown; /* one of them, for the report, or 0 */
    size_t n_more;       /* holders past ETX_HOLDERS_MAX, counted only */
};

/* At most this many holders are kept in v; the rest are counted in n_more. */
#define ETX_HOLDERS_MAX 16384

/* Scan options: which relations to look for. */
#define ETX_HOLDERS_ALL     0u
#define ETX_HOLDERS_WRITERS (1u << 0) /* only FD_W and MAP_W */

/*
 * Scan every process for the files in ids[0..n_ids). The scanning process
 * itself is left out. On success fills *out (free with etx_holders_free());
 * on failure (e.g. /proc not mounted) returns ETX_ERR and fills err.
 */
int etx_holders_scan(const struct etx_file_id *ids, size_t n_ids,
                     unsigned flags, struct etx_holders *out,
                     struct etx_error *err);

void
etx_holders_free(struct etx_holders *h); /* frees v; h itself is the caller's */

/* "EXEC", "MAP-R", "MAP-W", "FD-R", "FD-W", "CWD", "ROOT". */
const char *etx_holders_rel_name(enum etx_holder_rel rel);

/*
 * One line for people per holder ("pid 123 (app) FD-W fd 5, started ...,
 * unit app.service"), joined by "; " into buf; "" when there are none and
 * "; N processes could not be inspected" appended when n_unknown > 0.
 */
const char *etx_holders_format(const struct etx_holders *h, char *buf,
                               size_t len);

/*
 * The engine's exec check: the file 'id' (published at 'path', used for the
 * report only) can be executed without ETXTBSY iff no process holds it open
 * for writing (FD-W) or has a shared writable mapping of it (MAP-W).
 * Returns ETX_OK when there is none. Otherwise returns ETX_ERR with err
 * filled as op "exec-check", where = path, sys_errno ETXTBSY, class
 * transient, and a message naming the holders (pid, relation). When
 * writers_out is not NULL it receives the writer list in both cases (free
 * with etx_holders_free()); on a scan failure it is left empty.
 *
 * Limits: a process whose /proc entries are unreadable is not known to be a
 * writer (see n_unknown in writers_out); a mapping made from a descriptor
 * opened for writing but mapped read-only ("r--s", "r--p") also blocks exec
 * and is not reported as a writer, because /proc/PID/maps does not show the
 * descriptor's access mode.
 */
int etx_holders_check_exec(const struct etx_file_id *id, const char *path,
                           struct etx_holders *writers_out,
                           struct etx_error *err);

/*
 * The holders as JSON, for reports and facts:
 * {"holders": [{"pid", "ppid", "uid", "start_time", "relation" (as
 * etx_holders_rel_name()), "fd" (FD-R/FD-W only), "fd_flags" (FD only),
 * "id_index", "comm", "cmdline", "unit", "container", "path"}, ...],
 * "unknown": n_unknown, "first_unknown": pid or 0, "more": n_more}.
 * Returns a new reference (json_decref()), or NULL when out of memory.
 */
json_t *etx_holders_to_json(const struct etx_holders *h);

#endif /* ETX_AGENT_HOLDERS_H */
