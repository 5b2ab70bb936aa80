/* util/jpatch.h: JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386) over jansson values.
 *
 * Both change the document in place. A patch either applies whole or fails with the document
 * in an unspecified state, so callers patch a deep copy and keep the original on failure. */
#ifndef TAGD_UTIL_JPATCH_H
#define TAGD_UTIL_JPATCH_H

#include <jansson.h>

#include "util/err.h"

/** Applies the operation array `ops` to *doc (which may be replaced: a patch of "" swaps the
 *  root). Malformed operations and paths that do not resolve are TG_EINVAL; a `test` that does
 *  not hold is TG_EPRECOND, with err->field holding the tested path (cut to fit). */
int jpatch_apply(json_t **doc, json_t *ops, struct tg_err *err);

/** Applies the merge patch `patch` to *doc: members set to null are removed, objects merge
 *  recursively, anything else replaces. A patch that is not an object replaces *doc whole. */
void jpatch_merge(json_t **doc, json_t *patch);

/** Resolves a JSON Pointer (RFC 6901) against `doc`; NULL when it does not resolve or is
 *  malformed. The result is borrowed. */
json_t *jpatch_get(json_t *doc, const char *pointer);

#endif /* TAGD_UTIL_JPATCH_H */
