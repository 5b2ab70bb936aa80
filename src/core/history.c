/* core/history.c: reserved for the rules of its issue; see docs/development.md. */
#include "core/core.h"
