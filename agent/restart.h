/* SPDX-License-Identifier: MIT */
/*
 * Restarting a service after a swap, on a libuv loop, in three steps
 * (../shared/DESIGN.md "Where ETXTBSY still comes from", MUST 10, 11, 16):
 *
 * check    the published target (and, for a command, the command file)
 *          can be executed: no process holds it open for writing or maps
 *          it shared-writable (etx_holders_check_exec). Writers, or
 *          ETXTBSY from starting the command, are transient: retried on a
 *          uv timer within the retry budget (default 5 attempts, 50 ms to
 *          1 s, full jitter); past it the error becomes ETX_CLASS_CONFLICT
 *          with the holders named. A budget of one attempt reports the
 *          first such error as it is (transient, writers in 'writers'), for
 *          a caller that retries under its own policy (the agent's session:
 *          the coordinator retries);
 * run      "/bin/systemctl restart UNIT", or the command's argv, run
 *          without a shell (agent/spawn.h) with a timeout; a non-zero exit,
 *          a signal or the timeout is an integrity error "service did not
 *          start" with the status and the captured output;
 * confirm  every poll_ms, up to confirm_ms, a holder scan for processes
 *          executing the published (dev, ino): success as soon as one does.
 *          When none does by then, the error (integrity) is "running the
 *          old binary" with the pids that execute the previous (dev, ino),
 *          or "service did not start" when none does either.
 *
 * Which units and commands may run is the caller's decision (the agent
 * config); this module only refuses a unit name that is not a plain systemd
 * unit name (no '/', no leading '-') and a command that is not an absolute
 * path. /proc scans run on the libuv thread pool, never on the loop.
 */
#ifndef ETX_AGENT_RESTART_H
#define ETX_AGENT_RESTART_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "agent/holders.h"
#include "agent/spawn.h"
#include "proto/backoff.h"
#include "proto/error.h"

#define ETX_RESTART_SYSTEMCTL  "/bin/systemctl"
#define ETX_RESTART_TIMEOUT_MS 60000 /* default for the restart itself */
#define ETX_RESTART_CONFIRM_MS 10000 /* default wait for the new inode */
#define ETX_RESTART_POLL_MS    100   /* default scan period while confirming */

/*
 * Called before each wait of the retry budget, with the transient error,
 * the attempt that failed (1 = the first) and the wait that follows; for
 * logs (MUST 25). 'e' is valid during the call only.
 */
typedef void (*etx_restart_retry_cb)(const struct etx_error *e,
                                     unsigned attempt, uint64_t delay_ms,
                                     void *arg);

/* Everything is copied by etx_restart_start(). */
struct etx_restart_spec {
    const char *unit;          /* a systemd unit, or NULL for argv */
    const char *const *argv;   /* a command: NULL-ended, argv[0] absolute */
    const char *target;        /* the published path (check, reports) */
    struct etx_file_id new_id; /* the published (dev, ino) */
    bool has_old_id;
    struct etx_file_id old_id;              /* the previous (dev, ino) */
    uint64_t timeout_ms;                    /* 0: ETX_RESTART_TIMEOUT_MS */
    uint64_t confirm_ms;                    /* 0: ETX_RESTART_CONFIRM_MS */
    uint64_t poll_ms;                       /* 0: ETX_RESTART_POLL_MS */
    const struct etx_backoff_policy *retry; /* NULL: the default above */
    etx_restart_retry_cb on_retry;          /* may be NULL */
    void *retry_arg;
};

struct etx_restart_result {
    int status;           /* ETX_OK or ETX_ERR */
    struct etx_error err; /* when ETX_ERR */
    unsigned attempts;    /* tries of check + start, the first included */
    uint64_t waited_ms;   /* time spent in backoff waits */
    bool ran;             /* the restart command ran; see 'run' */
    struct etx_spawn_result run;
    struct etx_holders writers;     /* the last check's writers */
    struct etx_holders running_new; /* processes executing new_id */
    struct etx_holders running_old; /* processes executing old_id */
};

struct etx_restart; /* opaque: agent/restart.c */

/*
 * Called once at the end. 'r' (and its holder lists) are valid during the
 * call only; the restart is freed after it returns.
 */
typedef void (*etx_restart_done_cb)(const struct etx_restart_result *r,
                                    void *arg);

/*
 * Start on 'loop'. Returns ETX_OK and (when out is not NULL) the running
 * restart, valid until 'cb' returns; or ETX_ERR with err filled (class
 * input: a bad unit name, a relative command, no target) and 'cb' never
 * called, nothing run.
 */
int etx_restart_start(uv_loop_t *loop, const struct etx_restart_spec *spec,
                      etx_restart_done_cb cb, void *arg,
                      struct etx_restart **out, struct etx_error *err);

/*
 * Stop now: a running command is killed, a wait is cut short; 'cb' is
 * called (class ambiguous, ECANCELED: the service's state is unknown) once
 * nothing is in flight. Not to be called once 'cb' ran.
 */
void etx_restart_stop(struct etx_restart *r);

/* True when 'unit' is a plain systemd unit name (see above). */
bool etx_restart_unit_is_valid(const char *unit);

#endif /* ETX_AGENT_RESTART_H */
