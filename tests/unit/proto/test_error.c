/* SPDX-License-Identifier: MIT */
/* Error classes: errno to name and class exactly as DESIGN.md lists them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proto/error.h"

struct row {
    int sys_errno;
    enum etx_err_ctx ctx;
    const char *name;
    enum etx_err_class cls;
};

/* DESIGN.md "Errors", one row per errno (and context where it matters). */
static const struct row design_table[] = {
    {ETXTBSY, ETX_CTX_EXEC, "ETXTBSY", ETX_CLASS_TRANSIENT},
    {EBUSY, ETX_CTX_LOCK, "EBUSY", ETX_CLASS_TRANSIENT},
    {EAGAIN, ETX_CTX_FILE, "EAGAIN", ETX_CLASS_TRANSIENT},
    {ESTALE, ETX_CTX_FILE, "ESTALE", ETX_CLASS_TRANSIENT},
    {ETIMEDOUT, ETX_CTX_NET, "ETIMEDOUT", ETX_CLASS_TRANSIENT},
    {ECONNRESET, ETX_CTX_NET, "ECONNRESET", ETX_CLASS_TRANSIENT},
    {EPIPE, ETX_CTX_NET, "EPIPE", ETX_CLASS_TRANSIENT},
    {ECONNABORTED, ETX_CTX_NET, "ECONNABORTED", ETX_CLASS_TRANSIENT},
    {ENOTCONN, ETX_CTX_NET, "ENOTCONN", ETX_CLASS_TRANSIENT},
    {EPIPE, ETX_CTX_FILE, "EPIPE", ETX_CLASS_INTERNAL},
    {ECONNREFUSED, ETX_CTX_NET, "ECONNREFUSED", ETX_CLASS_TRANSIENT},
    {EHOSTUNREACH, ETX_CTX_NET, "EHOSTUNREACH", ETX_CLASS_TRANSIENT},
    {ENOMEM, ETX_CTX_FILE, "ENOMEM", ETX_CLASS_TRANSIENT},
    {EMFILE, ETX_CTX_FILE, "EMFILE", ETX_CLASS_TRANSIENT},
    {EIO, ETX_CTX_FILE, "EIO", ETX_CLASS_AMBIGUOUS},
    {ETIMEDOUT, ETX_CTX_NETFS_RENAME, "ETIMEDOUT", ETX_CLASS_AMBIGUOUS},
    {ENOENT, ETX_CTX_NETFS_RENAME, "ENOENT", ETX_CLASS_AMBIGUOUS},
    {EEXIST, ETX_CTX_NETFS_RENAME, "EEXIST", ETX_CLASS_AMBIGUOUS},
    {EXDEV, ETX_CTX_RENAME, "EXDEV", ETX_CLASS_PLACEMENT},
    {EBUSY, ETX_CTX_RENAME, "EBUSY", ETX_CLASS_PLACEMENT},
    {EROFS, ETX_CTX_FILE, "EROFS", ETX_CLASS_PLACEMENT},
    {ENOSPC, ETX_CTX_FILE, "ENOSPC", ETX_CLASS_PLACEMENT},
    {EDQUOT, ETX_CTX_FILE, "EDQUOT", ETX_CLASS_PLACEMENT},
    {EOPNOTSUPP, ETX_CTX_FILE, "EOPNOTSUPP", ETX_CLASS_PLACEMENT},
    {EACCES, ETX_CTX_FILE, "EACCES", ETX_CLASS_PLACEMENT},
    {EPERM, ETX_CTX_FILE, "EPERM", ETX_CLASS_PLACEMENT},
    {ENOENT, ETX_CTX_FILE, "ENOENT", ETX_CLASS_PLACEMENT},
    {ENOTDIR, ETX_CTX_FILE, "ENOTDIR", ETX_CLASS_PLACEMENT},
    {ELOOP, ETX_CTX_FILE, "ELOOP", ETX_CLASS_PLACEMENT},
    {ENAMETOOLONG, ETX_CTX_FILE, "ENAMETOOLONG", ETX_CLASS_PLACEMENT},
};

static void
test_must22_classify_design_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(design_table) / sizeof(design_table[0]); i++) {
        const struct row *r = &design_table[i];

        assert_string_equal(etx_error_errno_name(r->sys_errno), r->name);
        if (etx_error_classify(r->sys_errno, r->ctx) != r->cls)
            fail_msg("%s in context %d: class %s, DESIGN.md says %s",
                     r->name, (int)r->ctx,
                     etx_error_class_name(
                         etx_error_classify(r->sys_errno, r->ctx)),
                     etx_error_class_name(r->cls));
    }
}

static void
test_etx_error_classify_etxtbsy_outside_exec(void **state)
{
    (void)state;
    /* A write-open that gets ETXTBSY means an in-place write: not retried. */
    assert_int_equal(etx_error_classify(ETXTBSY, ETX_CTX_WRITE_OPEN),
                     ETX_CLASS_CONFLICT);
    assert_int_equal(etx_error_classify(ETXTBSY, ETX_CTX_FILE),
                     ETX_CLASS_CONFLICT);
}

static void
test_etx_error_classify_unknown_is_internal(void **state)
{
    (void)state;
    assert_int_equal(etx_error_classify(EBADF, ETX_CTX_FILE),
                     ETX_CLASS_INTERNAL);
    assert_string_equal(etx_error_errno_name(99999), "EUNKNOWN");
}

static void
test_etx_error_sys_fills_fields(void **state)
{
    struct etx_error e = {0};
    char line[1200];

    (void)state;
    assert_int_equal(etx_error_sys(&e, ENOSPC, ETX_CTX_FILE, "write",
                                   "/srv/app", "cannot stage %d bytes", 42),
                     ETX_ERR);
    assert_int_equal(e.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(e.sys_errno, ENOSPC);
    assert_string_equal(e.op, "write");
    assert_string_equal(e.where, "/srv/app");
    assert_non_null(strstr(e.msg, "cannot stage 42 bytes: "));
    assert_string_equal(etx_error_format(&e, line, sizeof(line)),
                        "/srv/app: cannot stage 42 bytes: No space left on "
                        "device [ENOSPC, placement]");
    assert_false(etx_error_is_retryable(&e));
}

static void
test_etx_error_set_input_format(void **state)
{
    struct etx_error e = {0};
    char line[1200];

    (void)state;
    etx_error_set(&e, ETX_CLASS_INPUT, 0, "yaml", "inv.yml:3:5",
                  "unknown key '%s'", "hostz");
    assert_string_equal(etx_error_format(&e, line, sizeof(line)),
                        "inv.yml:3:5: unknown key 'hostz'");
}

static void
test_etx_error_set_oversize_is_cut(void **state)
{
    struct etx_error e = {0};
    char big[2000];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    etx_error_set(&e, ETX_CLASS_INPUT, 0, big, big, "%s", big);
    assert_int_equal(strlen(e.op), sizeof(e.op) - 1);
    assert_int_equal(strlen(e.where), sizeof(e.where) - 1);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    assert_int_equal(etx_error_set(NULL, ETX_CLASS_INPUT, 0, "x", NULL, "y"),
                     ETX_ERR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_must22_classify_design_table),
        cmocka_unit_test(test_etx_error_classify_etxtbsy_outside_exec),
        cmocka_unit_test(test_etx_error_classify_unknown_is_internal),
        cmocka_unit_test(test_etx_error_sys_fills_fields),
        cmocka_unit_test(test_etx_error_set_input_format),
        cmocka_unit_test(test_etx_error_set_oversize_is_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
