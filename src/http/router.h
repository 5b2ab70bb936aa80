/* http/router.h: matches a method and raw path against every dialect's route table. */
#ifndef TAGD_HTTP_ROUTER_H
#define TAGD_HTTP_ROUTER_H

#include <stdbool.h>

#include "api/api.h"

enum router_result { ROUTER_OK, ROUTER_NOT_FOUND, ROUTER_BAD_METHOD, ROUTER_BAD_PATH };

/** Flattens the route tables; call once at start. */
void router_init(void);
/** Number of routes (metrics index space; index router_count() is "unmatched"). */
int router_count(void);
const struct route *router_at(int i);
/**
 * Matches `path` (raw, without query) for `method`. On ROUTER_OK sets r->route, r->params,
 * r->nparams and *index. Params are percent-decoded into r->a.
 */
enum router_result router_match(struct hreq *r, int *index);

#endif /* TAGD_HTTP_ROUTER_H */
