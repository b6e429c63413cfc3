/* SPDX-License-Identifier: MIT */
/*
 * The rollout journal: one append-only JSON-lines file per rollout,
 * <state>/<fleet>/rollouts/<rollout-id>.jsonl (docs/journal.md has every
 * record kind and field). Each record is one line written by one write(2),
 * so a crash leaves at most a torn last line; intent records are fsynced
 * before the step they announce. Readers replay the lines, tolerate one
 * torn final line, and report any other damage as file:line. The fold
 * into what `etxroll status`, `history` and `resume` need is
 * coordinator/rollsum.h.
 *
 * Writers hold the fleet lock (coordinator/lock.h): one writer per file.
 */
#ifndef ETX_COORDINATOR_JOURNAL_H
#define ETX_COORDINATOR_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* ETX_COORDINATOR_JOURNAL_H */
