/* SPDX-License-Identifier: MIT */
/*
 * The rollout journal: one append-only JSON-lines file per rollout,
 * <state>/<fleet>/rollouts/<rollout-id>.jsonl (docs/journal.md has every
 * record kind and field). Each record is one line written by one write(2),
 * so a crash leaves at most a torn last line; intent records are fsynced
 * before the step they announce. Readers replay the lines, tolerate one
 * torn final line, and report any other damage as file:line. The fold
 * turns a journal into what `etxroll status`, `history` and `resume` need.
 *
 * Writers hold the fleet lock (coordinator/lock.h): one writer per file.
 */
#ifndef ETX_COORDINATOR_JOURNAL_H
#define ETX_COORDINATOR_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordinator/hoststate.h"
#include "proto/error.h"

#define ETX_JOURNAL_ID_MAX   64        /* rollout id, with its NUL */
#define ETX_JOURNAL_TS_MAX   32        /* "2026-11-26T14:35:01.123Z" + NUL */
#define ETX_JOURNAL_LINE_MAX (1 << 20) /* longer lines are corruption */

struct etx_journal; /* opaque: an open journal, append side */

/*
 * A new rollout id, "20261126T143501Z-1a2b3c4d" (UTC time, 8 random hex
 * digits): sortable by start time, unique in practice. buf holds at least
 * ETX_JOURNAL_ID_MAX bytes.
 */
int etx_journal_new_id(char *buf, size_t len, struct etx_error *err);

/* The current UTC time as RFC 3339 with milliseconds into buf. */
void etx_journal_timestamp(char *buf, size_t len);

/*
 * "<state>/<fleet>/rollouts/<rollout_id>.jsonl" into buf, after checking
 * the fleet name and the id (etx_statedir_check_name()); no I/O.
 */
int etx_journal_locate(const char *state, const char *fleet,
                       const char *rollout_id, char *buf, size_t len,
                       struct etx_error *err);

/*
 * Create the journal of a new rollout (O_EXCL, mode 0600, directories made
 * as etx_statedir_fleet_ensure() does), fsync its directory. On success *out
 * is new (etx_journal_close()); an existing file is an error (EEXIST).
 */
int etx_journal_create(const char *state, const char *fleet,
                       const char *rollout_id, struct etx_journal **out,
                       struct etx_error *err);

/*
 * Open an existing journal to go on appending (resume, continue, abort,
 * rollback). It is replayed first: corruption fails the open; a torn last
 * line is cut off (ftruncate + fsync) so that the next record starts on a
 * line of its own, and etx_journal_dropped() says how many bytes went.
 * Sequence numbers go on from the last whole record.
 */
int etx_journal_open(const char *state, const char *fleet,
                     const char *rollout_id, struct etx_journal **out,
                     struct etx_error *err);

/* Close and free; NULL is a no-op. Records were written by append. */
void etx_journal_close(struct etx_journal *j);

/* Borrowed strings, valid until etx_journal_close(). */
const char *etx_journal_id(const struct etx_journal *j);
const char *etx_journal_path(const struct etx_journal *j);

/* Bytes of a torn last line cut off by etx_journal_open(); 0 otherwise. */
size_t etx_journal_dropped(const struct etx_journal *j);

/*
 * Append one record. 'rec' (borrowed, not changed) is a JSON object with
 * a string "kind" and the fields of that kind; it must not set "seq", "ts"
 * or "rollout", which are put first on the line here. A "state" field
 * must name a host state. The line is written with one write(2); with
 * 'sync' it is fdatasync'ed before this returns (always pass true for
 * intent records). On a failed or short write the file is cut back to the
 * previous record, so the journal never holds a torn line in its middle.
 * A line longer than ETX_JOURNAL_LINE_MAX is refused.
 */
int etx_journal_append(struct etx_journal *j, json_t *rec, bool sync,
                       struct etx_error *err);

/*
 * The "error" object of a record, from 'e' plus the retry figures:
 * {op, path, errno, errno_name, class, message, attempt, waited_ms,
 * holders}. 'holders' is stolen (NULL: an empty array). Returns a new
 * reference, or NULL when out of memory.
 */
json_t *etx_journal_error_json(const struct etx_error *e, unsigned attempt,
                               uint64_t waited_ms, json_t *holders);

/*
 * Called once per whole record, in order; 'rec' is valid during the call
 * only, 'line' counts from 1. Return ETX_OK to go on, or ETX_ERR with err
 * filled to stop the replay (err->where is then set to file:line).
 */
typedef int (*etx_journal_record_cb)(const json_t *rec, size_t line, void *arg,
                                     struct etx_error *err);

struct etx_journal_replay_info {
    size_t records;    /* whole records passed to the callback */
    size_t torn_line;  /* line number of a torn final line, 0: none */
    size_t torn_bytes; /* its length; it was ignored */
    uint64_t good_end; /* byte offset just past the last whole record */
    char rollout[ETX_JOURNAL_ID_MAX]; /* rollout id of the records */
};

/*
 * Replay the journal at 'path' (streamed, at most ETX_JOURNAL_LINE_MAX in
 * memory), calling cb (NULL: check only) for each record. Every whole line must
 * be a JSON object with "seq" (1, 2, 3, ... in order), "ts" (string), "rollout"
 * (the same id on every line) and a non-empty "kind"; anything else, an empty
 * line or a line longer than ETX_JOURNAL_LINE_MAX is corruption: ETX_ERR,
 * ETX_CLASS_INPUT, where = "path:line". Bytes after the last newline are a torn
 * record, reported in *info (may be NULL) and ignored.
 */
int etx_journal_replay(const char *path, etx_journal_record_cb cb, void *arg,
                       struct etx_journal_replay_info *info,
                       struct etx_error *err);

/* The same over a buffer; 'name' stands for the path in messages. */
int etx_journal_replay_buf(const char *buf, size_t len, const char *name,
                           etx_journal_record_cb cb, void *arg,
                           struct etx_journal_replay_info *info,
                           struct etx_error *err);

/* Where a rollout stands, from its records of kind "rollout". */
enum etx_journal_status {
    ETX_JOURNAL_RUNNING = 0,         /* started, no end: running or crashed */
    ETX_JOURNAL_HALTING,             /* halt recorded, no end yet */
    ETX_JOURNAL_ROLLING_BACK,        /* rollback under way, no end yet */
    ETX_JOURNAL_DONE,                /* ended: every host updated */
    ETX_JOURNAL_HALTED,              /* ended halted, nothing put back */
    ETX_JOURNAL_ROLLED_BACK,         /* ended with every host put back */
    ETX_JOURNAL_ROLLBACK_INCOMPLETE, /* ended with hosts not put back */
    ETX_JOURNAL_STATUS_COUNT
};

/* "running", "halting", ..., "rollback_incomplete"; "unknown" if out of range.
 */
const char *etx_journal_status_name(enum etx_journal_status s);

/* True for the four statuses an "end" record can give. */
bool etx_journal_status_is_ended(enum etx_journal_status s);

struct etx_journal_host {
    char *name;                /* owned by the summary */
    enum etx_host_state state; /* last known state */
    bool reached_swapped;      /* was swapped or later at some point */
    bool in_flight;            /* last record an intent with no outcome */
    long batch;                /* batch of its last record, 0: unknown */
    char step[32];             /* step of its last intent, "" if none */
    char error[256];           /* its last error, "" if none */
};

struct etx_journal_summary {
    char rollout[ETX_JOURNAL_ID_MAX];
    char fleet[ETX_JOURNAL_ID_MAX * 2]; /* from the start record, or "" */
    char plan_id[80];                   /* from the start record, or "" */
    char started[ETX_JOURNAL_TS_MAX];   /* ts of the first record */
    char updated[ETX_JOURNAL_TS_MAX];   /* ts of the last record */
    size_t records;
    size_t torn_bytes; /* torn final line ignored, 0: none */
    enum etx_journal_status status;
    char reason[256]; /* of the last halt, "" if none */
    long batches;     /* batch count from the start, 0: unknown */
    long batch;       /* last batch started (from 1), 0: none */
    bool batch_done;  /* that batch recorded "done" */
    long gate_batch;  /* gate waiting after this batch, 0: none */
    size_t n_hosts;
    struct etx_journal_host *hosts; /* start record's order, then first seen */
};

/*
 * Fold the journal at 'path' into *out (overwritten; release it with
 * etx_journal_summary_clear()). Beyond replay's checks, host moves of
 * intent and outcome records must be allowed by etx_hoststate_can() or
 * repeat the current state (a retry); "probe" records set a host's state
 * as found on the host, unchecked. Records of unknown kinds are skipped.
 * On failure *out is left empty.
 */
int etx_journal_fold(const char *path, struct etx_journal_summary *out,
                     struct etx_error *err);

/* The same over a buffer; 'name' stands for the path in messages. */
int etx_journal_fold_buf(const char *buf, size_t len, const char *name,
                         struct etx_journal_summary *out,
                         struct etx_error *err);

/* Free what a summary owns and zero it; safe on a zeroed summary. */
void etx_journal_summary_clear(struct etx_journal_summary *s);

/* One rollout of a fleet, for `etxroll history`. */
struct etx_journal_entry {
    char id[ETX_JOURNAL_ID_MAX];
    char started[ETX_JOURNAL_TS_MAX]; /* "" when unreadable */
    char updated[ETX_JOURNAL_TS_MAX];
    enum etx_journal_status status;
    size_t n_hosts;
    bool corrupt; /* could not be folded; error says why */
    char error[512];
};

/*
 * The rollouts of a fleet, oldest first (ids sort by start time). On
 * success *out is a new array of *n entries (free() it; NULL when there
 * are none). A journal that cannot be folded is listed with 'corrupt' set,
 * not an error; a fleet with no rollouts directory has none.
 */
int etx_journal_list(const char *state, const char *fleet,
                     struct etx_journal_entry **out, size_t *n,
                     struct etx_error *err);

#endif /* ETX_COORDINATOR_JOURNAL_H */
