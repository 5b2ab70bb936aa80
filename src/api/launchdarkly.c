/* api/launchdarkly.c: the launchdarkly dialect (not yet served: its issue is open). */
#include "api/api.h"

const struct dialect launchdarkly_dialect = {"launchdarkly", api_native_error};
const struct route launchdarkly_routes[] = {{NULL, NULL, NULL, 0, NULL, NULL}};
