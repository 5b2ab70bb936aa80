/* util/err.c: error details and the code tables. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tg_err_set(struct tg_err *err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int tg_err_prefix(struct tg_err *err, int code, const char *field, const char *prefix)
{
    char msg[sizeof(err->msg)];

    if (err == NULL)
        return code;
    snprintf(msg, sizeof(msg), "%s", err->msg);
    return tg_err_set(err, code, field, "%s%s", prefix, msg);
}

void tg_err_clear(struct tg_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

int tg_code_status(int code)
{
    switch (code) {
#define TG_X(name, val, status, slug)                                                             \
    case name:                                                                                    \
        return status;
        TG_CODES(TG_X)
#undef TG_X
    default:
        return 500;
    }
}

const char *tg_code_slug(int code)
{
    switch (code) {
#define TG_X(name, val, status, slug)                                                             \
    case name:                                                                                    \
        return slug;
        TG_CODES(TG_X)
#undef TG_X
    default:
        return "internal";
    }
}
