/*-------------------------------------------------------------------------
 *
 * aggregate.h
 *	  Continuous aggregates: views of a GROUP BY query over one table,
 *	  kept up to date by the capture worker from the changes it decodes.
 *
 *	  kinds.c		the aggregate functions maintained: one table
 *	  analyze.c		checks a query
 *	  statements.c	the SQL that fills and maintains it, and the view
 *	  maintain.c	the worker side: changes of source tables, buffered per
 *					batch and applied as deltas in the apply transaction
 *	  target.c		the aggregates as one of the capture worker's targets
 *
 * create_aggregate, refresh_aggregate and drop_aggregate are SQL functions
 * of the api layer (src/api/aggregate_api.c).
 *
 * An aggregate is three objects: the caller's view, a table under it in
 * the eventstream schema (one row per group: the group's key, its row
 * count, each aggregate's value and what is needed to update that value
 * without the table), and a row of eventstream.aggregate_catalog holding
 * the SQL the worker runs.  The table depends internally on the view, so
 * dropping the view drops the table; the view's rule depends on the source
 * columns the query uses, as a view's would.
 *
 * src/aggregate/aggregate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_AGGREGATE_H
#define ES_AGGREGATE_H

#include "nodes/parsenodes.h"
#include "utils/tuplestore.h"

#include "../decoder/decoder.h"

/* one distinct aggregate call of the query */
typedef struct EsAggCall
{
	Aggref	   *aggref;
	const struct EsAggKindRoutine *kind;
	char	   *arg_sql;		/* the argument over alias t, or NULL */
	char	   *state_type;		/* sum/avg: type of the running sum */
	AttrNumber	value_att;		/* column of the value in the table */
} EsAggCall;

/* a checked query and the SQL made from it */
typedef struct EsAggPlan
{
	Query	   *query;
	Oid			source;
	char	   *source_sql;		/* qualified, quoted name */
	char	   *where_sql;		/* over alias t, or NULL */
	bool		grouped;
	int			ngroups;
	List	   *group_exprs;	/* Node * */
	char	  **group_sql;		/* over alias t */
	int			ncalls;
	EsAggCall  *calls;
	bool		has_minmax;
	bool		pins_settings;	/* uses date/time functions: pin TimeZone... */
	List	   *columns;		/* the table's column definitions, char * */
	AttrNumber	count_att;
	char	   *populate_sql;	/* INSERT INTO %s ... from the source */
	char	   *delta_sql;		/* INSERT INTO %s ... ON CONFLICT, from es_new/es_old */
	char	   *recompute_sql;	/* UPDATE ... min/max of a group with a NULL key, or NULL */
	char	   *recompute_keyed_sql;	/* the same for other groups: indexable */
	char	   *empty_sql;		/* INSERT INTO %s the row of an empty table, or NULL */
} EsAggPlan;

/* kinds.c: the aggregate functions maintained, one entry each */
typedef struct EsAggSqlParts EsAggSqlParts;	/* statements.c */

typedef struct EsAggKindRoutine
{
	const char *name;			/* the pg_catalog aggregate */
	bool		star;			/* called as name(*) */
	void		(*check_type) (const char *name, Oid argtype);	/* NULL: any */
	Oid			(*state_type) (Oid argtype);	/* of a running state, or NULL */
	int			nstate;			/* state columns after the value's */
	bool		extreme;		/* min/max: collation matters, deleting the
								 * extreme may read the group again */
	void		(*parts) (EsAggSqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k);
	/* its value over several of the table's rows (windows), or NULL: __count */
	char	   *(*combine) (EsAggCall *call, int k);
	bool		floats;			/* for float4/float8 arguments only */
	bool		distinct;		/* name(DISTINCT x) */
	const char *extension;		/* the extension of the aggregate, or NULL
								 * for pg_catalog's */
	bool		insert_only;	/* cannot take rows out: append-only only */
} EsAggKindRoutine;

extern const EsAggKindRoutine *es_agg_kind_lookup(const char *name, const char *extension,
												  bool star, bool distinct, Oid argtype);

/* analyze.c */
extern Query *es_agg_parse(const char *query_text);
extern EsAggPlan *es_agg_analyze(Query *query);

/* statements.c */
extern void es_agg_make_sql(EsAggPlan *plan, const char *mat_sql);
extern void es_agg_count_parts(EsAggSqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k);
extern void es_agg_sum_parts(EsAggSqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k);
extern void es_agg_float_sum_parts(EsAggSqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k);
extern void es_agg_minmax_parts(EsAggSqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k);
extern void es_agg_count_distinct_parts(EsAggSqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k);
extern void es_agg_hll_parts(EsAggSqlParts *sp, EsAggPlan *plan, EsAggCall *call, int k);
extern char *es_agg_count_combine(EsAggCall *call, int k);
extern char *es_agg_sum_combine(EsAggCall *call, int k);
extern char *es_agg_float_sum_combine(EsAggCall *call, int k);
extern char *es_agg_minmax_combine(EsAggCall *call, int k);
extern char *es_agg_count_distinct_combine(EsAggCall *call, int k);
extern char *es_agg_hll_combine(EsAggCall *call, int k);
extern char *es_agg_select_sql(EsAggPlan *plan, Oid mat, int skip, const char *from);
extern char *es_agg_view_sql(EsAggPlan *plan, Oid mat);

/* window.c: sliding windows over an aggregate's time buckets */
extern int	es_agg_window_bucket(EsAggPlan *plan);
extern char *es_agg_window_sql(EsAggPlan *plan, Oid mat, int bucket, const char *width);

/* maintain.c: the worker side */
typedef struct EsAggSet EsAggSet;

extern EsAggSet *es_aggs_load(MemoryContext parent);
extern void es_aggs_free(EsAggSet *set);
extern const char *es_aggs_tables_option(EsAggSet *set);
extern bool es_aggs_change(EsAggSet *set, const EsEvent *ev);
extern bool es_aggs_pending(EsAggSet *set);
extern void es_aggs_apply(EsAggSet *set);
extern void es_aggs_reset(EsAggSet *set);

/* target.c: the aggregates as a capture target (decoder/target.h) */
extern PGDLLIMPORT const struct EsTargetRoutine es_aggregate_target;

#endif							/* ES_AGGREGATE_H */
