/* api/aitronos.c: the aitronos dialect (not yet served: its issue is open). */
#include "api/api.h"

const struct dialect aitronos_dialect = {"aitronos", api_native_error};
const struct route aitronos_routes[] = {{NULL, NULL, NULL, 0, NULL, NULL}};
