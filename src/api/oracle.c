/* api/oracle.c: the oracle dialect (not yet served: its issue is open). */
#include "api/api.h"

const struct dialect oracle_dialect = {"oracle", api_native_error};
const struct route oracle_routes[] = {{NULL, NULL, NULL, 0, NULL, NULL}};
