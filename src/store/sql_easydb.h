/* store/sql_easydb.h: statements for easydb. No include guard, see sql_all.h. */
