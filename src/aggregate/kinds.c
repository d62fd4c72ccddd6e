/*-------------------------------------------------------------------------
 *
 * kinds.c
 *	  The table of aggregate functions a continuous aggregate maintains.
 *
 * Each kind says which aggregate it is (pg_catalog's, or an extension's),
 * which argument types it takes, the type of its running state, how many
 * state columns it keeps in the materialization beside its value, whether
 * it keeps an extreme (its value then depends on the collation, and
 * deleting the extreme may read the group again), the function that
 * writes its part of the maintenance statements, and the one that combines
 * its columns over several rows for windows (statements.c).  A new kind is
 * one entry here and those two functions.
 *
 * src/aggregate/kinds.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "aggregate.h"

/* sum and avg: integers, numeric, interval (and money for sum) */
static void
sum_check_type(const char *name, Oid argtype)
{
	if (argtype != INT2OID && argtype != INT4OID && argtype != INT8OID &&
		argtype != NUMERICOID && argtype != INTERVALOID &&
		!(argtype == CASHOID && strcmp(name, "sum") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("continuous aggregates do not support %s() of %s", name,
						format_type_be(argtype)),
				 errhint("sum and avg are supported on integers, numeric, floats and interval.")));
}

/* the type of the running sum of sum/avg over argtype */
static Oid
sum_state_type(Oid argtype)
{
	switch (argtype)
	{
		case INT2OID:
		case INT4OID:
			return INT8OID;
		case INT8OID:
		case NUMERICOID:
			return NUMERICOID;
		default:
			return argtype;		/* interval, money */
	}
}

/* sum and avg of float4/float8: an exact running sum, apart from infinities and NaN */
static Oid
float_sum_state_type(Oid argtype)
{
	return NUMERICOID;
}

static bool
is_float(Oid argtype)
{
	return argtype == FLOAT4OID || argtype == FLOAT8OID;
}

/*
 * count(DISTINCT x) keeps the values as text: only types whose equal
 * values have one text form, whatever the settings, are accepted.
 */
static void
distinct_check_type(const char *name, Oid argtype)
{
	if (argtype != INT2OID && argtype != INT4OID && argtype != INT8OID &&
		argtype != TEXTOID && argtype != VARCHAROID && argtype != UUIDOID &&
		argtype != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("continuous aggregates do not support %s(DISTINCT) of %s", name,
						format_type_be(argtype)),
				 errdetail("The distinct values are kept as text, and equal values of %s "
						   "can have different text forms.", format_type_be(argtype)),
				 errhint("count(DISTINCT x) is supported on integers, text, varchar, uuid and boolean; "
						 "cast x to one of them.")));
}

/* (an entry for floats comes before the entry of the same name for others) */
static const EsAggKindRoutine kinds[] = {
	{"count", true, NULL, NULL, 0, false, NULL},
	{"count", false, distinct_check_type, NULL, 1, false, es_agg_count_distinct_parts,
	es_agg_count_distinct_combine, .distinct = true},
	{"sum", false, NULL, float_sum_state_type, 5, false, es_agg_float_sum_parts,
	es_agg_float_sum_combine, .floats = true},
	{"avg", false, NULL, float_sum_state_type, 5, false, es_agg_float_sum_parts,
	es_agg_float_sum_combine, .floats = true},
	{"count", false, NULL, NULL, 0, false, es_agg_count_parts, es_agg_count_combine},
	{"sum", false, sum_check_type, sum_state_type, 2, false, es_agg_sum_parts, es_agg_sum_combine},
	{"avg", false, sum_check_type, sum_state_type, 2, false, es_agg_sum_parts, es_agg_sum_combine},
	{"min", false, NULL, NULL, 3, true, es_agg_minmax_parts, es_agg_minmax_combine},
	{"max", false, NULL, NULL, 3, true, es_agg_minmax_parts, es_agg_minmax_combine},
	/* the hll extension's sketches: unions, which can take nothing out */
	{"hll_add_agg", false, NULL, NULL, 0, false, es_agg_hll_parts, es_agg_hll_combine,
	.extension = "hll", .insert_only = true},
	{"hll_union_agg", false, NULL, NULL, 0, false, es_agg_hll_parts, es_agg_hll_combine,
	.extension = "hll", .insert_only = true},
};

/*
 * es_agg_kind_lookup returns the kind of aggregate name of pg_catalog
 * (extension NULL) or of the named extension (star: called with *;
 * distinct: with DISTINCT) over argtype, or NULL if it is not one
 * continuous aggregates maintain
 */
const EsAggKindRoutine *
es_agg_kind_lookup(const char *name, const char *extension, bool star, bool distinct,
				   Oid argtype)
{
	int			i;

	for (i = 0; i < lengthof(kinds); i++)
	{
		if ((kinds[i].extension == NULL) != (extension == NULL) ||
			(extension != NULL && strcmp(kinds[i].extension, extension) != 0))
			continue;
		if (kinds[i].floats && !is_float(argtype))
			continue;
		if (kinds[i].distinct != distinct)
			continue;
		if (kinds[i].star == star && strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	}
	return NULL;
}
