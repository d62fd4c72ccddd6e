/*-------------------------------------------------------------------------
 *
 * analyze.c
 *	  Check the query of a continuous aggregate.
 *
 * The query is parsed and analysed like any SELECT, then held to the
 * supported shape: one table, a WHERE on the row, GROUP BY immutable
 * expressions of the row (or date/time ones whose settings are pinned),
 * and count(*), count(x), count(DISTINCT x), sum, avg, min and max.
 * Anything else is refused with an error naming the part.  The result is
 * an EsAggPlan: the source, the WHERE, the group expressions and the
 * distinct aggregate calls, each as SQL over the alias t; statements.c
 * makes the SQL that fills and maintains the aggregate from it.
 *
 * Names resolve once, under the caller's search_path, when the query is
 * parsed (es_agg_parse); everything after (es_agg_analyze) runs with the
 * search_path pinned (as_owner.h), so the SQL deparsed from the analysed
 * query names every object outside pg_catalog with its schema, and means
 * the same objects whoever runs it later -- the worker, or a superuser's
 * refresh -- never a function another role put earlier on some path.
 *
 * Which calls are supported, over which types, is the table in kinds.c:
 * sum and avg of floats keep an exact sum (a running float sum would
 * drift), count(DISTINCT x) takes types whose equal values print alike.
 *
 * src/aggregate/analyze.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "../pg_eventstream.h"
#include "aggregate.h"

static void
unsupported(const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("continuous aggregates do not support %s", what),
			 errhint("%s", hint ? hint :
					 "Use one table, a WHERE on its rows, GROUP BY immutable expressions of the row, "
					 "and count, sum, avg, min or max.")));
}

/* an expression of the source row, as SQL over alias t */
static char *
expr_sql(Node *expr, Oid source)
{
	return deparse_expression(expr, deparse_context_for("t", source), true, false);
}

/* refuse system columns and whole-row references */
static bool
check_vars_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varattno <= 0)
		unsupported("system columns or whole-row references",
					"Name the table's columns.");
	return expression_tree_walker(node, check_vars_walker, context);
}

/*
 * Stable functions whose result depends only on their arguments and the
 * date/time settings (TimeZone, DateStyle, IntervalStyle): accepted, with
 * those settings pinned at creation for every later evaluation
 * (as_owner.c's es_pin_settings).
 */
static bool
pinnable_function(Oid func)
{
	switch (func)
	{
		case F_DATE_TRUNC_TEXT_TIMESTAMPTZ:
		case F_DATE_TRUNC_TEXT_TIMESTAMPTZ_TEXT:
		case F_DATE_PART_TEXT_TIMESTAMPTZ:
		case F_EXTRACT_TEXT_TIMESTAMPTZ:
		case F_DATE_TIMESTAMPTZ:		/* timestamptz::date */
		case F_TIMESTAMP_TIMESTAMPTZ:	/* timestamptz::timestamp */
		case F_TIMESTAMPTZ_TIMESTAMP:	/* timestamp::timestamptz */
		case F_TIMESTAMPTZ_DATE:		/* date::timestamptz */
		case F_TIMESTAMPTZ_PL_INTERVAL:
		case F_TIMESTAMPTZ_MI_INTERVAL:
		case F_TIMESTAMPTZ_OUT:			/* ::text */
		case F_TIMESTAMP_OUT:
		case F_DATE_OUT:
		case F_INTERVAL_OUT:
			return true;
		default:
			return false;
	}
}

/* true for a function that is neither immutable nor pinnable */
static bool
unpinnable_checker(Oid func, void *context)
{
	if (func_volatile(func) == PROVOLATILE_IMMUTABLE)
		return false;
	if (pinnable_function(func))
	{
		*(bool *) context = true;
		return false;
	}
	return true;
}

/* is there anything mutable that pinning the date/time settings does not fix? */
static bool
unpinnable_walker(Node *node, bool *pins)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, unpinnable_checker, pins))
		return true;
	if (IsA(node, SQLValueFunction) || IsA(node, NextValueExpr) || IsA(node, Param))
		return true;
	return expression_tree_walker(node, unpinnable_walker, pins);
}

static void
check_row_expr(EsAggPlan *plan, Node *expr, const char *where)
{
	check_vars_walker(expr, NULL);
	if (unpinnable_walker(expr, &plan->pins_settings))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("continuous aggregates do not support functions that are not immutable in %s", where),
				 errdetail("The worker computes it later and must get what the query gets; only date/time "
						   "functions that depend on TimeZone, DateStyle or IntervalStyle are accepted, "
						   "with those settings pinned at creation."),
				 errhint("Use immutable expressions of the row's columns.")));
}

/* the kind of a supported aggregate call, or an error */
static const EsAggKindRoutine *
call_kind(Aggref *agg, Oid *argtype)
{
	char	   *name = get_func_name(agg->aggfnoid);
	Oid			nsp = get_func_namespace(agg->aggfnoid);
	Oid			ext = getExtensionOfObject(ProcedureRelationId, agg->aggfnoid);
	char	   *extname = OidIsValid(ext) ? get_extension_name(ext) : NULL;
	const EsAggKindRoutine *kind;

	*argtype = InvalidOid;
	if (agg->aggorder != NIL)
		unsupported("ORDER BY in an aggregate", NULL);
	if (agg->aggfilter != NULL)
		unsupported("FILTER in an aggregate",
					"Move the condition into WHERE, or into a CASE in the argument.");
	if (agg->aggkind != AGGKIND_NORMAL || agg->agglevelsup != 0)
		unsupported("ordered-set or hypothetical aggregates", NULL);
	if (nsp != PG_CATALOG_NAMESPACE && (extname == NULL || strcmp(extname, "hll") != 0))
		unsupported(psprintf("the aggregate %s()", name),
					"Besides pg_catalog's, the hll extension's hll_add_agg and hll_union_agg are supported.");
	if (nsp == PG_CATALOG_NAMESPACE)
		extname = NULL;
	if (!agg->aggstar && list_length(agg->args) != 1)
		unsupported(psprintf("the aggregate %s() with %d arguments", name,
							 list_length(agg->args)),
					extname ? "Call it with the hash alone: the sketch then takes the hll extension's "
					"defaults (hll_set_defaults)." : NULL);
	if (!agg->aggstar)
		*argtype = exprType((Node *) ((TargetEntry *) linitial(agg->args))->expr);
	kind = es_agg_kind_lookup(name, extname, agg->aggstar, agg->aggdistinct != NIL, *argtype);
	if (kind == NULL && agg->aggdistinct != NIL)
		unsupported(psprintf("DISTINCT in %s()", name),
					"count(DISTINCT x) is the one aggregate supported with DISTINCT.");
	if (kind == NULL)
		unsupported(psprintf("the aggregate %s()", name),
					"The supported aggregates are count(*), count(x), count(DISTINCT x), sum, avg, min and max, "
					"and the hll extension's hll_add_agg(hashval) and hll_union_agg.");
	if (!agg->aggstar && kind->check_type != NULL)
		kind->check_type(name, *argtype);
	/* distinct values are told apart by their bytes */
	if (kind->distinct && OidIsValid(agg->inputcollid) &&
		!get_collation_isdeterministic(agg->inputcollid))
		unsupported("count(DISTINCT) under a nondeterministic collation",
					"Add COLLATE \"C\" to the argument, or count distinct lower(x).");
	return kind;
}

typedef struct CollectContext
{
	EsAggPlan  *plan;
	List	   *aggrefs;
} CollectContext;

static bool
collect_aggrefs(Node *node, CollectContext *cxt)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		if (!list_member(cxt->aggrefs, node))
			cxt->aggrefs = lappend(cxt->aggrefs, node);
		return false;
	}
	return expression_tree_walker(node, collect_aggrefs, cxt);
}

/*
 * es_agg_parse parses and analyses the query under the caller's
 * search_path: its names resolve here, once.
 */
Query *
es_agg_parse(const char *query_text)
{
	List	   *raw;
	RawStmt    *stmt;

	raw = raw_parser(query_text, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of an aggregate must be one SELECT statement")));
	stmt = linitial_node(RawStmt, raw);
	if (!IsA(stmt->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of an aggregate must be a SELECT statement")));
	if (((SelectStmt *) stmt->stmt)->intoClause != NULL)
		unsupported("SELECT INTO", NULL);
	return parse_analyze_fixedparams(stmt, query_text, NULL, 0, NULL);
}

/*
 * es_agg_analyze checks the parsed query; on success the plan has the
 * source, the WHERE, the group expressions and the aggregate calls, as
 * SQL deparsed under the current (pinned) search_path.
 */
EsAggPlan *
es_agg_analyze(Query *q)
{
	RangeTblEntry *rte;
	EsAggPlan  *plan;
	CollectContext cxt;
	ListCell   *lc;
	int			i;

	if (q->setOperations != NULL)
		unsupported("UNION, INTERSECT or EXCEPT", NULL);
	if (q->cteList != NIL)
		unsupported("WITH", "Write the query over the table itself.");
	if (q->hasWindowFuncs)
		unsupported("window functions", NULL);
	if (q->hasSubLinks)
		unsupported("subqueries", NULL);
	if (q->hasTargetSRFs)
		unsupported("set-returning functions", NULL);
	if (q->distinctClause != NIL)
		unsupported("DISTINCT", "GROUP BY the columns instead.");
	if (q->sortClause != NIL)
		unsupported("ORDER BY", "Order when you read the view.");
	if (q->limitCount != NULL || q->limitOffset != NULL)
		unsupported("LIMIT or OFFSET", "Limit when you read the view.");
	if (q->rowMarks != NIL)
		unsupported("FOR UPDATE or FOR SHARE", NULL);
	if (q->groupingSets != NIL)
		unsupported("GROUPING SETS, ROLLUP or CUBE", NULL);
	if (!q->hasAggs && q->groupClause == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of an aggregate must use GROUP BY or an aggregate function"),
				 errhint("For the rows themselves, use a stream.")));

	if (list_length(q->rtable) != 1 || list_length(q->jointree->fromlist) != 1 ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef))
		unsupported("joins or more than one table in FROM", NULL);
	rte = linitial_node(RangeTblEntry, q->rtable);
	if (rte->rtekind != RTE_RELATION)
		unsupported("a subquery or function in FROM", NULL);
	if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE)
		unsupported("views, foreign tables or other relations as the source",
					"Aggregate the table itself.");
	if (!rte->inh)
		unsupported("FROM ONLY", NULL);
	if (rte->tablesample != NULL)
		unsupported("TABLESAMPLE", "Aggregate the whole table; filter rows with WHERE.");
	if (get_rel_namespace(rte->relid) == get_namespace_oid(ES_SCHEMA, false) ||
		IsCatalogNamespace(get_rel_namespace(rte->relid)))
		unsupported("system or pg_eventstream tables as the source", NULL);

	plan = palloc0(sizeof(EsAggPlan));
	plan->query = q;
	plan->source = rte->relid;
	plan->source_sql = quote_qualified_identifier(get_namespace_name(get_rel_namespace(rte->relid)),
												  get_rel_name(rte->relid));
	if (q->jointree->quals != NULL)
	{
		check_row_expr(plan, q->jointree->quals, "WHERE");
		plan->where_sql = expr_sql(q->jointree->quals, plan->source);
	}

	plan->grouped = q->groupClause != NIL;
	plan->ngroups = plan->grouped ? list_length(q->groupClause) : 1;
	plan->group_sql = palloc0(sizeof(char *) * plan->ngroups);
	i = 0;
	foreach(lc, q->groupClause)
	{
		Node	   *expr = get_sortgroupclause_expr(lfirst_node(SortGroupClause, lc),
													q->targetList);

		check_row_expr(plan, expr, "GROUP BY");
		plan->group_exprs = lappend(plan->group_exprs, expr);
		plan->group_sql[i++] = expr_sql(expr, plan->source);
	}
	if (!plan->grouped)
		plan->group_sql[0] = "true";

	/* HAVING may use aggregates the select list does not */
	memset(&cxt, 0, sizeof(cxt));
	cxt.plan = plan;
	foreach(lc, q->targetList)
		collect_aggrefs((Node *) lfirst_node(TargetEntry, lc)->expr, &cxt);
	collect_aggrefs(q->havingQual, &cxt);
	if (q->havingQual && contain_volatile_functions(q->havingQual))
		unsupported("volatile functions in HAVING", NULL);

	plan->ncalls = list_length(cxt.aggrefs);
	plan->calls = palloc0(sizeof(EsAggCall) * Max(plan->ncalls, 1));
	i = 0;
	foreach(lc, cxt.aggrefs)
	{
		EsAggCall  *call = &plan->calls[i++];
		Oid			argtype;

		call->aggref = lfirst_node(Aggref, lc);
		call->kind = call_kind(call->aggref, &argtype);
		if (!call->kind->star)
		{
			Node	   *arg = (Node *) linitial_node(TargetEntry, call->aggref->args)->expr;

			check_row_expr(plan, arg, "an aggregate's argument");
			call->arg_sql = expr_sql(arg, plan->source);
		}
		if (call->kind->state_type != NULL)
			call->state_type = format_type_be(call->kind->state_type(argtype));
		if (call->kind->extreme)
			plan->has_minmax = true;
	}
	return plan;
}
