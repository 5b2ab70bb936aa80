/* api/easydb.c: the easydb dialect (not yet served: its issue is open). */
#include "api/api.h"

const struct dialect easydb_dialect = {"easydb", api_native_error};
const struct route easydb_routes[] = {{NULL, NULL, NULL, 0, NULL, NULL}};
