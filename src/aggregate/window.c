/*-------------------------------------------------------------------------
 *
 * window.c
 *	  Sliding windows over a continuous aggregate's time buckets.
 *
 * An aggregate grouped by a timestamptz bucket (date_bin, date_trunc)
 * holds one row per bucket and other keys.  A window over it is a view
 * that reads the rows of the buckets that start within the last width,
 * combines them per remaining key -- each kind's combine function
 * (statements.c): sums of counts and sums, the sum over the count for avg,
 * the least of minimums, unions of distinct values and sketches -- and
 * shows the aggregate's select list and HAVING over the result.  So the
 * current window is one SELECT, and it costs the buckets it reads.  The
 * worker drops the buckets older than a window needs (maintain.c).
 *
 * src/aggregate/window.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "../pg_eventstream.h"
#include "aggregate.h"

/*
 * es_agg_window_bucket returns the aggregate's time bucket: its first group
 * key of type timestamptz (1-based), or raises an error
 */
int
es_agg_window_bucket(EsAggPlan *plan)
{
	ListCell   *lc;
	int			i = 0;

	if (plan->grouped)
		foreach(lc, plan->group_exprs)
		{
			i++;
			if (exprType((Node *) lfirst(lc)) == TIMESTAMPTZOID)
				return i;
		}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("a window needs an aggregate grouped by a timestamptz bucket"),
			 errhint("Group the aggregate by date_bin('1 minute', ts, ...) or date_trunc('minute', ts) of a timestamptz.")));
	return 0;					/* keep the compiler quiet */
}

/*
 * es_agg_window_sql is the SELECT of a window of width (an interval
 * literal, quoted) over the aggregate's table mat, whose bucket is group
 * key bucket.  The inner SELECT gives the table's own column names, so the
 * aggregate's select list reads it as it reads the table.
 */
char *
es_agg_window_sql(EsAggPlan *plan, Oid mat, int bucket, const char *width)
{
	StringInfoData inner;
	StringInfoData keys;
	const char *mat_name = quote_identifier(get_rel_name(mat));
	int			i;

	initStringInfo(&inner);
	initStringInfo(&keys);
	for (i = 1; i <= plan->ngroups; i++)
		if (i != bucket)
			appendStringInfo(&keys, "%sg_%d", keys.len ? ", " : "", i);
	appendStringInfo(&inner, "(SELECT %s%scoalesce(sum(__count), 0)::bigint AS __count",
					 keys.data, keys.len ? ", " : "");
	for (i = 0; i < plan->ncalls; i++)
	{
		EsAggCall  *call = &plan->calls[i];

		if (call->kind->combine != NULL)
			appendStringInfo(&inner, ", %s AS a_%d", call->kind->combine(call, i + 1), i + 1);
	}
	appendStringInfo(&inner, " FROM " ES_SCHEMA ".%s WHERE g_%d >= pg_catalog.now() - %s::interval",
					 mat_name, bucket, width);
	if (keys.len)
		appendStringInfo(&inner, " GROUP BY %s", keys.data);
	appendStringInfo(&inner, ") %s", mat_name);
	return es_agg_select_sql(plan, mat, bucket, inner.data);
}
