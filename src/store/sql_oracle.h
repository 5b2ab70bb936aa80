/* store/sql_oracle.h: statements for oracle. No include guard, see sql_all.h. */
