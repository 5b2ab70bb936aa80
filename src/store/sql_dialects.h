/* store/sql_dialects.h: statements added for later features, one file per topic so that each
 * can grow on its own. No include guard, see sql_all.h. */
#include "store/sql_easydb.h"
#include "store/sql_immuta.h"
#include "store/sql_launchdarkly.h"
#include "store/sql_aitronos.h"
#include "store/sql_oracle.h"
#include "store/sql_engine.h"
