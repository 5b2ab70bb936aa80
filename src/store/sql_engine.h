/* store/sql_engine.h: statements for engine. No include guard, see sql_all.h. */
