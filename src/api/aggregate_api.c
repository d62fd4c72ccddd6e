/*-------------------------------------------------------------------------
 *
 * aggregate_api.c
 *	  create_aggregate, refresh_aggregate and drop_aggregate.
 *
 * Consistency with the stream comes from a SHARE lock on the source (and
 * its partitions), as CREATE INDEX takes: once it is held no change to
 * the table can commit until this transaction does, so the rows read now
 * are exactly those whose changes the worker will not apply.
 *	  - create: the worker starts maintaining the aggregate at the commit
 *		of this transaction, which it decodes as a change of the catalog.
 *	  - refresh: first wait, under the lock, until the worker has applied
 *		every change committed before it; then compute the table again.
 * Writers of the source wait for the computation, as for CREATE INDEX.
 *
 * The table under the view belongs to the extension's owner, so that no
 * other role can put a trigger, rule, policy or index on it; the view's
 * owner may read and write its rows.  Whatever evaluates the owner's
 * expressions -- filling the table here, refreshing it, the worker's
 * deltas -- runs as that owner, security-restricted and with the
 * search_path pinned (as_owner.h), whoever calls it.
 *
 * src/api/aggregate_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "rewrite/rewriteSupport.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "../aggregate/aggregate.h"
#include "../common/as_owner.h"
#include "../common/catalog.h"
#include "../common/version.h"
#include "../common/float_exact.h"
#include "../pg_eventstream.h"
#include "api.h"

PG_FUNCTION_INFO_V1(eventstream_create_aggregate);
PG_FUNCTION_INFO_V1(eventstream_refresh_aggregate);
PG_FUNCTION_INFO_V1(eventstream_drop_aggregate);
PG_FUNCTION_INFO_V1(eventstream_aggregate_groups);
PG_FUNCTION_INFO_V1(eventstream_float8_exact_finite);

/* how long refresh_aggregate waits for the worker to catch up */
#define ES_REFRESH_WAIT_MS 60000

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute failed (%d): %s", rc, sql);
}


/* the computation must see the table as it is once locked */
static void
require_read_committed(const char *fn)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run in a REPEATABLE READ or SERIALIZABLE transaction", fn),
				 errdetail("It reads the table after locking it, and such a transaction would read it as it was before."),
				 errhint("Run it in a READ COMMITTED transaction.")));
}

/* a column of a relation's pg_class row */
static Form_pg_class
class_form(Oid relid, FormData_pg_class *form)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	memcpy(form, GETSTRUCT(tup), sizeof(FormData_pg_class));
	ReleaseSysCache(tup);
	return form;
}

/* lock the source and its partitions against writers until commit */
static void
lock_source(Oid source)
{
	/* find_all_inheritors locks the children only */
	LockRelationOid(source, ShareLock);
	(void) find_all_inheritors(source, ShareLock, NULL);
}

/*
 * The tables the source reads (itself, or its partitions): none may have
 * row-level security, and updates and deletes need the old row, so all
 * must have REPLICA IDENTITY FULL unless the aggregate is append-only.
 */
static void
check_source_tables(Oid source, bool append_only)
{
	Oid			not_full = InvalidOid;
	ListCell   *lc;

	foreach(lc, find_all_inheritors(source, NoLock, NULL))
	{
		FormData_pg_class form;

		if (class_form(lfirst_oid(lc), &form)->relrowsecurity)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("continuous aggregates do not support tables with row-level security"),
					 errdetail("Every reader of the view would see the aggregate of every row.")));
		if (form.relpersistence != RELPERSISTENCE_PERMANENT)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("continuous aggregates do not support unlogged or temporary tables"),
					 errdetail("Their changes are not in the WAL, which the worker reads."),
					 errhint("ALTER TABLE ... SET LOGGED.")));
		if (form.relkind == RELKIND_RELATION && form.relreplident != REPLICA_IDENTITY_FULL &&
			!OidIsValid(not_full))
			not_full = lfirst_oid(lc);
	}
	if (!append_only && OidIsValid(not_full))
	{
		char	   *name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(not_full)),
													  get_rel_name(not_full));

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s does not have REPLICA IDENTITY FULL", name),
				 errdetail("Updates and deletes reach the aggregate with the old row only then."),
				 errhint("ALTER TABLE %s REPLICA IDENTITY FULL, or pass append_only => true for a table that is only inserted into.",
						 name)));
	}
}

/*
 * es_lookup_aggregate: the catalog row of the aggregate whose view is
 * view, which the caller must own; SPI connected.  For the functions of
 * aggregates and of windows over them.
 */
EsAggregateRow
es_lookup_aggregate(Oid view)
{
	EsAggregateRow row;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;

	if (get_rel_name(view) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", view)));
	if (SPI_execute_with_args(psprintf("SELECT id, mat_relid, source_relid, grouped, populate_sql, "
									   "  empty_sql, owner, %s, query "
									   "FROM " ES_SCHEMA ".aggregate_catalog WHERE view_relid = $1",
									   es_catalog_has_column("aggregate_catalog", "settings")
									   ? "settings" : "NULL::text[]"),
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the aggregate catalog");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("\"%s\" is not a continuous aggregate", get_rel_name(view)),
				 errhint("See eventstream.aggregates.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row.id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	row.mat = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	row.source = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	row.grouped = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	row.populate_sql = SPI_getvalue(tup, desc, 5);
	row.empty_sql = SPI_getvalue(tup, desc, 6);
	row.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 7, &isnull));
	d = SPI_getbinval(tup, desc, 8, &isnull);
	row.settings = isnull ? NULL : DatumGetArrayTypePCopy(d);
	row.query = SPI_getvalue(tup, desc, 9);
	row.view = view;
	if (!pg_class_ownercheck(view, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_VIEW, get_rel_name(view));
	return row;
}

/*
 * The aggregate named by argument 0 of a SQL function, which the caller
 * must own; connects SPI.
 */
static EsAggregateRow
lookup_aggregate(FunctionCallInfo fcinfo)
{
	es_require_arg(fcinfo, 0, "name");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return es_lookup_aggregate(PG_GETARG_OID(0));
}

/*
 * The table under the view, made by the catalog owner in the extension's
 * schema and named by the aggregate's id (set here); the owner of the
 * aggregate reads and writes its rows and cannot change the table.  Makes
 * the plan's SQL for it.  SPI connected.
 */
static Oid
create_materialization(EsAggPlan *plan, Oid owner, int32 *id)
{
	Oid			save_user;
	int			save_sec;
	char	   *mat_name;
	char	   *mat_sql;
	StringInfoData sql;
	ListCell   *lc;
	bool		isnull;

	es_become_catalog_owner(&save_user, &save_sec);
	spi_exec("SELECT nextval(pg_get_serial_sequence('" ES_SCHEMA ".aggregate_catalog', 'id'))",
			 SPI_OK_SELECT);
	*id = (int32) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  &isnull));
	mat_name = psprintf("aggregate_%d", *id);
	mat_sql = psprintf(ES_SCHEMA ".%s", mat_name);
	es_agg_make_sql(plan, mat_sql);

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", mat_sql);
	foreach(lc, plan->columns)
		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) ? ", " : "", (char *) lfirst(lc));
	appendStringInfoString(&sql, ")");
	spi_exec(sql.data, SPI_OK_UTILITY);
	resetStringInfo(&sql);
	appendStringInfo(&sql, "CREATE UNIQUE INDEX ON %s (", mat_sql);
	for (int i = 0; i < plan->ngroups; i++)
		appendStringInfo(&sql, "%sg_%d", i ? ", " : "", i + 1);
	appendStringInfoString(&sql, ") NULLS NOT DISTINCT");
	spi_exec(sql.data, SPI_OK_UTILITY);
	spi_exec(psprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s", mat_sql,
					  quote_identifier(GetUserNameFromId(owner, false))), SPI_OK_UTILITY);
	SetUserIdAndSecContext(save_user, save_sec);
	return get_relname_relid(mat_name, get_namespace_oid(ES_SCHEMA, false));
}

/*
 * Dropping the view drops the table; the view depends on the source's
 * columns the way a view of the query would; DROP EXTENSION needs CASCADE
 * to take the aggregate with it.
 */
static void
record_dependencies(EsAggPlan *plan, Oid view, Oid mat)
{
	ObjectAddress mat_obj;
	ObjectAddress view_obj;
	ObjectAddress rule_obj;
	ObjectAddress source_obj;
	ObjectAddress ext_obj;
	List	   *exprs = list_copy(plan->group_exprs);
	ListCell   *lc;

	ObjectAddressSet(mat_obj, RelationRelationId, mat);
	ObjectAddressSet(view_obj, RelationRelationId, view);
	ObjectAddressSet(rule_obj, RewriteRelationId, get_rewrite_oid(view, "_RETURN", false));
	ObjectAddressSet(source_obj, RelationRelationId, plan->source);
	ObjectAddressSet(ext_obj, ExtensionRelationId, get_extension_oid("pg_eventstream", false));
	recordDependencyOn(&mat_obj, &view_obj, DEPENDENCY_INTERNAL);
	recordDependencyOn(&mat_obj, &ext_obj, DEPENDENCY_NORMAL);
	recordDependencyOn(&rule_obj, &source_obj, DEPENDENCY_NORMAL);

	if (plan->query->jointree->quals)
		exprs = lappend(exprs, plan->query->jointree->quals);
	for (int i = 0; i < plan->ncalls; i++)
		if (plan->calls[i].aggref->args != NIL)
			exprs = lappend(exprs, linitial_node(TargetEntry, plan->calls[i].aggref->args)->expr);
	foreach(lc, exprs)
		recordDependencyOnSingleRelExpr(&rule_obj, lfirst(lc), plan->source,
										DEPENDENCY_NORMAL, DEPENDENCY_NORMAL, false);
}

/* a text argument, or NULL */
static Datum
text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* the catalog row: the worker picks it up at this transaction's commit */
static void
insert_catalog_row(EsAggPlan *plan, int32 id, Oid view, Oid mat, const char *query,
				   bool append_only, Oid owner)
{
	Oid			types[14] = {INT4OID, OIDOID, OIDOID, OIDOID, TEXTOID, BOOLOID, BOOLOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID, TEXTOID, TEXTARRAYOID};
	Datum		args[14];
	char		nulls[14];
	bool		has_settings;

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(id);
	args[1] = ObjectIdGetDatum(view);
	args[2] = ObjectIdGetDatum(mat);
	args[3] = ObjectIdGetDatum(plan->source);
	args[4] = CStringGetTextDatum(query);
	args[5] = BoolGetDatum(append_only);
	args[6] = BoolGetDatum(plan->grouped);
	args[7] = CStringGetTextDatum(plan->populate_sql);
	args[8] = CStringGetTextDatum(plan->delta_sql);
	args[9] = text_or_null(plan->recompute_sql, &nulls[9]);
	args[10] = text_or_null(plan->empty_sql, &nulls[10]);
	args[11] = ObjectIdGetDatum(owner);
	args[12] = text_or_null(plan->recompute_keyed_sql, &nulls[12]);
	args[13] = plan->pins_settings ? PointerGetDatum(es_time_settings()) : (Datum) 0;
	nulls[13] = plan->pins_settings ? ' ' : 'n';
	/* (a catalog of 0.1.0 has none: require_catalog_for refused what would pin) */
	has_settings = es_catalog_has_column("aggregate_catalog", "settings");
	es_catalog_exec(psprintf("INSERT INTO " ES_SCHEMA ".aggregate_catalog "
							 "(id, view_relid, mat_relid, source_relid, query, append_only, grouped, "
							 " populate_sql, delta_sql, recompute_sql, empty_sql, owner, "
							 " recompute_keyed_sql%s) "
							 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13%s)",
							 has_settings ? ", settings" : "", has_settings ? ", $14" : ""),
					has_settings ? 14 : 13, types, args, nulls, SPI_OK_INSERT);
}

/*
 * A catalog of 0.1.0 (common/version.c) has neither the pinned settings
 * nor the exact float sums: an aggregate that needs them waits for the
 * update.
 */
static void
require_catalog_for(EsAggPlan *plan)
{
	bool		floats = false;
	bool		distinct = false;
	const char *need = NULL;
	const char *why = NULL;

	for (int i = 0; i < plan->ncalls; i++)
	{
		floats |= plan->calls[i].kind->floats;
		distinct |= plan->calls[i].kind->distinct || plan->calls[i].kind->insert_only;
	}
	if (distinct)
		need = "0.3.0", why = "Its distinct counts need SQL functions of version 0.3.0.";
	else if (plan->pins_settings)
		need = "0.2.0", why = "Its query uses date/time functions whose settings version 0.1.0 cannot pin.";
	else if (floats)
		need = "0.2.0", why = "Version 0.1.0 cannot keep exact sums of floats.";
	if (need != NULL && !es_catalog_at_least(need))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this aggregate needs version %s of the extension", need),
				 errdetail("%s", why),
				 errhint("Run ALTER EXTENSION pg_eventstream UPDATE.")));
}

/* aggregates that cannot take rows out (hll sketches) are append-only */
static void
require_append_only_for(EsAggPlan *plan, bool append_only)
{
	for (int i = 0; i < plan->ncalls && !append_only; i++)
		if (plan->calls[i].kind->insert_only)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s() needs an append-only aggregate", plan->calls[i].kind->name),
					 errdetail("Its sketch can add rows, not take deleted or updated ones out."),
					 errhint("Pass append_only => true, for a table that is only inserted into.")));
}

/*
 * eventstream.create_aggregate(name, query, backfill, append_only): the
 * view, its table, the catalog row; returns the view.
 */
Datum
eventstream_create_aggregate(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *query;
	bool		backfill;
	bool		append_only;
	RangeVar   *rv;
	Oid			view_nsp;
	char	   *view_sql;
	Query	   *parsed;
	int			guc_nest;
	EsOwnerContext as_owner;
	EsAggPlan  *plan;
	AclResult	acl;
	int32		id;
	Oid			mat;
	Oid			view;
	Oid			owner = GetUserId();

	es_require_arg(fcinfo, 0, "name");
	es_require_arg(fcinfo, 1, "query");
	es_require_arg(fcinfo, 2, "backfill");
	es_require_arg(fcinfo, 3, "append_only");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	backfill = PG_GETARG_BOOL(2);
	append_only = PG_GETARG_BOOL(3);
	rv = makeRangeVarFromNameList(stringToQualifiedNameList(name));
	view_sql = es_new_view_name(rv, &view_nsp);

	/* names resolve under the caller's path; all SQL made after, pinned */
	parsed = es_agg_parse(query);
	guc_nest = es_pin_search_path();
	plan = es_agg_analyze(parsed);
	require_catalog_for(plan);
	acl = pg_class_aclcheck(plan->source, owner, ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(plan->source));
	require_append_only_for(plan, append_only);
	check_source_tables(plan->source, append_only);
	if (backfill)
		require_read_committed("create_aggregate");
	es_wait_for_capture();
	if (backfill)
		lock_source(plan->source);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	mat = create_materialization(plan, owner, &id);

	/* its rows, computed as the caller, as REFRESH MATERIALIZED VIEW would */
	es_become_owner(&as_owner, owner, 0);
	if (backfill)
		spi_exec(plan->populate_sql, SPI_OK_INSERT);
	if (plan->empty_sql)		/* without GROUP BY, one row even for no rows */
		spi_exec(plan->empty_sql, SPI_OK_INSERT);
	es_end_owner(&as_owner);

	/* the caller's view */
	spi_exec(psprintf("CREATE VIEW %s AS %s", view_sql, es_agg_view_sql(plan, mat)),
			 SPI_OK_UTILITY);
	view = get_relname_relid(rv->relname, view_nsp);
	record_dependencies(plan, view, mat);
	CommandCounterIncrement();

	insert_catalog_row(plan, id, view, mat, query, append_only, owner);
	SPI_finish();
	AtEOXact_GUC(false, guc_nest);
	PG_RETURN_OID(view);
}

/* eventstream.refresh_aggregate(name): compute the table again */
Datum
eventstream_refresh_aggregate(PG_FUNCTION_ARGS)
{
	EsAggregateRow row;
	Oid			types[1] = {INT4OID};
	Datum		args[1];
	EsOwnerContext as_owner;

	require_read_committed("refresh_aggregate");
	row = lookup_aggregate(fcinfo);

	/* no more changes can commit; let the worker apply those that did */
	lock_source(row.source);
	(void) es_wait_applied(ES_REFRESH_WAIT_MS);

	/* as the aggregate's owner, whoever calls (a superuser, say) */
	es_become_owner(&as_owner, row.owner, 0);
	es_pin_settings(row.settings);
	spi_exec(psprintf("DELETE FROM %s", quote_qualified_identifier(ES_SCHEMA, get_rel_name(row.mat))),
			 SPI_OK_DELETE);
	spi_exec(row.populate_sql, SPI_OK_INSERT);
	if (row.empty_sql)
		spi_exec(row.empty_sql, SPI_OK_INSERT);
	es_end_owner(&as_owner);

	args[0] = Int32GetDatum(row.id);
	es_catalog_exec("UPDATE " ES_SCHEMA ".aggregate_catalog "
				  "SET state = 'ok', error = NULL, refreshed_at = now() WHERE id = $1",
				  1, types, args, NULL, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}

/* eventstream.drop_aggregate(name): the view, and with it the table */
Datum
eventstream_drop_aggregate(PG_FUNCTION_ARGS)
{
	EsAggregateRow row;
	Oid			types[1] = {INT4OID};
	Datum		args[1];

	row = lookup_aggregate(fcinfo);
	/* its windows first: they read its table */
	if (es_catalog_at_least("0.3.0"))
	{
		args[0] = Int32GetDatum(row.id);
		if (SPI_execute_with_args("SELECT view_relid::pg_catalog.text FROM " ES_SCHEMA ".window_catalog "
								  "WHERE aggregate_id = $1 ORDER BY 1", 1, types, args, NULL,
								  false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the window catalog");
		for (uint64 i = 0, n = SPI_processed; i < n; i++)
			spi_exec(psprintf("DROP VIEW %s", SPI_getvalue(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1)),
					 SPI_OK_UTILITY);
	}
	spi_exec(psprintf("DROP VIEW %s",
					  quote_qualified_identifier(get_namespace_name(get_rel_namespace(row.view)),
												 get_rel_name(row.view))), SPI_OK_UTILITY);
	args[0] = Int32GetDatum(row.id);
	es_catalog_exec("DELETE FROM " ES_SCHEMA ".aggregate_catalog WHERE id = $1",
				  1, types, args, NULL, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * eventstream._aggregate_groups(id): the number of groups of an aggregate,
 * for eventstream.aggregates; NULL unless the caller may read its view.
 * The table belongs to the extension's owner and holds no code of anyone,
 * so it is counted as that owner.
 */
Datum
eventstream_aggregate_groups(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {PG_GETARG_DATUM(0)};
	Oid			view;
	Oid			mat;
	bool		isnull;
	int64		groups;
	Oid			save_user;
	int			save_sec;
	FormData_pg_class form;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT view_relid, mat_relid FROM " ES_SCHEMA ".aggregate_catalog "
							  "WHERE id = $1", 1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the aggregate catalog");
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	view = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	mat = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (get_rel_name(view) == NULL || get_rel_name(mat) == NULL ||
		pg_class_aclcheck(view, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	es_become_catalog_owner(&save_user, &save_sec);
	class_form(mat, &form);
	if (form.relkind != RELKIND_RELATION || form.relowner != GetUserId())
	{
		SetUserIdAndSecContext(save_user, save_sec);
		SPI_finish();
		PG_RETURN_NULL();
	}
	spi_exec(psprintf("SELECT count(*) FROM %s",
					  quote_qualified_identifier(ES_SCHEMA, NameStr(form.relname))), SPI_OK_SELECT);
	groups = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SetUserIdAndSecContext(save_user, save_sec);
	SPI_finish();
	PG_RETURN_INT64(groups);
}

/*
 * eventstream._float8_exact_finite(x): a finite float8 as the exact
 * numeric it is; 0 for infinities and NaN, which the sums of floats count
 * apart (src/aggregate/statements.c).
 */
Datum
eventstream_float8_exact_finite(PG_FUNCTION_ARGS)
{
	float8		x = PG_GETARG_FLOAT8(0);
	StringInfoData buf;

	initStringInfo(&buf);
	if (isfinite(x))
		es_float8_exact_text(&buf, x);
	else
		appendStringInfoChar(&buf, '0');
	PG_RETURN_DATUM(DirectFunctionCall3(numeric_in, CStringGetDatum(buf.data),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}
