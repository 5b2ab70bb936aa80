/* store/sql_all.h: every named statement. Included twice with different STORE_SQL_ID
 * definitions (the enum in store.h and the text table of each backend). No include guard.
 * One file per topic, named after the core module or the layer that runs its statements. */
#include "store/sql_core.h"
#include "store/sql_sessions.h"
#include "store/sql_replace.h"
#include "store/sql_sources.h"
#include "store/sql_immuta.h"
#include "store/sql_history.h"
#include "store/sql_links.h"
#include "store/sql_aliases.h"
#include "store/sql_engine.h"
#include "store/sql_webhooks.h"
#include "store/sql_idempotency.h"
#include "store/sql_lifecycle.h"
#include "store/sql_interchange.h"
#include "store/sql_policies.h"
#include "store/sql_assign_rights.h"
#include "store/sql_conflicts.h"
