/* api/native_sources.c: native /v1 routes of their issue (kept apart from native.c). */
#include "api/api.h"

const struct route native_sources_routes[] = {{NULL, NULL, NULL, 0, NULL, NULL}};
