/*-------------------------------------------------------------------------
 *
 * statements.c
 *	  The SQL that fills and maintains a continuous aggregate's table, and
 *	  the view over it.
 *
 * The table under the view ("materialization") has one row per group:
 *	  g_1 .. g_n	the group's key (one constant column without GROUP BY)
 *	  __count		rows in the group; a group at zero is deleted
 *	  __dirty		a min or max lost its extreme in this batch
 *	  a_k			the value of aggregate call k, as the query returns it
 *	  n_k, s_k		sum and avg: non-null inputs and their running sum
 *	  c_k, p_k, d_k	min and max: rows at the extreme; the extreme of the
 *					batch's deleted inputs and how many rows held it
 *	  v_k			count(DISTINCT): rows per value
 * so each batch is one INSERT ... ON CONFLICT of per-group deltas (new
 * rows count +1, old rows -1), and only a min or max whose extreme lost
 * its last row reads the source again, for that group alone.  Filling the
 * table at creation is the same statement over the whole source, as one
 * batch of new rows.  The view reads the table's columns in place of the
 * query's aggregate calls and group expressions.
 *
 * The statements are made once, at creation, and kept in the catalog.
 *
 * src/aggregate/statements.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"

#include "../pg_eventstream.h"
#include "aggregate.h"

/* a column definition: name, type, collation */
static char *
column_def(const char *name, Oid type, int32 typmod, Oid collation)
{
	char	   *def = psprintf("%s %s", name, format_type_with_typemod(type, typmod));

	if (OidIsValid(collation) && collation != DEFAULT_COLLATION_OID)
		def = psprintf("%s COLLATE %s", def, generate_collation_name(collation));
	return def;
}

/* the final value of avg from a running sum and count */
static char *
avg_sql(EsAggCall *call, const char *s, const char *n)
{
	if (call->aggref->aggtype == INTERVALOID)
		return psprintf("(%s) / (%s)::float8", s, n);
	return psprintf("(%s)::numeric / (%s)::numeric", s, n);
}

/*
 * The SQL of the plan is made in pieces, one per column of the table:
 *	  cols		the table's columns that the statements write
 *	  dcols		per group of change rows: the deltas (over rows c)
 *	  ins		the values of a group not in the table yet (from deltas d)
 *	  set		ON CONFLICT: the group's values with the deltas added
 */
struct EsAggSqlParts
{
	StringInfoData cols;
	StringInfoData rows;		/* a change row: group columns */
	StringInfoData xargs;		/* a change row: arguments */
	StringInfoData windows;		/* min/max: the extremes of the rows' group */
	StringInfoData dcols;
	StringInfoData ins;
	StringInfoData set;
	StringInfoData dirty_new;
	StringInfoData dirty_upd;
	StringInfoData recompute;
	StringInfoData empty_cols;
	StringInfoData empty_vals;
	StringInfoData keys;
	StringInfoData match;		/* the group's rows, NULL keys too */
	StringInfoData match_eq;	/* the same for keys that are not NULL: indexable */
	StringInfoData recompute_eq;
	StringInfoData keyed;		/* are all the group's keys not NULL? */
};

typedef EsAggSqlParts SqlParts;

/*
 * A min or max keeps its value a_k and how many rows hold it, c_k; a batch
 * brings the extreme of its new rows (with how many hold it) and of its
 * deleted rows, p_k (with how many, d_k).  The group needs reading again
 * only when the deleted extreme is the new extreme and no row is left
 * holding it -- so an update that keeps the value, or the deletion of one
 * of several rows at the extreme, costs nothing.
 *
 * A recount reads the table as it is now, which may hold rows of batches
 * not applied yet: it sets the value (min and max converge) but leaves the
 * count unknown (NULL), for a count read ahead could only grow wrong --
 * and so could the value's own rows, which may not even exist yet at this
 * point of the stream: while the count is unknown, any deletion at the
 * extreme reads the group again.  A strictly better value makes the count
 * exact.  Counts are thus never too high; too low costs an extra reading.
 */
void
es_agg_minmax_parts(SqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k)
{
	bool		min = strcmp(call->kind->name, "min") == 0;
	const char *fn = min ? "min" : "max";
	char	   *best = psprintf("%s(m.a_%d, excluded.a_%d)", min ? "least" : "greatest", k, k);
	char	   *batch;
	char	   *copies;

	plan->columns = lappend(plan->columns, psprintf("c_%d bigint", k));
	plan->columns = lappend(plan->columns,
							column_def(psprintf("p_%d", k), call->aggref->aggtype, -1,
									   call->aggref->inputcollid));
	plan->columns = lappend(plan->columns, psprintf("d_%d bigint", k));
	appendStringInfo(&sp->cols, ", a_%d, c_%d, p_%d, d_%d", k, k, k, k);
	appendStringInfo(&sp->windows, ", %s(x_%d) FILTER (WHERE __s > 0) OVER w AS wi_%d"
					 ", %s(x_%d) FILTER (WHERE __s < 0) OVER w AS wp_%d", fn, k, k, fn, k, k);
	appendStringInfo(&sp->dcols,
					 ", %s(x_%d) FILTER (WHERE __s > 0) AS a_%d"
					 ", count(*) FILTER (WHERE __s > 0 AND x_%d = wi_%d) AS ic_%d"
					 ", %s(x_%d) FILTER (WHERE __s < 0) AS p_%d"
					 ", count(*) FILTER (WHERE __s < 0 AND x_%d = wp_%d) AS d_%d",
					 fn, k, k, k, k, k, fn, k, k, k, k, k);
	/* a new group: every row is in the batch, the count is exact */
	appendStringInfo(&sp->ins, ", d.a_%d, d.ic_%d - CASE WHEN d.p_%d = d.a_%d THEN d.d_%d ELSE 0 END"
					 ", d.p_%d, d.d_%d", k, k, k, k, k, k, k);
	appendStringInfo(&sp->dirty_new, " OR coalesce(d.p_%d = d.a_%d AND d.ic_%d - d.d_%d <= 0, false)",
					 k, k, k, k);
	/* the batch's rows at the new extreme, on balance */
	batch = psprintf("(CASE WHEN excluded.a_%d = %s THEN excluded.c_%d"
					 " ELSE -(CASE WHEN excluded.p_%d = %s THEN excluded.d_%d ELSE 0 END) END)",
					 k, best, k, k, best, k);
	copies = psprintf("(CASE WHEN m.a_%d = %s THEN m.c_%d + %s ELSE %s END)",
					  k, best, k, batch, batch);
	appendStringInfo(&sp->set, ", a_%d = %s, c_%d = %s, p_%d = excluded.p_%d, d_%d = excluded.d_%d",
					 k, best, k, copies, k, k, k, k);
	appendStringInfo(&sp->dirty_upd,
					 " OR coalesce(excluded.p_%d = %s AND (m.a_%d = %s AND m.c_%d IS NULL OR %s <= 0), false)",
					 k, best, k, best, k, copies);
	/*
	 * A deleted value beyond the extreme: the group's row was read ahead
	 * (a recount saw rows of later batches), and what the batch removes at
	 * the extreme is not known -- read the group again.
	 */
	appendStringInfo(&sp->dirty_upd, " OR coalesce(excluded.p_%d %s %s, false)",
					 k, min ? "<" : ">", best);
	appendStringInfo(&sp->recompute,
					 "%s(a_%d, c_%d) = (SELECT %s(%s), NULL::bigint FROM %s t WHERE %s%s)",
					 sp->recompute.len ? ", " : "", k, k, fn, call->arg_sql, plan->source_sql,
					 plan->where_sql ? plan->where_sql : "true", sp->match.data);
	appendStringInfo(&sp->recompute_eq,
					 "%s(a_%d, c_%d) = (SELECT %s(%s), NULL::bigint FROM %s t WHERE %s%s)",
					 sp->recompute_eq.len ? ", " : "", k, k, fn, call->arg_sql, plan->source_sql,
					 plan->where_sql ? plan->where_sql : "true", sp->match_eq.data);
}

/* count(x) keeps its value only: the count of non-null inputs */
void
es_agg_count_parts(SqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k)
{
	appendStringInfo(&sp->cols, ", a_%d", k);
	appendStringInfo(&sp->dcols, ", sum(CASE WHEN x_%d IS NOT NULL THEN __s ELSE 0 END)::bigint AS a_%d", k, k);
	appendStringInfo(&sp->ins, ", d.a_%d", k);
	appendStringInfo(&sp->set, ", a_%d = m.a_%d + excluded.a_%d", k, k, k);
	appendStringInfo(&sp->empty_cols, ", a_%d", k);
	appendStringInfoString(&sp->empty_vals, ", 0");
}

/* sum and avg keep the count of non-null inputs n_k and their sum s_k */
void
es_agg_sum_parts(SqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k)
{
	const char *S = call->state_type;
	bool		avg = strcmp(call->kind->name, "avg") == 0;
	char	   *n_new = psprintf("m.n_%d + excluded.n_%d", k, k);
	char	   *s_new = psprintf("m.s_%d + excluded.s_%d", k, k);

	plan->columns = lappend(plan->columns, psprintf("n_%d bigint NOT NULL", k));
	plan->columns = lappend(plan->columns, psprintf("s_%d %s NOT NULL", k, S));
	appendStringInfo(&sp->cols, ", a_%d, n_%d, s_%d", k, k, k);
	appendStringInfo(&sp->dcols, ", sum(CASE WHEN x_%d IS NOT NULL THEN __s ELSE 0 END)::bigint AS n_%d", k, k);
	appendStringInfo(&sp->dcols,
					 ", coalesce(sum(x_%d) FILTER (WHERE __s > 0), '0'::%s)"
					 " - coalesce(sum(x_%d) FILTER (WHERE __s < 0), '0'::%s) AS s_%d",
					 k, S, k, S, k);
	appendStringInfo(&sp->ins, ", CASE WHEN d.n_%d > 0 THEN %s END, d.n_%d, d.s_%d",
					 k, avg ? avg_sql(call, psprintf("d.s_%d", k), psprintf("d.n_%d", k))
					 : psprintf("d.s_%d", k), k, k);
	appendStringInfo(&sp->set, ", n_%d = %s, s_%d = %s, a_%d = CASE WHEN %s > 0 THEN %s END",
					 k, n_new, k, s_new, k, n_new, avg ? avg_sql(call, s_new, n_new) : s_new);
	appendStringInfo(&sp->empty_cols, ", n_%d, s_%d", k, k);
	appendStringInfo(&sp->empty_vals, ", 0, '0'::%s", S);
}

/*
 * The value of a sum or avg of floats from its state: NaN if a NaN or both
 * infinities are summed (as float arithmetic has it), an infinity if one
 * is, else the exact sum (or mean: the exact sum over the count, to 30
 * decimals) rounded once to the result type.
 */
static char *
float_value_sql(EsAggCall *call, const char *n, const char *s, const char *pinf,
				const char *ninf, const char *nan)
{
	bool		avg = strcmp(call->kind->name, "avg") == 0;
	char	   *T = format_type_be(call->aggref->aggtype);

	return psprintf("CASE WHEN %s > 0 OR (%s > 0 AND %s > 0) THEN 'NaN'::%s "
					"WHEN %s > 0 THEN 'Infinity'::%s WHEN %s > 0 THEN '-Infinity'::%s "
					"ELSE (%s)::%s END",
					nan, pinf, ninf, T, pinf, T, ninf, T,
					avg ? psprintf("(%s + 0.000000000000000000000000000000) / (%s)::numeric", s, n)
					: s, T);
}

/*
 * sum and avg of float4/float8: the exact sum of the finite values
 * (numeric, from _float8_exact_finite) and counts of +Infinity, -Infinity
 * and NaN, so that any history of inserts, updates and deletes leaves the
 * state the current values would give from scratch.
 */
void
es_agg_float_sum_parts(SqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k)
{
	static const char *const counted[3][2] = {
		{"pi", "'Infinity'"}, {"ni", "'-Infinity'"}, {"nan", "'NaN'"}
	};
	char	   *n_new = psprintf("m.n_%d + excluded.n_%d", k, k);
	char	   *s_new = psprintf("m.s_%d + excluded.s_%d", k, k);
	char	   *news[3];
	char	   *olds[3];
	int			c;

	plan->columns = lappend(plan->columns, psprintf("n_%d bigint NOT NULL", k));
	plan->columns = lappend(plan->columns, psprintf("s_%d numeric NOT NULL", k));
	appendStringInfo(&sp->cols, ", a_%d, n_%d, s_%d", k, k, k);
	appendStringInfo(&sp->dcols, ", sum(CASE WHEN x_%d IS NOT NULL THEN __s ELSE 0 END)::bigint AS n_%d", k, k);
	appendStringInfo(&sp->dcols,
					 ", coalesce(sum(" ES_SCHEMA "._float8_exact_finite(x_%d) * __s), 0) AS s_%d", k, k);
	for (c = 0; c < 3; c++)
	{
		const char *col = counted[c][0];

		plan->columns = lappend(plan->columns, psprintf("%s_%d bigint NOT NULL", col, k));
		appendStringInfo(&sp->cols, ", %s_%d", col, k);
		appendStringInfo(&sp->dcols, ", sum(CASE WHEN x_%d = %s THEN __s ELSE 0 END)::bigint AS %s_%d",
						 k, counted[c][1], col, k);
		news[c] = psprintf("m.%s_%d + excluded.%s_%d", col, k, col, k);
		olds[c] = psprintf("d.%s_%d", col, k);
	}
	appendStringInfo(&sp->ins, ", CASE WHEN d.n_%d > 0 THEN %s END, d.n_%d, d.s_%d, %s, %s, %s",
					 k, float_value_sql(call, psprintf("d.n_%d", k), psprintf("d.s_%d", k),
										olds[0], olds[1], olds[2]),
					 k, k, olds[0], olds[1], olds[2]);
	appendStringInfo(&sp->set, ", n_%d = %s, s_%d = %s, pi_%d = %s, ni_%d = %s, nan_%d = %s, "
					 "a_%d = CASE WHEN %s > 0 THEN %s END",
					 k, n_new, k, s_new, k, news[0], k, news[1], k, news[2],
					 k, n_new, float_value_sql(call, n_new, s_new, news[0], news[1], news[2]));
	appendStringInfo(&sp->empty_cols, ", n_%d, s_%d, pi_%d, ni_%d, nan_%d", k, k, k, k, k);
	appendStringInfoString(&sp->empty_vals, ", 0, 0, 0, 0, 0");
}

/*
 * count(DISTINCT x) keeps v_k, how many rows hold each value (as text:
 * kinds.c accepts only types whose equal values print alike), in a jsonb
 * object that distinct.sql adds deltas to; its value is the number of
 * values held.  A batch's deltas are [value, +1 or -1] pairs.
 */
void
es_agg_count_distinct_parts(SqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k)
{
	char	   *merged = psprintf(ES_SCHEMA "._distinct_add(m.v_%d, excluded.v_%d)", k, k);
	char	   *fresh = psprintf(ES_SCHEMA "._distinct_add('{}', d.v_%d)", k);

	plan->columns = lappend(plan->columns, psprintf("v_%d jsonb NOT NULL", k));
	appendStringInfo(&sp->cols, ", a_%d, v_%d", k, k);
	appendStringInfo(&sp->dcols,
					 ", coalesce(jsonb_agg(jsonb_build_array(x_%d::text, __s)) FILTER (WHERE x_%d IS NOT NULL),"
					 " '[]') AS v_%d", k, k, k);
	appendStringInfo(&sp->ins, ", " ES_SCHEMA "._distinct_count(%s), %s", fresh, fresh);
	appendStringInfo(&sp->set, ", v_%d = %s, a_%d = " ES_SCHEMA "._distinct_count(%s)",
					 k, merged, k, merged);
	appendStringInfo(&sp->empty_cols, ", a_%d, v_%d", k, k);
	appendStringInfoString(&sp->empty_vals, ", 0, '{}'");
}

/*
 * hll_add_agg and hll_union_agg (the hll extension) keep their value only:
 * a sketch, which a batch's sketch of its new rows is unioned into.  A
 * sketch cannot take a row out: a batch with deleted rows raises an error
 * (_cannot_remove, distinct.sql), which marks the aggregate failed until a
 * refresh.  Such aggregates are append-only (aggregate_api.c).
 */
/* a function of the hll extension, qualified by the schema of the call's aggregate */
static const char *
hll_function(EsAggCall *call, const char *name)
{
	return quote_qualified_identifier(get_namespace_name(get_func_namespace(call->aggref->aggfnoid)),
									  name);
}

void
es_agg_hll_parts(SqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k)
{
	const char *fn = hll_function(call, call->kind->name);
	const char *hll_union = hll_function(call, "hll_union");

	appendStringInfo(&sp->cols, ", a_%d", k);
	appendStringInfo(&sp->dcols, ", %s(x_%d) FILTER (WHERE __s > 0) AS a_%d"
					 ", count(x_%d) FILTER (WHERE __s < 0) AS r_%d", fn, k, k, k, k);
	appendStringInfo(&sp->ins, ", CASE WHEN " ES_SCHEMA "._cannot_remove(%s, d.r_%d) THEN d.a_%d END",
					 quote_literal_cstr(call->kind->name), k, k);
	appendStringInfo(&sp->set, ", a_%d = coalesce(%s(m.a_%d, excluded.a_%d), m.a_%d, excluded.a_%d)",
					 k, hll_union, k, k, k, k);
	appendStringInfo(&sp->empty_cols, ", a_%d", k);
	appendStringInfoString(&sp->empty_vals, ", NULL");
}

/*
 * Windows (window.c) read several of a group's rows -- its buckets -- as
 * one: each kind says how its columns combine, over the rows of the table.
 * A count over no rows is 0, as in an ungrouped query.
 */
char *
es_agg_count_combine(EsAggCall *call, int k)
{
	return psprintf("coalesce(sum(a_%d), 0)::bigint", k);
}

char *
es_agg_sum_combine(EsAggCall *call, int k)
{
	if (strcmp(call->kind->name, "avg") == 0)
		return psprintf("CASE WHEN sum(n_%d) > 0 THEN %s END", k,
						avg_sql(call, psprintf("sum(s_%d)", k), psprintf("sum(n_%d)", k)));
	return psprintf("(sum(a_%d))::%s", k, format_type_be(call->aggref->aggtype));
}

char *
es_agg_float_sum_combine(EsAggCall *call, int k)
{
	return psprintf("CASE WHEN sum(n_%d) > 0 THEN %s END", k,
					float_value_sql(call, psprintf("sum(n_%d)", k), psprintf("sum(s_%d)", k),
									psprintf("sum(pi_%d)", k), psprintf("sum(ni_%d)", k),
									psprintf("sum(nan_%d)", k)));
}

char *
es_agg_minmax_combine(EsAggCall *call, int k)
{
	return psprintf("%s(a_%d)", call->kind->name, k);
}

char *
es_agg_count_distinct_combine(EsAggCall *call, int k)
{
	return psprintf(ES_SCHEMA "._distinct_count(" ES_SCHEMA "._distinct_union(v_%d))", k);
}

char *
es_agg_hll_combine(EsAggCall *call, int k)
{
	return psprintf("%s(a_%d)", hll_function(call, "hll_union_agg"), k);
}

/* the change rows of a side (es_new or es_old, or the source itself) */
static char *
rows_sql(SqlParts *sp, EsAggPlan *plan, const char *from, int sign)
{
	return psprintf("SELECT %s%d AS __s%s FROM %s t%s%s", sp->rows.data, sign, sp->xargs.data,
					from, plan->where_sql ? " WHERE " : "", plan->where_sql ? plan->where_sql : "");
}

/* per group: the deltas of the change rows */
static char *
deltas_sql(SqlParts *sp, EsAggPlan *plan, const char *rows)
{
	if (plan->has_minmax)
		rows = psprintf("SELECT *%s FROM (%s) c0 WINDOW w AS (PARTITION BY %s)",
						sp->windows.data, rows, sp->keys.data);
	return psprintf("SELECT %s FROM (%s) c GROUP BY %s", sp->dcols.data, rows, sp->keys.data);
}

/*
 * es_agg_make_sql makes the column list and the statements of the plan,
 * for a materialization named mat_sql (qualified and quoted).
 */
void
es_agg_make_sql(EsAggPlan *plan, const char *mat_sql)
{
	SqlParts	sp;
	AttrNumber	att = 0;
	int			i;

	initStringInfo(&sp.cols);
	initStringInfo(&sp.rows);
	initStringInfo(&sp.xargs);
	initStringInfo(&sp.windows);
	initStringInfo(&sp.dcols);
	initStringInfo(&sp.ins);
	initStringInfo(&sp.set);
	initStringInfo(&sp.dirty_new);
	initStringInfo(&sp.dirty_upd);
	initStringInfo(&sp.recompute);
	initStringInfo(&sp.empty_cols);
	initStringInfo(&sp.empty_vals);
	initStringInfo(&sp.keys);
	initStringInfo(&sp.match);
	initStringInfo(&sp.match_eq);
	initStringInfo(&sp.recompute_eq);
	initStringInfo(&sp.keyed);
	plan->columns = NIL;

	for (i = 0; i < plan->ngroups; i++)
	{
		Node	   *e = plan->grouped ? list_nth(plan->group_exprs, i) : NULL;
		char	   *g = psprintf("g_%d", i + 1);

		plan->columns = lappend(plan->columns,
								e ? column_def(g, exprType(e), exprTypmod(e), exprCollation(e))
								: column_def(g, BOOLOID, -1, InvalidOid));
		att++;
		appendStringInfo(&sp.cols, "%s, ", g);
		appendStringInfo(&sp.rows, "%s AS %s, ", plan->group_sql[i], g);
		appendStringInfo(&sp.dcols, "%s, ", g);
		appendStringInfo(&sp.ins, "d.%s, ", g);
		appendStringInfo(&sp.keys, "%s%s", i ? ", " : "", g);
		appendStringInfo(&sp.match, " AND (%s = m.%s OR (%s IS NULL AND m.%s IS NULL))",
						 plan->group_sql[i], g, plan->group_sql[i], g);
		appendStringInfo(&sp.match_eq, " AND %s = m.%s", plan->group_sql[i], g);
		appendStringInfo(&sp.keyed, "%s IS NOT NULL AND ", g);
		appendStringInfo(&sp.empty_cols, "%s, ", g);
		appendStringInfoString(&sp.empty_vals, "true, ");
	}
	plan->columns = lappend(plan->columns, "__count bigint NOT NULL");
	plan->count_att = ++att;
	plan->columns = lappend(plan->columns, "__dirty boolean NOT NULL DEFAULT false");
	att++;
	appendStringInfoString(&sp.cols, "__count");
	appendStringInfoString(&sp.dcols, "sum(__s)::bigint AS __count");
	appendStringInfoString(&sp.ins, "d.__count");
	appendStringInfoString(&sp.set, "__count = m.__count + excluded.__count");
	appendStringInfoString(&sp.empty_cols, "__count");
	appendStringInfoString(&sp.empty_vals, "0");

	for (i = 0; i < plan->ncalls; i++)
	{
		EsAggCall  *call = &plan->calls[i];
		int			k = i + 1;

		if (call->kind->star)
		{
			/* count(*) is the group's row count */
			call->value_att = plan->count_att;
			continue;
		}
		appendStringInfo(&sp.xargs, ", %s AS x_%d", call->arg_sql, k);
		plan->columns = lappend(plan->columns,
								column_def(psprintf("a_%d", k), call->aggref->aggtype, -1,
										   call->kind->extreme ? call->aggref->inputcollid
										   : InvalidOid));
		call->value_att = ++att;
		call->kind->parts(&sp, plan, call, k);
		att += call->kind->nstate;
	}

	/* the whole table, as one batch of new rows */
	plan->populate_sql = psprintf("INSERT INTO %s (%s, __dirty) SELECT %s, false FROM (%s) d",
								  mat_sql, sp.cols.data, sp.ins.data,
								  deltas_sql(&sp, plan, rows_sql(&sp, plan, plan->source_sql, 1)));
	plan->delta_sql =
		psprintf("INSERT INTO %s AS m (%s, __dirty) SELECT %s, false%s FROM (%s) d "
				 "ON CONFLICT (%s) DO UPDATE SET %s, __dirty = false%s "
				 "RETURNING ctid, __count, __dirty, %strue",
				 mat_sql, sp.cols.data, sp.ins.data, sp.dirty_new.data,
				 deltas_sql(&sp, plan,
							psprintf("%s UNION ALL %s", rows_sql(&sp, plan, "es_new", 1),
									 rows_sql(&sp, plan, "es_old", -1))),
				 sp.keys.data, sp.set.data, sp.dirty_upd.data, sp.keyed.data);
	/* a group with a NULL key, and one without: the second can use an index */
	plan->recompute_sql = plan->has_minmax ?
		psprintf("UPDATE %s AS m SET %s, __dirty = false WHERE m.ctid = $1",
				 mat_sql, sp.recompute.data) : NULL;
	plan->recompute_keyed_sql = plan->has_minmax ?
		psprintf("UPDATE %s AS m SET %s, __dirty = false WHERE m.ctid = $1",
				 mat_sql, sp.recompute_eq.data) : NULL;
	plan->empty_sql = plan->grouped ? NULL :
		psprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING", mat_sql,
				 sp.empty_cols.data, sp.empty_vals.data);
}

typedef struct ViewContext
{
	EsAggPlan  *plan;
	Oid			mat;
	int			skip;			/* a group key the SELECT leaves out, or 0 */
} ViewContext;

/* a Var of the materialization's column att */
static Node *
mat_var(ViewContext *cxt, AttrNumber att)
{
	Oid			type;
	int32		typmod;
	Oid			coll;

	get_atttypetypmodcoll(cxt->mat, att, &type, &typmod, &coll);
	return (Node *) makeVar(1, att, type, typmod, coll, 0);
}

/* group expressions and aggregate calls become columns of the table */
static Node *
to_mat_mutator(Node *node, ViewContext *cxt)
{
	ListCell   *lc;
	int			i;

	if (node == NULL)
		return NULL;
	i = 0;
	foreach(lc, cxt->plan->group_exprs)
	{
		i++;
		if (equal(node, lfirst(lc)))
		{
			if (i == cxt->skip)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a window cannot show an expression of the aggregate's time bucket"),
						 errdetail("The window combines the buckets: it has no bucket of its own."),
						 errhint("Leave the bucket out of the aggregate's other select-list expressions.")));
			return mat_var(cxt, i);
		}
	}
	if (IsA(node, Aggref))
	{
		for (i = 0; i < cxt->plan->ncalls; i++)
			if (equal(node, cxt->plan->calls[i].aggref))
				return mat_var(cxt, cxt->plan->calls[i].value_att);
		elog(ERROR, "aggregate call not found");
	}
	return expression_tree_mutator(node, to_mat_mutator, cxt);
}

/*
 * es_agg_select_sql is the SELECT of the query's select list and HAVING
 * over table mat's columns, read from "from" (a FROM item with the table's
 * name and columns; NULL: the table itself), leaving out the select-list
 * entries that are group key skip (1-based; 0: none).
 */
char *
es_agg_select_sql(EsAggPlan *plan, Oid mat, int skip, const char *from)
{
	ViewContext cxt = {plan, mat, skip};
	List	   *dpcontext = deparse_context_for(get_rel_name(mat), mat);
	StringInfoData sql;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, plan->query->targetList)
	{
		TargetEntry *te = lfirst_node(TargetEntry, lc);

		if (te->resjunk)
			continue;
		if (skip > 0 && equal(te->expr, list_nth(plan->group_exprs, skip - 1)))
			continue;
		appendStringInfo(&sql, "%s%s AS %s", first ? "" : ", ",
						 deparse_expression(to_mat_mutator((Node *) te->expr, &cxt),
											dpcontext, false, false),
						 quote_identifier(te->resname));
		first = false;
	}
	if (from)
		appendStringInfo(&sql, " FROM %s", from);
	else
		appendStringInfo(&sql, " FROM " ES_SCHEMA ".%s",
						 quote_identifier(get_rel_name(mat)));
	if (plan->query->havingQual)
		appendStringInfo(&sql, " WHERE %s",
						 deparse_expression(to_mat_mutator(plan->query->havingQual, &cxt),
											dpcontext, false, false));
	return sql.data;
}

/* es_agg_view_sql is the SELECT of the caller's view over table mat */
char *
es_agg_view_sql(EsAggPlan *plan, Oid mat)
{
	return es_agg_select_sql(plan, mat, 0, NULL);
}
