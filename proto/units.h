/* SPDX-License-Identifier: MIT */
/*
 * The small value syntaxes of the inventory and the agent config, as pure
 * functions: durations ("500ms", "30s", "2m", "1h"), percents ("10%"),
 * octal modes ("0755"), counts ("3"), plain decimals ("1.5"), absolute
 * paths, systemd unit names and host:port addresses. Each parser
 * takes the whole string (no surrounding blanks, no sign) and, on failure,
 * returns ETX_ERR and points *why (when not NULL) at a static sentence that
 * says what is wrong; the output is written only on success.
 */
#ifndef ETX_PROTO_UNITS_H
#define ETX_PROTO_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

/* Largest octal mode accepted: permission bits plus setuid/setgid/sticky. */
#define ETX_UNITS_MODE_MAX 07777u

/*
 * A duration: decimal digits followed by one unit, ms, s, m or h, into
 * milliseconds ("0s" is 0). Bare numbers, signs, fractions, blanks, unknown
 * units and values above UINT64_MAX ms are refused.
 */
int etx_units_duration(const char *s, uint64_t *ms, const char **why);

/* A percent: decimal digits and '%', 0..100 ("10%"). */
int etx_units_percent(const char *s, unsigned *pct, const char **why);

/* A mode: 1 to 5 octal digits, at most ETX_UNITS_MODE_MAX ("0755", "755"). */
int etx_units_mode(const char *s, unsigned *mode, const char **why);

/* A count: decimal digits only, at most 'max' ("3"). */
int etx_units_count(const char *s, uint64_t max, uint64_t *n, const char **why);

/*
 * A plain decimal number: digits, optionally '.' and more digits ("2",
 * "1.5"); no sign, exponent, hex, inf or nan. At most 15 significant digits.
 */
int etx_units_decimal(const char *s, double *v, const char **why);

/*
 * A clean absolute path: starts with '/', is not "/" itself, and has no
 * empty, "." or ".." component and no trailing '/'.
 */
int etx_units_abs_path(const char *s, const char **why);

/*
 * A systemd unit name: 1 to 256 letters, digits and "._-@:\\", not
 * starting with '-' (so it cannot pass for an option).
 */
int etx_units_unit_name(const char *s, const char **why);

/*
 * "host:port" or "[v6addr]:port" with a port from 1 to 65535. The host
 * part (without brackets) is copied into host[hostlen] when host is not
 * NULL; a host that does not fit is refused.
 */
int etx_units_host_port(const char *s, char *host, size_t hostlen,
                        uint16_t *port, const char **why);

#endif /* ETX_PROTO_UNITS_H */
