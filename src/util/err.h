/* util/err.h: the error vocabulary of every layer below the dialects.
 *
 * Functions named as actions return 0 or a negative tg_code and fill a struct tg_err with the
 * details. Each dialect maps a tg_code to its own status and error body. */
#ifndef TAGD_UTIL_ERR_H
#define TAGD_UTIL_ERR_H

#define TG_CODES(X)                                                                               \
    X(TG_EINVAL, -1, 400, "invalid_input")                                                       \
    X(TG_ENOTFOUND, -2, 404, "not_found")                                                        \
    X(TG_EEXISTS, -3, 409, "already_exists")                                                     \
    X(TG_ECONFLICT, -4, 409, "conflict")                                                         \
    X(TG_EPRECOND, -5, 412, "precondition_failed")                                               \
    X(TG_ELIMIT, -6, 413, "too_large")                                                           \
    X(TG_ERULE, -7, 422, "rule_violation")                                                       \
    X(TG_EAUTH, -8, 401, "unauthorized")                                                         \
    X(TG_EFORBIDDEN, -9, 403, "forbidden")                                                       \
    X(TG_EINTERNAL, -10, 500, "internal")                                                        \
    X(TG_EMEDIA, -11, 415, "unsupported_media_type")                                             \
    X(TG_EBUSY, -12, 503, "unavailable")                                                         \
    X(TG_ERATE, -13, 429, "rate_limited")                                                        \
    X(TG_EMETHOD, -14, 405, "method_not_allowed")                                                \
    X(TG_ECONFIRM, -15, 202, "confirmation_required")

enum tg_code {
    TG_OK = 0,
#define TG_X(name, val, status, slug) name = val,
    TG_CODES(TG_X)
#undef TG_X
};

struct tg_err {
    int code;
    char field[64];
    char msg[256];
};

/** Fills `err` (may be NULL) and returns `code`, so `return tg_err_set(...)` works. */
int tg_err_set(struct tg_err *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tg_err_clear(struct tg_err *err);
/** Sets `err` to `code` and `field` with `prefix` put before the message already in `err`
 * (which tg_err_set cannot read while it writes it); returns `code`. */
int tg_err_prefix(struct tg_err *err, int code, const char *field, const char *prefix);
/** The HTTP status a code maps to in the native API. */
int tg_code_status(int code);
/** A stable lower-case slug for the code ("not_found"). */
const char *tg_code_slug(int code);

#endif /* TAGD_UTIL_ERR_H */
