/* store/sql_all.h: every named statement. Included twice with different STORE_SQL_ID
 * definitions (the enum in store.h and the text table of each backend). No include guard. */
#include "store/sql_core.h"
#include "store/sql_dialects.h"
