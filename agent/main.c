/* SPDX-License-Identifier: MIT */
/*
 * etxroll-agent: the host side of etxroll. Parses arguments, builds the
 * agent (config, key, engine, log, host facts), serves the protocol on TCP
 * with TLS or on stdin/stdout (--stdio, for the SSH carrier) until SIGTERM
 * or SIGINT, and returns an exit code: 0 after a clean stop, 1 for a
 * runtime failure, 2 for a usage or configuration error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agentlog.h"
#include "agent/config.h"
#include "agent/engine.h"
#include "agent/facts.h"
#include "agent/server.h"
#include "proto/psk.h"

#define EXIT_OK      0
#define EXIT_RUNTIME 1 /* a runtime failure */
#define EXIT_USAGE   2 /* usage or configuration error */

struct agent_args {
    const char *config;
    const char *listen; /* overrides the config's listen */
    const char *port_file;
    bool stdio;
    enum etx_agentlog_level level;
};

/* Everything the daemon owns; built by main(), never global. */
struct etx_agent {
    uv_loop_t loop;
    struct etx_agentlog log;
    struct etx_agent_config *cfg;
    struct etx_engine *engine;
    struct etx_facts_host host;
    struct etx_psk psk;
    struct etx_server *srv;
    uv_signal_t sig_term, sig_int;
};

static void
print_usage(FILE *out)
{
    fprintf(out,
            "usage: etxroll-agent --config FILE [--listen ADDR] "
            "[--port-file FILE]\n"
            "                     [--log-level LEVEL]\n"
            "       etxroll-agent --stdio --config FILE [--log-level LEVEL]\n"
            "       etxroll-agent --check-config FILE\n"
            "       etxroll-agent --version | --help\n"
            "\n"
            "The host agent of etxroll (docs/agent.md, "
            "docs/agent-config.md).\n"
            "\n"
            "  --config FILE        serve with this configuration: TLS 1.3 "
            "with the\n"
            "                       fleet key on the config's listen address\n"
            "  --listen ADDR        listen here instead (host:port; port 0 "
            "picks a\n"
            "                       free one)\n"
            "  --port-file FILE     write the bound port to FILE once "
            "listening\n"
            "  --stdio              serve one session on stdin/stdout "
            "without TLS\n"
            "                       (behind SSH); exit when it ends\n"
            "  --log-level LEVEL    debug, info (default), warn or error; "
            "the log is\n"
            "                       JSON lines on stderr\n"
            "  --check-config FILE  load the agent configuration and its key\n"
            "                       file; print the first problem as\n"
            "                       FILE:LINE:COL: ... and exit 2, or exit 0\n"
            "  --version            print the version and exit\n"
            "  --help               print this help and exit\n"
            "\n"
            "Exit codes: 0 stopped cleanly (SIGTERM, SIGINT, or the stdio "
            "session\nended); 1 runtime failure; 2 usage or configuration "
            "error.\n");
}

static int
report(const struct etx_error *err)
{
    char line[1200];

    fprintf(stderr, "%s\n", etx_error_format(err, line, sizeof(line)));
    return EXIT_USAGE;
}

/* The config, the key file's ownership and mode, and the key's format. */
static int
check_config(const char *path)
{
    struct etx_agent_config *cfg = NULL;
    struct etx_psk psk;
    struct etx_error err = {0};
    int rc = EXIT_USAGE;

    if (etx_agent_config_load(path, &cfg, &err) != ETX_OK)
        return report(&err);
    if (etx_agent_config_check_key_perms(cfg, &err) != ETX_OK ||
        etx_psk_load(cfg->key_file, &psk, &err) != ETX_OK) {
        report(&err);
        goto out;
    }
    etx_psk_clear(&psk);
    printf("%s: valid: listen %s, %zu root(s), %zu unit(s), %zu restart "
           "command(s), %zu health command(s)\n",
           path, cfg->listen, cfg->n_roots, cfg->n_restart_units,
           cfg->n_restart_commands, cfg->n_health_commands);
    rc = EXIT_OK;
out:
    etx_agent_config_free(cfg);
    return rc;
}

static int
parse_level(const char *s, enum etx_agentlog_level *out)
{
    enum etx_agentlog_level l;

    for (l = ETX_AGENTLOG_DEBUG; l <= ETX_AGENTLOG_ERROR; l++)
        if (strcmp(s, etx_agentlog_level_name(l)) == 0) {
            *out = l;
            return 0;
        }
    return -1;
}

static int
parse_args(int argc, char **argv, struct agent_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"port-file", required_argument, NULL, 'p'},
        {"stdio", no_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    int c;

    a->level = ETX_AGENTLOG_INFO;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            a->config = optarg;
        else if (c == 'l')
            a->listen = optarg;
        else if (c == 'p')
            a->port_file = optarg;
        else if (c == 's')
            a->stdio = true;
        else if (c != 'L' || parse_level(optarg, &a->level) != 0)
            return -1;
    }
    if (optind != argc || a->config == NULL)
        return -1;
    if (a->stdio && (a->listen != NULL || a->port_file != NULL))
        return -1;
    return 0;
}

/* Config, key (TCP only), engine: every refusal here is exit 2. */
static int
load_agent(struct etx_agent *ag, const struct agent_args *a)
{
    struct etx_engine_opts eo = {0};
    struct etx_error err = {0};

    if (etx_agent_config_load(a->config, &ag->cfg, &err) != ETX_OK)
        return report(&err);
    if (!a->stdio &&
        (etx_agent_config_check_key_perms(ag->cfg, &err) != ETX_OK ||
         etx_psk_load(ag->cfg->key_file, &ag->psk, &err) != ETX_OK))
        return report(&err);
    eo.roots = (const char *const *)ag->cfg->roots;
    eo.n_roots = ag->cfg->n_roots;
    eo.state_dir = ag->cfg->state_dir;
    if (etx_engine_new(&eo, &ag->engine, &err) != ETX_OK)
        return report(&err);
    if (etx_facts_host(&ag->host, &err) != ETX_OK)
        return report(&err);
    return EXIT_OK;
}

/* MUST 24: what this kernel does about ETXTBSY, measured and logged once. */
static void
log_etxtbsy_probe(struct etx_agent *ag)
{
    struct etx_facts_etxtbsy p = {0};
    struct etx_error err = {0};
    char dir[PATH_MAX];
    char line[1200];

    if (snprintf(dir, sizeof(dir), "%s/etxtbsy-probe.XXXXXX",
                 ag->cfg->state_dir) >= (int)sizeof(dir) ||
        mkdtemp(dir) == NULL) {
        etx_agentlog_write(&ag->log, ETX_AGENTLOG_WARN, "kernel.etxtbsy", NULL,
                           NULL, "cannot make a scratch directory in %s: %s",
                           ag->cfg->state_dir, strerror(errno));
        return;
    }
    if (etx_facts_etxtbsy_probe(dir, &p, &err) != ETX_OK)
        etx_agentlog_write(&ag->log, ETX_AGENTLOG_WARN, "kernel.etxtbsy", NULL,
                           NULL, "the ETXTBSY probe did not run: %s",
                           etx_error_format(&err, line, sizeof(line)));
    else
        etx_agentlog_write(&ag->log, ETX_AGENTLOG_INFO, "kernel.etxtbsy", NULL,
                           etx_facts_etxtbsy_to_json(&p),
                           "kernel %s: writing a running program %s, "
                           "executing a file open for writing %s",
                           p.kernel, p.write_denied ? "is denied" : "WORKS",
                           p.exec_denied ? "is denied" : "WORKS");
    rmdir(dir);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct etx_agent *ag = h->data;

    etx_agentlog_write(&ag->log, ETX_AGENTLOG_INFO, "agent.stop", NULL, NULL,
                       "%s: closing every connection",
                       signum == SIGTERM ? "SIGTERM" : "SIGINT");
    if (ag->srv != NULL)
        etx_server_close(ag->srv);
}

/* Signal handles do not keep the loop alive: the server does. */
static void
watch_signals(struct etx_agent *ag)
{
    uv_signal_init(&ag->loop, &ag->sig_term);
    uv_signal_init(&ag->loop, &ag->sig_int);
    ag->sig_term.data = ag->sig_int.data = ag;
    uv_signal_start(&ag->sig_term, on_signal, SIGTERM);
    uv_signal_start(&ag->sig_int, on_signal, SIGINT);
    uv_unref((uv_handle_t *)&ag->sig_term);
    uv_unref((uv_handle_t *)&ag->sig_int);
}

static int
start_server(struct etx_agent *ag, const struct agent_args *a)
{
    struct etx_server_opts o = {0};
    struct etx_error err = {0};
    const int fds[2] = {STDIN_FILENO, STDOUT_FILENO};
    char line[1200];
    int rc;

    o.ctx.loop = &ag->loop;
    o.ctx.cfg = ag->cfg;
    o.ctx.engine = ag->engine;
    o.ctx.log = &ag->log;
    o.ctx.host = &ag->host;
    o.psk = &ag->psk;
    o.listen = a->listen != NULL ? a->listen : ag->cfg->listen;
    o.port_file = a->port_file;
    if (a->stdio)
        rc = etx_server_stdio(&o, fds, &ag->srv, &err);
    else
        rc = etx_server_listen(&o, &ag->srv, &err);
    if (rc != ETX_OK) {
        etx_agentlog_write(&ag->log, ETX_AGENTLOG_ERROR, "agent.start", NULL,
                           NULL, "cannot serve: %s",
                           etx_error_format(&err, line, sizeof(line)));
        return err.cls == ETX_CLASS_INPUT ? EXIT_USAGE : EXIT_RUNTIME;
    }
    etx_agentlog_write(&ag->log, ETX_AGENTLOG_INFO, "agent.start", NULL,
                       json_pack("{ss si}", "listen",
                                 a->stdio ? "stdio" : o.listen, "port",
                                 etx_server_port(ag->srv)),
                       "etxroll-agent %s serving on %s (port %d)", ETX_VERSION,
                       a->stdio ? "stdio" : o.listen, etx_server_port(ag->srv));
    return EXIT_OK;
}

static void
close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Run until stopped, then close what is left; 1 if the loop would not. */
static int
run_loop(struct etx_agent *ag)
{
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&ag->sig_term, NULL);
    uv_close((uv_handle_t *)&ag->sig_int, NULL);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&ag->loop) == 0)
        return EXIT_OK;
    etx_agentlog_write(&ag->log, ETX_AGENTLOG_ERROR, "agent.stop", NULL, NULL,
                       "handles were left open at exit");
    uv_walk(&ag->loop, close_walk_cb, NULL);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ag->loop);
    return EXIT_RUNTIME;
}

static int
serve(const struct agent_args *a)
{
    struct etx_agent ag;
    int rc;

    memset(&ag, 0, sizeof(ag));
    ag.log.out = stderr;
    ag.log.min = a->level;
    rc = load_agent(&ag, a);
    if (rc == EXIT_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rc = EXIT_RUNTIME;
    if (rc != EXIT_OK)
        goto out;
    log_etxtbsy_probe(&ag);
    uv_loop_init(&ag.loop);
    watch_signals(&ag);
    rc = start_server(&ag, a);
    if (run_loop(&ag) != EXIT_OK && rc == EXIT_OK)
        rc = EXIT_RUNTIME;
    etx_server_free(ag.srv);
    curl_global_cleanup();
out:
    etx_engine_free(ag.engine);
    etx_agent_config_free(ag.cfg);
    etx_psk_clear(&ag.psk);
    return rc;
}

int
main(int argc, char **argv)
{
    struct agent_args a = {0};

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("etxroll-agent %s\n", ETX_VERSION);
        return EXIT_OK;
    }
    if (argc == 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (argc == 3 && strcmp(argv[1], "--check-config") == 0)
        return check_config(argv[2]);
    if (parse_args(argc, argv, &a) != 0) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    /* A peer that goes away must be an error on write, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    return serve(&a);
}
