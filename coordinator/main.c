/* SPDX-License-Identifier: MIT */
/*
 * etxroll: the command line. Parses arguments, runs one command from the
 * table and returns its exit code; the work is done by the modules.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/apply.h"
#include "coordinator/inventory.h"
#include "coordinator/plan.h"
#include "coordinator/plantable.h"
#include "coordinator/rollcli.h"
#include "coordinator/probe.h"
#include "coordinator/resume.h"
#include "proto/units.h"
#include "proto/psk.h"

/* Exit codes, documented in README.md and `etxroll --help`. */
#define EXIT_DONE    0 /* done */
#define EXIT_HALTED  1 /* halted or rolled back; or a runtime failure */
#define EXIT_USAGE   2 /* usage or inventory error */

struct etx_cmd {
    const char *name;
    const char *usage;
    const char *summary;
    const char *help; /* NULL: not built yet, and refused */
    int (*run)(int argc, char **argv);
};

static int cmd_validate(int argc, char **argv);
static int cmd_plan(int argc, char **argv);
static int cmd_keygen(int argc, char **argv);
static int cmd_apply(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_history(int argc, char **argv);
static int cmd_continue(int argc, char **argv);
static int cmd_abort(int argc, char **argv);
static int cmd_lock(int argc, char **argv);
static int cmd_unlock(int argc, char **argv);
static int cmd_resume(int argc, char **argv);
static int cmd_rollback(int argc, char **argv);

#define STATE_OPTS                                                             \
    "  --state-dir DIR   the state directory (default: docs/journal.md)\n"    \
    "  --fleet NAME      only this fleet (default: every fleet there)\n"
static int cmd_probe(int argc, char **argv);

static const struct etx_cmd cmds[] = {
    {"validate", "validate FILE", "check an inventory and summarise it",
     "Reads the inventory FILE, checks every key, type and reference, and\n"
     "prints a one-line summary. Errors are printed as FILE:LINE:COL: ...\n"
     "Exit 0 when valid, 2 when not.\n",
     cmd_validate},
    {"plan", "plan FILE [--offline] [--json] [-o PLAN.json] [--timeout DUR]",
     "show what a rollout would do, changing nothing",
     "Plans a rollout of the inventory FILE: the artifact's SHA-256, the\n"
     "batches in order with their hosts, each host's steps, the failure\n"
     "policy, and a plan id (SHA-256 of the plan's canonical JSON).\n"
     "Without --offline it first probes every host's agent, read-only and\n"
     "all at once: each host's current target digest, and hazards (target\n"
     "on a network file system or a mount point, free space under twice\n"
     "the artifact, processes executing the target, hosts that look like\n"
     "they share storage without a storage group, unreachable hosts).\n"
     "The id then covers the hosts' current state: `etxroll apply\n"
     "PLAN.json` refuses the plan when it changed. docs/plan.md.\n"
     "\n"
     "  --offline      contact no host (current state \"not probed\")\n"
     "  --json         print the plan as one JSON object instead of a table\n"
     "  -o, --output PLAN.json\n"
     "                 also save the plan document there (written whole,\n"
     "                 atomically)\n"
     "  --timeout DUR  give up on hosts not answered after DUR (default 15s)\n"
     "\n"
     "Exit 0 on success, 2 for a bad inventory or artifact, 1 when the\n"
     "plan cannot be written or a host did not answer (the plan is still\n"
     "printed and saved, with an \"unreachable\" hazard).\n",
     cmd_plan},
    {"apply",
     "apply FILE|PLAN.json [--state-dir DIR] [--log-json FILE] [-m MSG]\n"
     "              [--expect-plan-id ID]",
     "run a rollout of an inventory or of a saved plan",
     "Given a saved plan (`etxroll plan -o PLAN.json`), checks that the\n"
     "file still has its own id, plans its inventory (meta.inventory)\n"
     "again, probing the hosts if the plan was probed, and refuses with\n"
     "exit 4, naming what changed (artifact, batches, hosts.NAME.current,\n"
     "...), unless the new plan is the same; then runs it as below.\n"
     "\n"
     "Plans the inventory FILE (as `plan --offline` does), takes the fleet\n"
     "lock, and drives every host through stage, verify, swap, restart and\n"
     "health check, batch by batch, over the agent carrier (TLS with the\n"
     "fleet key). Transient errors are retried with the inventory's retry\n"
     "policy; past max_failures the rollout halts and, with on_failure:\n"
     "rollback, puts back every host it swapped, newest batch first.\n"
     "Ctrl-C halts the same way. docs/rollout.md has the details.\n"
     "\n"
     "  --state-dir DIR       journals and locks (default: see\n"
     "                        docs/journal.md)\n"
     "  --log-json FILE       append one JSON event per line to FILE\n"
     "  -m, --message MSG     recorded in the fleet lock for others to see\n"
     "  --expect-plan-id ID   refuse (exit 4) unless the plan id is ID\n"
     "\n"
     "Exit 0 done; 1 halted or rolled back, or the fleet lock is held (the\n"
     "message names the holder); 2 usage or inventory error; 3 rollback\n"
     "incomplete; 4 the plan id differs from --expect-plan-id, or the\n"
     "saved plan no longer matches (or was edited).\n",
     cmd_apply},
    {"resume", "resume ID [--state-dir DIR] [--log-json FILE]",
     "finish or roll back an interrupted rollout",
     "Go on with a rollout whose coordinator died (kill -9, a crash, a\n"
     "reboot). The journal is re-read; the fleet lock is taken over only\n"
     "from this rollout's own dead coordinator on this host (else refused,\n"
     "naming the holder); the inventory and artifact recorded at the start\n"
     "are reloaded (exit 4 if they changed); every host is probed (the\n"
     "target's SHA-256 says whether it was swapped) and its stale temps are\n"
     "removed. A running rollout is finished: unswapped hosts go on from\n"
     "stage, swapped ones restart and are checked. A halting or rolling-\n"
     "back one is rolled back: every host that reached swapped is put back,\n"
     "newest batch first. Exit codes as apply.\n",
     cmd_resume},
    {"rollback", "rollback ID [--state-dir DIR] [--log-json FILE]",
     "put back a completed rollout",
     "Put back every host that a rollout which ended done swapped: each is\n"
     "probed, put back (the kept previous version), restarted and checked,\n"
     "newest batch first, in the same batch sizes. Journaled in the same\n"
     "journal (rollout resume, rollout rollback, the hosts' records, a new\n"
     "rollout end). Exit 0 when every host is back, 1 when the lock is\n"
     "held, 2 when the rollout did not end done, 3 when a host could not\n"
     "be put back, 4 when the inventory or artifact changed.\n",
     cmd_rollback},
    {"status", "status [ID] [--state-dir DIR] [--fleet NAME]",
     "show a rollout's state (the newest by default)",
     "Folds the rollout's journal: its status (running, halting,\n"
     "rolling_back, done, halted, rolled_back, rollback_incomplete), the\n"
     "halt reason, the batch, a waiting gate, and each host's last state,\n"
     "step and error. A rollout still \"running\" whose coordinator is gone\n"
     "has crashed.\n\n" STATE_OPTS
     "\nExit 0, 2 when there is no such rollout, 1 when it cannot be read.\n",
     cmd_status},
    {"history", "history [--state-dir DIR] [--fleet NAME]",
     "list past rollouts",
     "Lists every rollout of every fleet, oldest first, with its status.\n\n"
     STATE_OPTS,
     cmd_history},
    {"continue", "continue ID [--state-dir DIR] [--fleet NAME]",
     "pass a manual gate",
     "Tells the running `etxroll apply` of rollout ID, waiting at a gate\n"
     "(batches.gate_after), to go on with the next batch. It writes\n"
     "\"continue\" to <state>/<fleet>/rollouts/ID.control, which apply\n"
     "polls; the gate's answer is journaled.\n\n" STATE_OPTS,
     cmd_continue},
    {"abort", "abort ID [--state-dir DIR] [--fleet NAME]",
     "stop at a manual gate and roll back",
     "Tells the running `etxroll apply` of rollout ID, waiting at a gate,\n"
     "to halt and put back every host it swapped (whatever on_failure\n"
     "says). apply then exits 1 (or 3 when a host cannot be put back).\n\n"
     STATE_OPTS,
     cmd_abort},
    {"lock", "lock [--state-dir DIR] [--fleet NAME]",
     "show who holds the fleet lock",
     "Prints each locked fleet's holder: host, pid, rollout, start time,\n"
     "message and lock id.\n\n" STATE_OPTS,
     cmd_lock},
    {"unlock", "unlock LOCK_ID [--state-dir DIR] [--fleet NAME]",
     "break a stale fleet lock",
     "Removes the fleet lock whose id is exactly LOCK_ID (see `etxroll\n"
     "lock`). Only for a lock whose coordinator is gone: check the\n"
     "rollout with `etxroll status` first.\n\n" STATE_OPTS
     "\nExit 0 when broken, 2 when no fleet holds that id.\n",
     cmd_unlock},
    {"probe", "probe FILE [HOST...] [--json] [--timeout DUR]",
     "print what the agents report about their host and the target",
     "Connects to the agent of every host of the inventory FILE (or of the\n"
     "HOSTs named), all at once, and prints what each reports: the agent's\n"
     "version, host name, kernel and boot id, and the inventory's target as\n"
     "that host sees it: exists, SHA-256, size, mode, owner, file system\n"
     "(network or not), mount, free bytes and the processes holding it.\n"
     "Read-only: nothing on a host changes. SSH hosts run `etxroll-agent\n"
     "--stdio` for the probe (docs/ssh.md).\n"
     "\n"
     "  --json          print one JSON object keyed by host name\n"
     "  --timeout DUR   give up on hosts that have not answered after DUR\n"
     "                  (default 15s)\n"
     "\n"
     "Exit 0 when every host answered, 1 when one did not, 2 for bad\n"
     "arguments or a bad inventory.\n",
     cmd_probe},
    {"keygen", "keygen FILE [--force]", "write a new fleet pre-shared key",
     "Writes 32 random bytes as one line of 64 hex characters to FILE, mode\n"
     "0600, atomically. The agents (key_file in their config) and the\n"
     "inventory (transport.key_file) name the same key; TLS 1.3 between\n"
     "them is authenticated with it.\n"
     "\n"
     "  --force   replace an existing FILE (otherwise refused)\n"
     "\n"
     "Exit 0 on success, 2 for bad arguments or an existing FILE, 1 when it\n"
     "cannot be written.\n",
     cmd_keygen},
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
print_usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: etxroll COMMAND [ARGS]   (etxroll COMMAND --help)\n"
                 "\nCommands:\n");
    for (i = 0; i < N_CMDS; i++)
        if (cmds[i].help != NULL)
            fprintf(out, "  %-44s %s\n", cmds[i].usage, cmds[i].summary);
    fprintf(out, "\nNot built yet (refused with exit 2):\n ");
    for (i = 0; i < N_CMDS; i++)
        if (cmds[i].help == NULL)
            fprintf(out, " %s", cmds[i].name);
    fprintf(out,
            "\n\nExit codes: 0 done; 1 halted or rolled back (or a runtime "
            "failure);\n2 usage or inventory error; 3 rollback incomplete "
            "(a human must look);\n4 the saved plan no longer matches.\n"
            "\nOptions: --help, --version. Inventory reference: "
            "docs/inventory.md\n");
}

static void
print_cmd_help(const struct etx_cmd *c)
{
    printf("usage: etxroll %s\n\n%s\n%s", c->usage, c->summary, c->help);
}

static bool
wants_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static int
usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "etxroll %s: %s (see 'etxroll %s --help')\n", cmd, msg,
            cmd);
    return EXIT_USAGE;
}

static int
report(const struct etx_error *err)
{
    char line[1200];

    fprintf(stderr, "%s\n", etx_error_format(err, line, sizeof(line)));
    return EXIT_USAGE;
}

static int
cmd_validate(int argc, char **argv)
{
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    if (argc != 2 || argv[1][0] == '-')
        return usage_error("validate", "expects exactly one FILE");
    if (etx_inventory_load(argv[1], &inv, &err) != ETX_OK)
        return report(&err);
    printf("%s: valid: fleet %s, %zu hosts, %zu groups, strategy %s, "
           "target %s\n",
           argv[1], inv->fleet, inv->n_hosts, inv->n_groups,
           etx_inventory_strategy_name(inv->target.strategy),
           inv->target.path);
    etx_inventory_free(inv);
    return EXIT_DONE;
}

static int
cmd_keygen(int argc, char **argv)
{
    struct etx_error err = {0};
    bool force = false;
    const char *file = NULL;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0)
            force = true;
        else if (argv[i][0] == '-' || file != NULL)
            return usage_error("keygen", "expects FILE and maybe --force");
        else
            file = argv[i];
    }
    if (file == NULL)
        return usage_error("keygen", "expects FILE");
    if (etx_psk_generate(file, force, &err) != ETX_OK) {
        report(&err);
        return err.sys_errno == EEXIST ? EXIT_USAGE : EXIT_HALTED;
    }
    printf("wrote a new fleet key to %s (mode 0600)\n", file);
    return EXIT_DONE;
}

static int
parse_probe_args(int argc, char **argv, struct etx_probe_opts *o)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *why = NULL;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            o->json = true;
        else if (c != 't')
            return usage_error("probe", "unknown option or missing value");
        else if (etx_units_duration(optarg, &o->timeout_ms, &why) != ETX_OK ||
                 o->timeout_ms == 0)
            return usage_error("probe", "--timeout expects a duration such "
                                        "as 10s");
    }
    if (optind >= argc)
        return usage_error("probe", "expects an inventory FILE");
    o->hosts = (const char *const *)argv + optind + 1;
    o->n_hosts = (size_t)(argc - optind - 1);
    return EXIT_DONE;
}

static int
cmd_probe(int argc, char **argv)
{
    struct etx_probe_opts o = {0};
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};
    size_t failed = 0;
    int rc;

    rc = parse_probe_args(argc, argv, &o);
    if (rc != EXIT_DONE)
        return rc;
    if (etx_inventory_load(argv[optind], &inv, &err) != ETX_OK)
        return report(&err);
    if (etx_probe_run(inv, &o, stdout, &failed, &err) != ETX_OK) {
        report(&err);
        rc = err.cls == ETX_CLASS_INPUT ? EXIT_USAGE : EXIT_HALTED;
    } else {
        rc = failed > 0 ? EXIT_HALTED : EXIT_DONE;
    }
    etx_inventory_free(inv);
    return rc;
}

struct plan_args {
    const char *file;
    const char *output;
    bool offline;
    bool json;
    uint64_t timeout_ms;
};

static int
parse_plan_args(int argc, char **argv, struct plan_args *a)
{
    static const struct option opts[] = {
        {"offline", no_argument, NULL, 'O'},
        {"json", no_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *why = NULL;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (c == 'O')
            a->offline = true;
        else if (c == 'j')
            a->json = true;
        else if (c == 'o')
            a->output = optarg;
        else if (c != 't')
            return usage_error("plan", "unknown option or missing value");
        else if (etx_units_duration(optarg, &a->timeout_ms, &why) != ETX_OK ||
                 a->timeout_ms == 0)
            return usage_error("plan", "--timeout expects a duration such "
                                       "as 10s");
    }
    if (optind != argc - 1)
        return usage_error("plan", "expects exactly one inventory FILE");
    a->file = argv[optind];
    return EXIT_DONE;
}

static int
emit_plan(const struct etx_plan *p, const struct plan_args *a)
{
    struct etx_error err = {0};
    char *text = NULL;

    if (a->output != NULL && etx_plan_save(p, a->output, &err) != ETX_OK) {
        report(&err);
        return EXIT_HALTED;
    }
    if (!a->json) {
        etx_plantable_print(etx_plan_json(p), stdout);
        if (a->output != NULL)
            printf("\nPlan saved to %s\n", a->output);
        return EXIT_DONE;
    }
    text = json_dumps(etx_plan_json(p), JSON_INDENT(2) | JSON_SORT_KEYS |
                                            JSON_REAL_PRECISION(17));
    if (text == NULL) {
        fprintf(stderr, "etxroll plan: out of memory\n");
        return EXIT_HALTED;
    }
    printf("%s\n", text);
    free(text);
    return EXIT_DONE;
}

/* Hosts the probe could not reach (hazards of kind "unreachable"). */
static size_t
unreachable(const json_t *doc)
{
    const json_t *h;
    size_t i, n = 0;

    json_array_foreach(json_object_get(doc, "hazards"), i, h)
        n += strcmp(json_string_value(json_object_get(h, "kind")),
                    "unreachable") == 0;
    return n;
}

static int
cmd_plan(int argc, char **argv)
{
    struct plan_args a = {0};
    struct etx_inventory *inv = NULL;
    struct etx_plan *p = NULL;
    struct etx_plan_opts po = {0};
    struct etx_error err = {0};
    int rc;

    rc = parse_plan_args(argc, argv, &a);
    if (rc != EXIT_DONE)
        return rc;
    po.offline = a.offline;
    po.timeout_ms = a.timeout_ms;
    if (etx_inventory_load(a.file, &inv, &err) != ETX_OK)
        return report(&err);
    if (etx_plan_build(inv, &po, &p, &err) != ETX_OK)
        rc = report(&err);
    else
        rc = emit_plan(p, &a);
    if (rc == EXIT_DONE && unreachable(etx_plan_json(p)) > 0)
        rc = EXIT_HALTED;
    etx_plan_free(p);
    etx_inventory_free(inv);
    return rc;
}

static int
cmd_apply(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"log-json", required_argument, NULL, 'l'},
        {"message", required_argument, NULL, 'm'},
        {"expect-plan-id", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    struct etx_apply_opts a = {0};
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:", opts, NULL)) != -1) {
        if (c == 's')
            a.state_dir = optarg;
        else if (c == 'l')
            a.log_json = optarg;
        else if (c == 'm')
            a.message = optarg;
        else if (c == 'e')
            a.expect_plan_id = optarg;
        else
            return usage_error("apply", "unknown option or missing value");
    }
    if (optind != argc - 1)
        return usage_error("apply", "expects exactly one inventory FILE or "
                                    "PLAN.json");
    a.inventory = argv[optind];
    return etx_apply_run(&a);
}

/* Options of the journal and lock commands; 'want': positional args. */
static int
parse_rollcli(const char *cmd, int argc, char **argv, int want,
              struct etx_rollcli_opts *o)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"fleet", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            o->state_dir = optarg;
        else if (c == 'f')
            o->fleet = optarg;
        else
            return usage_error(cmd, "unknown option or missing value");
    }
    if (argc - optind > (want < 0 ? 1 : want) ||
        (want > 0 && argc - optind != want))
        return usage_error(cmd, want == 0 ? "takes no argument"
                                          : "expects one argument");
    o->arg = optind < argc ? argv[optind] : NULL;
    return EXIT_DONE;
}

static int
cmd_status(int argc, char **argv)
{
    struct etx_rollcli_opts o = {0};
    int rc = parse_rollcli("status", argc, argv, -1, &o);

    return rc != EXIT_DONE ? rc : etx_rollcli_status(&o);
}

static int
cmd_history(int argc, char **argv)
{
    struct etx_rollcli_opts o = {0};
    int rc = parse_rollcli("history", argc, argv, 0, &o);

    return rc != EXIT_DONE ? rc : etx_rollcli_history(&o);
}

static int
cmd_continue(int argc, char **argv)
{
    struct etx_rollcli_opts o = {0};
    int rc = parse_rollcli("continue", argc, argv, 1, &o);

    return rc != EXIT_DONE ? rc : etx_rollcli_gate(&o, "continue");
}

static int
cmd_abort(int argc, char **argv)
{
    struct etx_rollcli_opts o = {0};
    int rc = parse_rollcli("abort", argc, argv, 1, &o);

    return rc != EXIT_DONE ? rc : etx_rollcli_gate(&o, "abort");
}

static int
cmd_lock(int argc, char **argv)
{
    struct etx_rollcli_opts o = {0};
    int rc = parse_rollcli("lock", argc, argv, 0, &o);

    return rc != EXIT_DONE ? rc : etx_rollcli_lock(&o);
}

static int
cmd_unlock(int argc, char **argv)
{
    struct etx_rollcli_opts o = {0};
    int rc = parse_rollcli("unlock", argc, argv, 1, &o);

    return rc != EXIT_DONE ? rc : etx_rollcli_unlock(&o);
}

static int
cmd_resume_like(const char *cmd, bool rollback, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"log-json", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    struct etx_resume_opts a = {0};
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            a.state_dir = optarg;
        else if (c == 'l')
            a.log_json = optarg;
        else
            return usage_error(cmd, "unknown option or missing value");
    }
    if (optind != argc - 1)
        return usage_error(cmd, "expects exactly one rollout ID");
    a.id = argv[optind];
    a.rollback = rollback;
    return etx_resume_run(&a);
}

static int
cmd_resume(int argc, char **argv)
{
    return cmd_resume_like("resume", false, argc, argv);
}

static int
cmd_rollback(int argc, char **argv)
{
    return cmd_resume_like("rollback", true, argc, argv);
}

static const struct etx_cmd *
find_cmd(const char *name)
{
    size_t i;

    for (i = 0; i < N_CMDS; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

static int
run_cmd(const struct etx_cmd *c, int argc, char **argv)
{
    if (c->help == NULL) {
        fprintf(stderr,
                "etxroll %s: not built yet (see README.md, \"Status\", "
                "and etxroll --help)\n",
                c->name);
        return EXIT_USAGE;
    }
    if (wants_help(argc, argv)) {
        print_cmd_help(c);
        return EXIT_DONE;
    }
    return c->run(argc, argv);
}

int
main(int argc, char **argv)
{
    const struct etx_cmd *c;

    /* A write to an agent that just died must be an EPIPE error for that
     * host (probe, plan, apply), not the end of the coordinator. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("etxroll %s (inventory version %d)\n", ETX_VERSION,
               ETX_INVENTORY_VERSION);
        return EXIT_DONE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        c = argc > 2 ? find_cmd(argv[2]) : NULL;
        if (c != NULL && c->help != NULL)
            print_cmd_help(c);
        else
            print_usage(stdout);
        return EXIT_DONE;
    }
    c = find_cmd(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "etxroll: unknown command '%s'\n\n", argv[1]);
        print_usage(stderr);
        return EXIT_USAGE;
    }
    return run_cmd(c, argc - 1, argv + 1);
}
