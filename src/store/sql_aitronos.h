/* store/sql_aitronos.h: statements for aitronos. No include guard, see sql_all.h. */
