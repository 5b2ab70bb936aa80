/* store/sql_dialects.h: statements added for the dialects' needs (kept apart from the
 * foundation's list so that each can grow on its own). No include guard, see sql_all.h. */
