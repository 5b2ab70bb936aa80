/* api/immuta.c: the immuta dialect (not yet served: its issue is open). */
#include "api/api.h"

const struct dialect immuta_dialect = {"immuta", api_native_error};
const struct route immuta_routes[] = {{NULL, NULL, NULL, 0, NULL, NULL}};
