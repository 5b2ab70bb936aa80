/* api/native_links.c: native /v1 routes of their issue (kept apart from native.c). */
#include "api/api.h"

const struct route native_links_routes[] = {{NULL, NULL, NULL, 0, NULL, NULL}};
