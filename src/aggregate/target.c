/*-------------------------------------------------------------------------
 *
 * target.c
 *	  The continuous aggregates as a capture target: how the capture
 *	  worker feeds them (decoder/target.h describes the routine).
 *
 * The target's state holds the loaded aggregates (maintain.c), replaced
 * whenever decoding restarts with new definitions.
 *
 * src/aggregate/target.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "../common/catalog.h"
#include "../decoder/target.h"
#include "aggregate.h"

typedef struct AggTarget
{
	MemoryContext cxt;
	EsAggSet   *aggs;
} AggTarget;

static void *
agg_create(MemoryContext cxt)
{
	AggTarget  *t = MemoryContextAllocZero(cxt, sizeof(AggTarget));

	t->cxt = cxt;
	return t;
}

static void
agg_load(void *state)
{
	AggTarget  *t = state;

	if (t->aggs != NULL)
		es_aggs_free(t->aggs);
	t->aggs = NULL;
	t->aggs = es_aggs_load(t->cxt);
}

static const char *
agg_tables(void *state)
{
	return es_aggs_tables_option(((AggTarget *) state)->aggs);
}

static bool
agg_change(void *state, EsDecodingData *data, const EsEvent *ev)
{
	if (ev->kind > ES_EV_TRUNCATE)
		return false;			/* row operations only */
	return es_aggs_change(((AggTarget *) state)->aggs, ev);
}

static bool
agg_pending(void *state)
{
	return es_aggs_pending(((AggTarget *) state)->aggs);
}

/* aggregates write no events; a failing one is marked failed, not retried */
static int64
agg_apply(void *state, bool careful)
{
	es_aggs_apply(((AggTarget *) state)->aggs);
	return 0;
}

static void
agg_activate(List *ids)
{
	es_catalog_activate("aggregate_catalog", ids);
}

static void
agg_reset(void *state)
{
	AggTarget  *t = state;

	if (t->aggs != NULL)
		es_aggs_reset(t->aggs);
}

const EsTargetRoutine es_aggregate_target = {
	.name = "aggregates",
	.catalog = "aggregate_catalog",
	.create = agg_create,
	.load = agg_load,
	.tables = agg_tables,
	.change = agg_change,
	.pending = agg_pending,
	.prepare = NULL,
	.apply = agg_apply,
	.activate = agg_activate,
	.reset = agg_reset,
	.idle = NULL,
};
