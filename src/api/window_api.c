/*-------------------------------------------------------------------------
 *
 * window_api.c
 *	  create_window and drop_window: sliding windows over continuous
 *	  aggregates (src/aggregate/window.c makes their SQL).
 *
 * A window is the caller's view over an aggregate's table, so only the
 * aggregate's owner makes one.  The aggregate's query is analysed again to
 * know its group keys and calls; it must still give the table the
 * aggregate has (the same columns, of the same types), which is all the
 * window reads.  The window's row in eventstream.window_catalog tells the
 * worker how many of the aggregate's buckets to keep (maintain.c).
 *
 * src/api/window_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "../aggregate/aggregate.h"
#include "../common/as_owner.h"
#include "../pg_eventstream.h"
#include "api.h"

PG_FUNCTION_INFO_V1(eventstream_create_window);
PG_FUNCTION_INFO_V1(eventstream_drop_window);

/*
 * The query, analysed again, must describe the aggregate's table: the same
 * column names in order, the group keys and values of the same types.
 */
static void
check_same_table(EsAggPlan *plan, Oid mat)
{
	ListCell   *lc;
	AttrNumber	att = 0;
	int			i;

	foreach(lc, plan->columns)
	{
		const char *def = lfirst(lc);
		char	   *expected = pnstrdup(def, strcspn(def, " "));
		char	   *actual;

		att++;
		actual = get_attname(mat, att, true);
		if (actual == NULL || strcmp(actual, expected) != 0)
			goto differs;
	}
	if (get_attname(mat, att + 1, true) != NULL)
		goto differs;
	for (i = 0; i < plan->ngroups && plan->grouped; i++)
		if (get_atttype(mat, i + 1) != exprType(list_nth(plan->group_exprs, i)))
			goto differs;
	for (i = 0; i < plan->ncalls; i++)
		if (get_atttype(mat, plan->calls[i].value_att) != plan->calls[i].aggref->aggtype)
			goto differs;
	return;

differs:
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the aggregate's query no longer gives the table it keeps"),
			 errdetail("Its table or the objects its query names changed since it was made."),
			 errhint("Drop the aggregate and make it again.")));
}

/*
 * eventstream.create_window(name, aggregate, width, drop_older): a view of
 * the aggregate's buckets that start within the last width, combined.
 */
Datum
eventstream_create_window(PG_FUNCTION_ARGS)
{
	char	   *name;
	Interval   *width;
	bool		drop_older;
	EsAggregateRow agg;
	RangeVar   *rv;
	char	   *view_sql;
	Oid			view_nsp;
	Query	   *parsed;
	EsAggPlan  *plan;
	int			guc_nest;
	int			bucket;
	Oid			view;
	char	   *width_sql;
	Oid			types[5] = {OIDOID, INT4OID, INTERVALOID, NAMEOID, BOOLOID};
	Datum		args[5];

	es_require_arg(fcinfo, 0, "name");
	es_require_arg(fcinfo, 1, "aggregate");
	es_require_arg(fcinfo, 2, "width");
	es_require_arg(fcinfo, 3, "drop_older");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	width = PG_GETARG_INTERVAL_P(2);
	drop_older = PG_GETARG_BOOL(3);
	width_sql = DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(width)));
	if (width->month < 0 || width->day < 0 || width->time < 0 ||
		(width->month == 0 && width->day == 0 && width->time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("width must be a positive interval, not %s", width_sql)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	agg = es_lookup_aggregate(PG_GETARG_OID(1));
	rv = makeRangeVarFromNameList(stringToQualifiedNameList(name));
	view_sql = es_new_view_name(rv, &view_nsp);

	/* as create_aggregate: names resolve under the caller's path, once */
	parsed = es_agg_parse(agg.query);
	guc_nest = es_pin_search_path();
	plan = es_agg_analyze(parsed);
	es_agg_make_sql(plan, quote_qualified_identifier(ES_SCHEMA, get_rel_name(agg.mat)));
	check_same_table(plan, agg.mat);
	bucket = es_agg_window_bucket(plan);
	AtEOXact_GUC(false, guc_nest);

	if (SPI_execute(psprintf("CREATE VIEW %s AS %s", view_sql,
							 es_agg_window_sql(plan, agg.mat, bucket, quote_literal_cstr(width_sql))),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the window's view");
	view = get_relname_relid(rv->relname, view_nsp);
	CommandCounterIncrement();

	args[0] = ObjectIdGetDatum(view);
	args[1] = Int32GetDatum(agg.id);
	args[2] = IntervalPGetDatum(width);
	args[3] = DirectFunctionCall1(namein, CStringGetDatum(psprintf("g_%d", bucket)));
	args[4] = BoolGetDatum(drop_older);
	es_catalog_exec("INSERT INTO " ES_SCHEMA ".window_catalog "
					"(view_relid, aggregate_id, width, bucket_column, drop_older) "
					"VALUES ($1, $2, $3, $4, $5)", 5, types, args, NULL, SPI_OK_INSERT);
	/* the worker reads the aggregate again, and with it what to keep */
	es_catalog_exec("UPDATE " ES_SCHEMA ".aggregate_catalog SET state = state WHERE id = $1",
					1, &types[1], &args[1], NULL, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_OID(view);
}

/* eventstream.drop_window(name): the view, and its row */
Datum
eventstream_drop_window(PG_FUNCTION_ARGS)
{
	Oid			view;
	Oid			types[1] = {OIDOID};
	Datum		args[1];

	es_require_arg(fcinfo, 0, "name");
	view = PG_GETARG_OID(0);
	args[0] = ObjectIdGetDatum(view);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM " ES_SCHEMA ".window_catalog WHERE view_relid = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the window catalog");
	if (SPI_processed != 1 || get_rel_name(view) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("\"%s\" is not a window", get_rel_name(view) ? get_rel_name(view) : "?"),
				 errhint("See eventstream.windows.")));
	if (!pg_class_ownercheck(view, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_VIEW, get_rel_name(view));
	if (SPI_execute(psprintf("DROP VIEW %s",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)),
														get_rel_name(view))),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not drop the window's view");
	/* (the event trigger forgets its row and tells the worker) */
	SPI_finish();
	PG_RETURN_VOID();
}
