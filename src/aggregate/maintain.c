/*-------------------------------------------------------------------------
 *
 * maintain.c
 *	  The worker's side of continuous aggregates: the changes of their
 *	  source tables, gathered per batch, applied as deltas in the batch's
 *	  apply transaction.
 *
 * The worker loads the aggregates with the stream definitions, and their
 * source tables join the "tables" option of its decoding context.  While
 * a batch is decoded, each source's new rows (inserts, updates) and old
 * rows (updates, deletes) go to two tuplestores, as the tuples decoding
 * hands over -- no JSON, no catalog lookups.  A TRUNCATE discards what
 * came before it and starts a segment that first empties the aggregate;
 * a change of the table's columns starts a segment too, so the tuples of
 * one segment share one descriptor.
 *
 * An aggregate is loaded only once active: the apply transaction that moves
 * the origin past the commit that created it marks it so (the worker's hub
 * calls the target's activate).  A worker that
 * restarts behind that commit therefore never applies earlier changes --
 * already counted by the creation -- to it.
 *
 * In the apply transaction, which also moves the worker's replication
 * origin, each aggregate with changes:
 *	  1. locks its catalog row (FOR SHARE) and skips a dropped or failed one;
 *	  2. runs, as the aggregate's owner (security-restricted, search_path
 *		 pinned, under eventstream.user_code_timeout), its delta statement over the two
 *		 tuplestores (ephemeral named relations es_new and es_old), an
 *		 INSERT ... ON CONFLICT of per-group deltas;
 *	  3. deletes the groups that reached zero rows and recomputes from the
 *		 source the min and max of the groups whose extreme was deleted.
 *	  4. at most once a second, deletes the buckets older than the widest
 *		 of its windows that drop them (window.c).
 * An error in one aggregate -- a timeout included -- rolls back its
 * subtransaction only and marks it failed; the streams and other
 * aggregates go on.  Updates or deletes
 * that arrive without the old row (REPLICA IDENTITY no longer FULL) mark
 * the aggregate stale; refresh_aggregate mends both.
 *
 * src/aggregate/maintain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/itemptr.h"
#include "storage/lmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "../common/as_owner.h"
#include "../common/catalog.h"
#include "../common/version.h"
#include "../pg_eventstream.h"
#include "aggregate.h"

typedef struct EsAggDef
{
	int32		id;
	Oid			source;
	Oid			owner;
	bool		grouped;
	char	   *mat_sql;
	char	   *delta_sql;
	char	   *recompute_sql[2];	/* a group with a NULL key, one without */
	char	   *empty_sql;
	ArrayType  *settings;		/* date/time settings pinned at creation, or NULL */
	char	   *retain_sql;		/* deletes the buckets its windows no longer read */
	TimestampTz retained_at;
} EsAggDef;

/* tuples of one source that share a descriptor */
typedef struct EsAggSegment
{
	TupleDesc	desc;
	TupleDesc	decoded_desc;	/* the decoder's, to compare by address */
	Tuplestorestate *ins;
	Tuplestorestate *del;
	bool		truncate_first;
} EsAggSegment;

typedef struct EsAggSource
{
	Oid			relid;			/* hash key */
	List	   *segments;
	bool		missing_old;	/* an update or delete came without its old row */
	TransactionId *xids;		/* the transactions of the batch's changes */
	int			nxids;
	int			maxxids;
} EsAggSource;

struct EsAggSet
{
	MemoryContext cxt;
	MemoryContext batch_cxt;	/* segments and tuplestores of the batch */
	int			ndefs;
	EsAggDef   *defs;
	HTAB	   *sources;
	char	   *tables_option;
	bool		pending;
};

/*
 * es_aggs_load reads the aggregate catalog (a transaction and a snapshot
 * needed); the extension may be older than aggregates, or gone.
 */
EsAggSet *
es_aggs_load(MemoryContext parent)
{
	EsAggSet   *set;
	MemoryContext oldcxt;
	StringInfoData tables;
	HASHCTL		hctl;
	uint64		i;

	set = MemoryContextAllocZero(parent, sizeof(EsAggSet));
	set->cxt = AllocSetContextCreate(parent, "pg_eventstream aggregates",
									 ALLOCSET_SMALL_SIZES);
	set->batch_cxt = AllocSetContextCreate(set->cxt, "pg_eventstream aggregate changes",
										   ALLOCSET_DEFAULT_SIZES);
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(Oid);
	hctl.entrysize = sizeof(EsAggSource);
	hctl.hcxt = set->cxt;
	set->sources = hash_create("pg_eventstream aggregate sources", 16, &hctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* (a catalog of 0.1.0 has no settings, one before 0.3.0 no windows) */
	if (SPI_execute(psprintf("SELECT a.id, a.source_relid, a.owner, a.grouped, a.mat_relid::regclass::text, "
							 "  a.delta_sql, a.recompute_sql, a.empty_sql, n.nspname, c.relname, "
							 "  a.recompute_keyed_sql, %s, %s "
							 "FROM " ES_SCHEMA ".aggregate_catalog a "
							 "JOIN pg_catalog.pg_class c ON c.oid = a.source_relid "
							 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
							 "WHERE a.active ORDER BY a.id",
							 es_catalog_has_column("aggregate_catalog", "settings")
							 ? "a.settings" : "NULL::text[]",
							 es_catalog_at_least("0.3.0")
							 ? "(SELECT pg_catalog.format('DELETE FROM %s WHERE %I < pg_catalog.now() - %L::interval', "
							 "    a.mat_relid, pg_catalog.min(w.bucket_column), pg_catalog.max(w.width)) "
							 "  FROM " ES_SCHEMA ".window_catalog w "
							 "  WHERE w.aggregate_id = a.id AND w.drop_older HAVING pg_catalog.count(*) > 0)"
							 : "NULL::text"),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the aggregate catalog");

	oldcxt = MemoryContextSwitchTo(set->cxt);
	initStringInfo(&tables);
	set->ndefs = (int) SPI_processed;
	set->defs = palloc0(sizeof(EsAggDef) * Max(set->ndefs, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		EsAggDef   *def = &set->defs[i];
		EsAggSource *src;
		bool		isnull;
		bool		found;

		def->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		def->source = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		def->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		def->grouped = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		def->mat_sql = SPI_getvalue(tup, desc, 5);
		def->delta_sql = SPI_getvalue(tup, desc, 6);
		def->recompute_sql[0] = SPI_getvalue(tup, desc, 7);
		def->recompute_sql[1] = SPI_getvalue(tup, desc, 11);
		def->empty_sql = SPI_getvalue(tup, desc, 8);
		{
			Datum		d = SPI_getbinval(tup, desc, 12, &isnull);

			def->settings = isnull ? NULL : DatumGetArrayTypePCopy(d);
		}
		def->retain_sql = SPI_getvalue(tup, desc, 13);
		def->retained_at = 0;
		src = hash_search(set->sources, &def->source, HASH_ENTER, &found);
		if (!found)
		{
			src->segments = NIL;
			src->missing_old = false;
			src->xids = NULL;
			src->nxids = src->maxxids = 0;
			if (tables.len > 0)
				appendStringInfoChar(&tables, ',');
			es_append_pattern_escaped(&tables, SPI_getvalue(tup, desc, 9));
			appendStringInfoChar(&tables, '.');
			es_append_pattern_escaped(&tables, SPI_getvalue(tup, desc, 10));
		}
	}
	set->tables_option = tables.data;
	MemoryContextSwitchTo(oldcxt);
	SPI_finish();
	es_aggs_reset(set);
	return set;
}

void
es_aggs_free(EsAggSet *set)
{
	es_aggs_reset(set);
	MemoryContextDelete(set->cxt);
	pfree(set);
}

/* the source tables, in the syntax of the "tables" option ("" if none) */
const char *
es_aggs_tables_option(EsAggSet *set)
{
	return set->tables_option;
}

/* forget a source's segments, closing their tuplestores (and files) */
static void
end_segments(EsAggSource *src)
{
	ListCell   *lc;

	foreach(lc, src->segments)
	{
		EsAggSegment *seg = lfirst(lc);

		tuplestore_end(seg->ins);
		tuplestore_end(seg->del);
	}
	src->segments = NIL;
}

/* a new segment of a source's changes */
static EsAggSegment *
new_segment(EsAggSet *set, EsAggSource *src, TupleDesc desc)
{
	EsAggSegment *seg = palloc0(sizeof(EsAggSegment));

	seg->desc = CreateTupleDescCopy(desc);
	seg->decoded_desc = desc;
	/* interXact: decoding runs each transaction in one of its own */
	seg->ins = tuplestore_begin_heap(false, true, work_mem);
	seg->del = tuplestore_begin_heap(false, true, work_mem);
	src->segments = lappend(src->segments, seg);
	set->pending = true;
	return seg;
}

/* the segment that takes a tuple of this descriptor */
static EsAggSegment *
current_segment(EsAggSet *set, EsAggSource *src, TupleDesc desc)
{
	EsAggSegment *seg = src->segments ? llast(src->segments) : NULL;

	if (seg != NULL && (seg->decoded_desc == desc || equalTupleDescs(seg->desc, desc)))
	{
		seg->decoded_desc = desc;
		return seg;
	}
	return new_segment(set, src, desc);
}

/* a new row whose unchanged TOAST values are taken from the old row */
static HeapTuple
with_old_toast(TupleDesc desc, HeapTuple newtup, HeapTuple oldtup)
{
	Datum	   *nv = palloc(sizeof(Datum) * desc->natts);
	bool	   *nn = palloc(sizeof(bool) * desc->natts);
	Datum	   *ov = palloc(sizeof(Datum) * desc->natts);
	bool	   *on = palloc(sizeof(bool) * desc->natts);
	int			i;

	heap_deform_tuple(newtup, desc, nv, nn);
	heap_deform_tuple(oldtup, desc, ov, on);
	for (i = 0; i < desc->natts; i++)
	{
		if (!nn[i] && TupleDescAttr(desc, i)->attlen == -1 &&
			VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(nv[i])))
		{
			nv[i] = ov[i];
			nn[i] = on[i];
		}
	}
	return heap_form_tuple(desc, nv, nn);
}

/*
 * es_aggs_change takes a decoded row change of a source table; false if
 * no aggregate reads that table.
 */
bool
es_aggs_change(EsAggSet *set, const EsEvent *ev)
{
	EsAggSource *src;
	EsAggSegment *seg;
	MemoryContext oldcxt;
	TupleDesc	desc = ev->rel->desc;

	if (set->ndefs == 0)
		return false;
	src = hash_search(set->sources, &ev->rel->report_relid, HASH_FIND, NULL);
	if (src == NULL)
		return false;

	oldcxt = MemoryContextSwitchTo(set->batch_cxt);
	if (src->nxids == 0 || src->xids[src->nxids - 1] != ev->xid)
	{
		if (src->nxids == src->maxxids)
		{
			src->maxxids = Max(16, src->maxxids * 2);
			src->xids = src->xids ? repalloc(src->xids, sizeof(TransactionId) * src->maxxids)
				: palloc(sizeof(TransactionId) * src->maxxids);
		}
		src->xids[src->nxids++] = ev->xid;
	}
	switch (ev->kind)
	{
		case ES_EV_TRUNCATE:
			/* what came before is emptied anyway */
			end_segments(src);
			seg = new_segment(set, src, desc);
			seg->truncate_first = true;
			break;
		case ES_EV_INSERT:
			seg = current_segment(set, src, desc);
			tuplestore_puttuple(seg->ins, ev->newtuple);
			break;
		case ES_EV_UPDATE:
		case ES_EV_DELETE:
			if (ev->oldtuple == NULL || ev->rel->identity != REPLICA_IDENTITY_FULL)
			{
				src->missing_old = true;
				set->pending = true;
				break;
			}
			seg = current_segment(set, src, desc);
			tuplestore_puttuple(seg->del, ev->oldtuple);
			if (ev->kind == ES_EV_UPDATE)
			{
				HeapTuple	newtup = ev->newtuple;

				if (HeapTupleHasExternal(newtup))
					newtup = with_old_toast(desc, newtup, ev->oldtuple);
				tuplestore_puttuple(seg->ins, newtup);
			}
			break;
		default:
			break;
	}
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/* does the batch hold changes for an aggregate? */
bool
es_aggs_pending(EsAggSet *set)
{
	return set != NULL && set->pending;
}

/* es_aggs_reset forgets the batch's changes */
void
es_aggs_reset(EsAggSet *set)
{
	HASH_SEQ_STATUS seq;
	EsAggSource *src;

	hash_seq_init(&seq, set->sources);
	while ((src = hash_seq_search(&seq)) != NULL)
	{
		end_segments(src);
		src->missing_old = false;
		src->xids = NULL;
		src->nxids = src->maxxids = 0;
	}
	MemoryContextReset(set->batch_cxt);
	set->pending = false;
}

/* set an aggregate's state; as the worker, SPI connected */
static void
set_state(int32 id, const char *state, const char *error)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3] = {Int32GetDatum(id), CStringGetTextDatum(state),
	CStringGetTextDatum(error)};

	if (SPI_execute_with_args("UPDATE " ES_SCHEMA ".aggregate_catalog SET state = $2, error = $3 "
							  "WHERE id = $1 AND state IS DISTINCT FROM 'failed'",
							  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the aggregate catalog");
}

/* lock the catalog row; the aggregate's state, or NULL if it is gone */
static char *
lock_aggregate(int32 id)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(id)};

	if (SPI_execute_with_args("SELECT state FROM " ES_SCHEMA ".aggregate_catalog "
							  "WHERE id = $1 FOR SHARE",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the aggregate catalog");
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static void
register_store(const char *name, EsAggSegment *seg, Tuplestorestate *store)
{
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));

	enr->md.name = (char *) name;
	enr->md.reliddesc = InvalidOid;
	enr->md.tupdesc = seg->desc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(store);
	enr->reldata = store;
	if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
		elog(ERROR, "could not register the changes of an aggregate's table");
}

/*
 * Reading the source needs the batch's transactions visible.  Decoding
 * reads a commit record as soon as it is flushed, which is a moment before
 * the committing backend leaves the proc array: a snapshot taken then would
 * miss a change the batch has just applied, and a min or max read again
 * would keep a deleted extreme for good.  Each transaction's lock goes only
 * after it has become visible, so wait on those.
 */
static void
wait_visible(EsAggSource *src)
{
	int			i;

	for (i = 0; i < src->nxids; i++)
		if (TransactionIdIsValid(src->xids[i]))
			XactLockTableWait(src->xids[i], NULL, NULL, XLTW_None);
	/* a snapshot taken from now on sees them */
}

/* one segment's deltas, then the groups they emptied or left without an extreme */
static void
apply_segment(EsAggDef *def, EsAggSource *src, EsAggSegment *seg)
{
	int64		n;
	ItemPointerData *tids;
	int64	   *counts;
	bool	   *dirty;
	bool	   *keyed;
	int64		i;
	SPIPlanPtr	delete_plan = NULL;
	SPIPlanPtr	recompute_plan[2] = {NULL, NULL};
	Oid			tidtype[1] = {TIDOID};

	if (seg->truncate_first)
	{
		if (SPI_execute(psprintf("DELETE FROM %s", def->mat_sql), false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not empty the aggregate");
		if (def->empty_sql && SPI_execute(def->empty_sql, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not reset the aggregate");
	}
	if (tuplestore_tuple_count(seg->ins) == 0 && tuplestore_tuple_count(seg->del) == 0)
		return;

	register_store("es_new", seg, seg->ins);
	register_store("es_old", seg, seg->del);
	if (SPI_execute(def->delta_sql, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not apply the changes to the aggregate");
	SPI_unregister_relation("es_new");
	SPI_unregister_relation("es_old");

	n = (int64) SPI_processed;
	tids = palloc(sizeof(ItemPointerData) * Max(n, 1));
	counts = palloc(sizeof(int64) * Max(n, 1));
	dirty = palloc(sizeof(bool) * Max(n, 1));
	keyed = palloc(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		tids[i] = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		counts[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		dirty[i] = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
		keyed[i] = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 4, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	for (i = 0; i < n; i++)
	{
		Datum		arg[1] = {PointerGetDatum(&tids[i])};

		if (counts[i] == 0 && def->grouped)
		{
			/* the group is empty: gone, until a row comes back */
			if (delete_plan == NULL)
				delete_plan = SPI_prepare(psprintf("DELETE FROM %s WHERE ctid = $1", def->mat_sql),
										  1, tidtype);
			if (SPI_execute_plan(delete_plan, arg, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "could not delete an empty group");
		}
		else if (dirty[i])
		{
			int			which = keyed[i] ? 1 : 0;

			if (recompute_plan[0] == NULL && recompute_plan[1] == NULL)
				wait_visible(src);
			if (recompute_plan[which] == NULL)
				recompute_plan[which] = SPI_prepare(def->recompute_sql[which], 1, tidtype);
			if (SPI_execute_plan(recompute_plan[which], arg, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not recompute a group's min or max");
		}
	}
	if (delete_plan)
		SPI_freeplan(delete_plan);
	for (i = 0; i < 2; i++)
		if (recompute_plan[i])
			SPI_freeplan(recompute_plan[i]);
}

/* one aggregate's changes (run as its owner by es_try_as_owner) */
typedef struct AggWork
{
	EsAggDef   *def;
	EsAggSource *src;
} AggWork;

static void
apply_aggregate_work(void *arg)
{
	AggWork    *w = arg;
	ListCell   *lc;

	es_pin_settings(w->def->settings);
	foreach(lc, w->src->segments)
		apply_segment(w->def, w->src, lfirst(lc));
	/* at most once a second: buckets older than its windows read */
	if (w->def->retain_sql != NULL &&
		TimestampDifferenceExceeds(w->def->retained_at, GetCurrentTimestamp(), 1000))
	{
		if (SPI_execute(w->def->retain_sql, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not drop the old buckets of %s", w->def->mat_sql);
		w->def->retained_at = GetCurrentTimestamp();
	}
}

/* one aggregate's changes, in a subtransaction: an error marks it failed */
static void
apply_aggregate(EsAggDef *def, EsAggSource *src)
{
	AggWork		w = {def, src};
	ErrorData  *edata = es_try_as_owner(def->owner, es_user_code_timeout_ms,
										apply_aggregate_work, &w);

	if (edata == NULL)
		return;
	(void) SPI_unregister_relation("es_new");
	(void) SPI_unregister_relation("es_old");
	ereport(WARNING,
			(errmsg("pg_eventstream aggregate %s failed: %s", def->mat_sql, edata->message),
			 edata->sqlerrcode == ERRCODE_QUERY_CANCELED ?
			 errhint("It ran past eventstream.user_code_timeout: add an index on the grouping expressions (or raise the setting), then call eventstream.refresh_aggregate().") :
			 errhint("Fix the cause, then call eventstream.refresh_aggregate().")));
	set_state(def->id, "failed", edata->message);
	FreeErrorData(edata);
}

/*
 * es_aggs_apply applies the batch's changes to every aggregate, in the
 * apply transaction (a snapshot is active).
 */
void
es_aggs_apply(EsAggSet *set)
{
	int			i;

	if (!es_aggs_pending(set))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (i = 0; i < set->ndefs; i++)
	{
		EsAggDef   *def = &set->defs[i];
		EsAggSource *src = hash_search(set->sources, &def->source, HASH_FIND, NULL);
		char	   *state;

		if (src == NULL || (src->segments == NIL && !src->missing_old))
			continue;
		state = lock_aggregate(def->id);
		if (state == NULL || strcmp(state, "failed") == 0)
			continue;			/* dropped, or waiting for a refresh */
		if (src->missing_old && strcmp(state, "stale") != 0)
			set_state(def->id, "stale",
					  "an update or delete arrived without the old row: the table's REPLICA IDENTITY is not FULL");
		apply_aggregate(def, src);
	}
	SPI_finish();
}
