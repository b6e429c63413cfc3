/* SPDX-License-Identifier: MIT */
/*
 * etxroll-agent: the host side of etxroll. This version checks its
 * configuration (--check-config); serving the protocol comes with the agent
 * daemon and is refused until then.
 */
#include <stdio.h>
#include <string.h>

#include "agent/config.h"
#include "proto/psk.h"

#define EXIT_OK    0
#define EXIT_USAGE 2 /* usage or configuration error */

static void
print_usage(FILE *out)
{
    fprintf(out,
            "usage: etxroll-agent --check-config FILE\n"
            "       etxroll-agent --version | --help\n"
            "\n"
            "The host agent of etxroll (docs/agent-config.md).\n"
            "\n"
            "  --check-config FILE  load the agent configuration and its key\n"
            "                       file; print the first problem as\n"
            "                       FILE:LINE:COL: ... and exit 2, or exit 0\n"
            "  --version            print the version and exit\n"
            "  --help               print this help and exit\n"
            "\n"
            "Not built yet: serving the protocol (TCP with TLS, or --stdio\n"
            "for the SSH carrier).\n");
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

int
main(int argc, char **argv)
{
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
    print_usage(stderr);
    return EXIT_USAGE;
}
