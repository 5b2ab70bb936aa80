/* tagctl/asof.c: the form of --as-of.
 *
 * The server answers reads as of a past revision or time itself (its as_of parameter,
 * docs/api.md): tagctl only checks the value's form before it calls, so a malformed one is a
 * usage error (exit 2) without a request. Digits below 10^12 are a revision, more digits
 * epoch milliseconds; a time is ISO-8601. */
#include <stdlib.h>
#include <string.h>

#include "tagctl/tagctl.h"
#include "util/timeu.h"

bool asof_parse(const char *spec, long long *rev, int64_t *ms)
{
    *rev = -1;
    *ms = -1;
    if (spec == NULL || *spec == '\0')
        return false;
    if (strspn(spec, "0123456789") == strlen(spec)) {
        if (strlen(spec) > 18)
            return false;
        *rev = strtoll(spec, NULL, 10);
        if (*rev >= 1000000000000LL) { /* as the server reads it: epoch milliseconds */
            *ms = *rev;
            *rev = -1;
        }
        return true;
    }
    return time_parse(spec, ms) && *ms >= 0;
}
