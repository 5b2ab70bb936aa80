/* store/sql_launchdarkly.h: statements for launchdarkly. No include guard, see sql_all.h. */
