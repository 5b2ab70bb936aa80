/* store/sql_immuta.h: statements for immuta. No include guard, see sql_all.h. */
