/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Write a batch of decoded events into the streams' log segments.
 *
 * Runs in the worker's apply transaction, which the caller opens and
 * commits together with the replication origin's progress; so a batch is
 * in the log exactly once.  Order of work:
 *	  1. lock eventstream.event_log (ROW EXCLUSIVE), so drop_stream (ACCESS
 *		 EXCLUSIVE) waits for the batch or the batch sees the stream gone,
 *		 and read each stream's last id from the log;
 *	  2. for each buffered event, in decoding order (commit order, then
 *		 change order), every matching stream gets the next id of its own,
 *		 in the segment holding that id -- created beforehand, in a
 *		 transaction of its own, by es_prepare_segments, so that the apply
 *		 transaction does no DDL;
 *	  3. a NOTIFY on channel "eventstream" with the stream's name is
 *		 queued; it is sent when the transaction commits, by the worker only.
 * An event's parts arrive as jsonb, built from the decoded values, or as
 * JSON text (tables with json columns, huge rows: decoder/row.c), parsed
 * here.  Some values of type json cannot be jsonb (a "\u0000", a number past
 * numeric's range); rather than let one such row stop capture for every
 * stream, the worker, when a batch fails, applies it again "carefully":
 * each event's parsing in a subtransaction of its own, an event that
 * fails becoming an "error" event -- same place, no key, new =
 * {"op": .., "error": .., "sqlstate": ..} -- with a WARNING naming it.
 * The worker never updates a row: the log and its catalog are written
 * insert-only, the last id being the log's own max(id).
 * Rows go straight into the segment through the table AM and its indexes,
 * buffered per stream and written by table_multi_insert as COPY does, with
 * a per-event memory context reset after each one.
 *
 * src/stream/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/xid8.h"

#include "../common/json_write.h"
#include "../common/try.h"
#include "../pg_eventstream.h"
#include "stream.h"

/* columns of eventstream.event_log */
enum
{
	LOG_STREAM_ID,
	LOG_ID,
	LOG_OP,
	LOG_SCHEMA,
	LOG_TABLE,
	LOG_RELID,
	LOG_KEY,
	LOG_OLD,
	LOG_NEW,
	LOG_LSN,
	LOG_COMMIT_LSN,
	LOG_XID,
	LOG_COMMIT_TIME,
	LOG_SEQ,
	LOG_NCOLS
};

/* a stream while a batch is applied */
typedef struct ApplyStream
{
	bool		exists;			/* still in the catalog */
	int64		last_id;
	int64		added;
	int64		segno;			/* of the open segment */
	Relation	seg;			/* open segment, or NULL */
	ResultRelInfo *rri;
	EState	   *estate;
	/* rows waiting for one multi-insert into the open segment */
	TupleTableSlot **slots;		/* ES_INSERT_ROWS, made as needed */
	int			nslots;			/* made */
	int			nbuffered;		/* holding a row */
	Size		buffered_bytes;
} ApplyStream;

/*
 * Rows go into a segment by table_multi_insert, like COPY's: at most this
 * many rows or bytes at a time (fewer WAL records, one buffer lookup per
 * page instead of per row)
 */
#define ES_INSERT_ROWS		1000
#define ES_INSERT_BYTES		(64 * 1024)

/* the index of the stream with this id, or -1 */
static int
stream_index(EsStreamSet *set, int32 id)
{
	int			i;

	for (i = 0; i < set->nstreams; i++)
		if (set->streams[i].id == id)
			return i;
	return -1;
}

/*
 * Which streams still exist, and the last id of each, read from the log
 * itself: the log is insert-only and the last id is whatever the last
 * committed batch wrote, so it can never disagree with the log.  Each
 * stream's newest segments tell it (es_stream_last_id); when they cannot,
 * as at the first batch, a query over the whole log does, once for all.
 */
static void
load_stream_states(EsStreamSet *set, ApplyStream *states)
{
	static SPIPlanPtr last_plan = NULL;
	bool	   *exists = palloc(sizeof(bool) * Max(set->nstreams, 1));
	bool		ask_log = false;
	uint64		i;
	int			j;

	es_streams_existing(set, exists);
	for (j = 0; j < set->nstreams; j++)
		states[j].exists = exists[j];
	pfree(exists);
	for (j = 0; j < set->nstreams; j++)
	{
		EsStreamDef *def = &set->streams[j];

		if (!states[j].exists)
			continue;
		states[j].last_id = es_stream_last_id(def->id, &def->last_segno);
		if (states[j].last_id < 0)
			ask_log = true;
	}
	if (!ask_log)
		return;

	if (last_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT c.id, coalesce((SELECT max(l.id) FROM " ES_SCHEMA ".event_log l "
									"WHERE l.stream_id = c.id), 0) FROM " ES_SCHEMA ".stream_catalog c",
									0, NULL);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not plan reading the stream catalog");
		last_plan = p;
	}
	if (SPI_execute_plan(last_plan, NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the log");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			idx = stream_index(set, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
																		  SPI_tuptable->tupdesc, 1, &isnull)));
		int64		last;

		if (idx < 0 || !states[idx].exists)
			continue;
		last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		states[idx].last_id = last;
		set->streams[idx].last_segno = last > 0 ? (last - 1) / set->streams[idx].segment_size : 0;
	}
}

/* write the rows buffered for the open segment, then their index entries */
static void
flush_segment(ApplyStream *st)
{
	int			i;

	if (st->nbuffered == 0)
		return;
	table_multi_insert(st->seg, st->slots, st->nbuffered,
					   GetCurrentCommandId(true), 0, NULL);
	for (i = 0; i < st->nbuffered; i++)
	{
		if (st->rri->ri_NumIndices > 0)
			ExecInsertIndexTuples(st->rri, st->slots[i], st->estate, false,
								  false, NULL, NIL);
		ExecClearTuple(st->slots[i]);
		ResetPerTupleExprContext(st->estate);
	}
	st->nbuffered = 0;
	st->buffered_bytes = 0;
}

/* write the buffered rows and close the open segment */
static void
close_segment(ApplyStream *st)
{
	int			i;

	if (st->seg == NULL)
		return;
	flush_segment(st);
	for (i = 0; i < st->nslots; i++)
		ExecDropSingleTupleTableSlot(st->slots[i]);
	pfree(st->slots);
	st->nslots = 0;
	ExecCloseIndices(st->rri);
	table_close(st->seg, NoLock);
	st->seg = NULL;
}

/* open the segment of def that holds id */
static void
open_segment(EsStreamDef *def, ApplyStream *st, int64 id)
{
	int64		segno = (id - 1) / def->segment_size;
	Oid			relid;

	if (st->seg != NULL && st->segno == segno)
		return;
	close_segment(st);

	relid = es_segment_relid(def->id, segno);
	if (!OidIsValid(relid))
		elog(ERROR, "segment " INT64_FORMAT " of stream %d was not prepared", segno, def->id);
	st->seg = table_open(relid, RowExclusiveLock);
	st->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(st->rri, st->seg, 0, NULL, 0);
	ExecOpenIndices(st->rri, false);
	st->slots = palloc(sizeof(TupleTableSlot *) * ES_INSERT_ROWS);
	st->nslots = 0;
	st->nbuffered = 0;
	st->buffered_bytes = 0;
	st->segno = segno;
}

/*
 * Add a log row to the open segment's buffer (copied into the slot's own
 * memory), writing the buffer when full
 */
static void
buffer_row(ApplyStream *st, Datum *values, bool *nulls, MemoryContext cxt)
{
	TupleTableSlot *slot;
	int			i;

	if (st->nbuffered == st->nslots)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		st->slots[st->nslots++] =
			MakeSingleTupleTableSlot(RelationGetDescr(st->seg),
									 table_slot_callbacks(st->seg));
		MemoryContextSwitchTo(oldcxt);
	}
	slot = st->slots[st->nbuffered++];
	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * LOG_NCOLS);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * LOG_NCOLS);
	ExecStoreVirtualTuple(slot);
	ExecMaterializeSlot(slot);

	st->buffered_bytes += 128;
	for (i = LOG_KEY; i <= LOG_NEW; i++)
		if (!nulls[i])
			st->buffered_bytes += VARSIZE_ANY(DatumGetPointer(values[i]));
	if (st->nbuffered == ES_INSERT_ROWS || st->buffered_bytes >= ES_INSERT_BYTES)
		flush_segment(st);
}

/* a buffered part as jsonb (built at decoding, or parsed here), or NULL */
static Datum
buffered_jsonb(TupleTableSlot *bslot, int col, bool *isnull)
{
	Datum		d = slot_getattr(bslot, col + 1, isnull);
	bool		jsonb_null;

	if (*isnull)
		return (Datum) 0;
	if (DatumGetBool(slot_getattr(bslot, ES_BUF_JSONB + 1, &jsonb_null)))
		return d;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(d)));
}

/* key, old and new of a table's event as jsonb (in careful mode run by es_try) */
typedef struct PartsWork
{
	TupleTableSlot *bslot;
	Datum	   *values;
	bool	   *nulls;
} PartsWork;

static void
parts_work(void *arg)
{
	PartsWork  *w = arg;

	w->values[LOG_KEY] = buffered_jsonb(w->bslot, ES_BUF_KEY, &w->nulls[LOG_KEY]);
	w->values[LOG_OLD] = buffered_jsonb(w->bslot, ES_BUF_OLD, &w->nulls[LOG_OLD]);
	w->values[LOG_NEW] = buffered_jsonb(w->bslot, ES_BUF_NEW, &w->nulls[LOG_NEW]);
}

/*
 * Carefully, in a subtransaction: key, old and new of a table's event as
 * jsonb; if one cannot be, the event becomes an error event.
 */
static void
careful_parts(PartsWork *w, int *kind)
{
	ErrorData  *edata = es_try(parts_work, w);
	TupleTableSlot *bslot = w->bslot;
	StringInfoData err;
	bool		isnull;

	if (edata == NULL)
		return;
	ereport(WARNING,
			(errmsg("pg_eventstream could not store a change of table %s.%s at %X/%X: %s",
					TextDatumGetCString(slot_getattr(bslot, ES_BUF_SCHEMA + 1, &isnull)),
					TextDatumGetCString(slot_getattr(bslot, ES_BUF_TABLE + 1, &isnull)),
					LSN_FORMAT_ARGS((XLogRecPtr) DatumGetInt64(slot_getattr(bslot, ES_BUF_LSN + 1, &isnull))),
					edata->message),
			 errdetail("It is in the stream as an \"error\" event; capture goes on.")));
	initStringInfo(&err);
	appendStringInfoString(&err, "{\"op\":");
	es_json_cstring(&err, es_event_op(*kind));
	appendStringInfoString(&err, ",\"error\":");
	es_json_cstring(&err, edata->message);
	appendStringInfoString(&err, ",\"sqlstate\":");
	es_json_cstring(&err, unpack_sql_state(edata->sqlerrcode));
	appendStringInfoChar(&err, '}');
	FreeErrorData(edata);

	w->nulls[LOG_KEY] = true;
	w->nulls[LOG_OLD] = true;
	w->nulls[LOG_NEW] = false;
	w->values[LOG_NEW] = DirectFunctionCall1(jsonb_in, CStringGetDatum(err.data));
	*kind = ES_EV_ERROR;
}

/* the stream an emit() message {"stream":..,"key":..,"payload":..} names */
static char *
message_stream(Datum content)
{
	Jsonb	   *jb = DatumGetJsonbP(content);
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, "stream", 6, NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* the key and payload of an emit() message */
static void
message_parts(Datum content, Datum *key, bool *key_null, Datum *payload,
			  bool *payload_null)
{
	Jsonb	   *jb = DatumGetJsonbP(content);
	JsonbValue *v;

	v = getKeyJsonValueFromContainer(&jb->root, "key", 3, NULL);
	*key_null = v == NULL || v->type == jbvNull;
	if (!*key_null)
		*key = JsonbPGetDatum(JsonbValueToJsonb(v));
	v = getKeyJsonValueFromContainer(&jb->root, "payload", 7, NULL);
	*payload_null = v == NULL;
	if (v != NULL)
		*payload = JsonbPGetDatum(JsonbValueToJsonb(v));
}

/*
 * The streams an event of the batch goes to, as indexes into set; for a
 * message also its content as jsonb.
 */
static Bitmapset *
event_targets(EsStreamSet *set, TupleTableSlot *bslot, int kind, Datum *content)
{
	bool		isnull;
	int			idx;

	if (kind == ES_EV_SNAPSHOT)
	{
		/* a backfilled row: for its own stream only */
		idx = stream_index(set, DatumGetInt32(slot_getattr(bslot, ES_BUF_STREAM + 1, &isnull)));
	}
	else if (kind == ES_EV_MESSAGE)
	{
		char	   *stream;

		*content = buffered_jsonb(bslot, ES_BUF_NEW, &isnull);
		stream = message_stream(*content);
		idx = stream ? es_streams_find(set, stream) : -1;
	}
	else
		return es_streams_matching(set,
								   DatumGetObjectId(slot_getattr(bslot, ES_BUF_RELID + 1, &isnull)),
								   TextDatumGetCString(slot_getattr(bslot, ES_BUF_SCHEMA + 1, &isnull)),
								   TextDatumGetCString(slot_getattr(bslot, ES_BUF_TABLE + 1, &isnull)),
								   (EsEventKind) kind);
	return idx >= 0 ? bms_make_singleton(idx) : NULL;
}

/*
 * Do the segments exist for nevents more events in every stream?  No
 * stream takes more events than the batch holds, so then nothing needs
 * counting or making -- the case of all batches that do not reach the end
 * of a segment.
 */
static bool
segments_ready(EsStreamSet *set, ApplyStream *states, int64 nevents)
{
	int			i;

	for (i = 0; i < set->nstreams; i++)
	{
		EsStreamDef *def = &set->streams[i];
		int64		segno;

		if (!states[i].exists)
			continue;
		for (segno = states[i].last_id / def->segment_size;
			 segno <= (states[i].last_id + nevents - 1) / def->segment_size;
			 segno++)
		{
			if (!OidIsValid(es_segment_relid(def->id, segno)))
				return false;
		}
	}
	return true;
}

/*
 * es_prepare_segments creates, in the caller's transaction, every segment
 * the batch will fill, so that the apply transaction does no DDL: unless
 * the segments exist for as many events as the batch holds in every
 * stream, a first pass over the batch counts each stream's events.
 */
void
es_prepare_segments(EsBatch *batch, EsStreamSet *set)
{
	ApplyStream *states;
	int64	   *counts;
	TupleTableSlot *bslot;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	int			i;

	if (batch->nevents == 0 || set->nstreams == 0)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	states = palloc0(sizeof(ApplyStream) * set->nstreams);
	counts = palloc0(sizeof(int64) * set->nstreams);
	load_stream_states(set, states);
	if (segments_ready(set, states, batch->nevents))
	{
		SPI_finish();
		return;
	}

	bslot = MakeSingleTupleTableSlot(batch->desc, &TTSOpsMinimalTuple);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_eventstream count row",
								   ALLOCSET_DEFAULT_SIZES);
	while (tuplestore_gettupleslot(batch->store, true, false, bslot))
	{
		bool		isnull;
		Datum		content;
		Bitmapset  *targets;
		int			idx = -1;

		CHECK_FOR_INTERRUPTS();
		oldcxt = MemoryContextSwitchTo(rowcxt);
		targets = event_targets(set, bslot,
								DatumGetInt32(slot_getattr(bslot, ES_BUF_KIND + 1, &isnull)),
								&content);
		while ((idx = bms_next_member(targets, idx)) >= 0)
			counts[idx]++;
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}
	tuplestore_rescan(batch->store);
	ExecDropSingleTupleTableSlot(bslot);
	MemoryContextDelete(rowcxt);

	for (i = 0; i < set->nstreams; i++)
	{
		EsStreamDef *def = &set->streams[i];
		int64		segno;

		if (!states[i].exists || counts[i] == 0)
			continue;
		for (segno = states[i].last_id / def->segment_size;
			 segno <= (states[i].last_id + counts[i] - 1) / def->segment_size;
			 segno++)
			(void) es_segment_create(def->id, segno, def->segment_size);
	}
	SPI_finish();
}

/*
 * The log row of a buffered event, but for its stream and id.  careful:
 * parts that cannot be stored make it an error event (kind changes).
 */
static void
fill_log_row(TupleTableSlot *bslot, int *kind, Datum content, bool careful,
			 Datum *values, bool *nulls)
{
	bool		isnull;

	if (*kind == ES_EV_MESSAGE)
	{
		message_parts(content, &values[LOG_KEY], &nulls[LOG_KEY],
					  &values[LOG_NEW], &nulls[LOG_NEW]);
		nulls[LOG_SCHEMA] = nulls[LOG_TABLE] = nulls[LOG_RELID] = true;
		nulls[LOG_OLD] = true;
	}
	else
	{
		PartsWork	parts = {bslot, values, nulls};

		values[LOG_SCHEMA] = slot_getattr(bslot, ES_BUF_SCHEMA + 1, &isnull);
		values[LOG_TABLE] = slot_getattr(bslot, ES_BUF_TABLE + 1, &isnull);
		values[LOG_RELID] = slot_getattr(bslot, ES_BUF_RELID + 1, &isnull);
		if (careful)
			careful_parts(&parts, kind);
		else
			parts_work(&parts);
	}

	values[LOG_OP] = CStringGetTextDatum(es_event_op(*kind));
	values[LOG_LSN] = LSNGetDatum((XLogRecPtr) DatumGetInt64(slot_getattr(bslot, ES_BUF_LSN + 1, &isnull)));
	values[LOG_COMMIT_LSN] = LSNGetDatum((XLogRecPtr) DatumGetInt64(slot_getattr(bslot, ES_BUF_COMMIT_LSN + 1, &isnull)));
	values[LOG_XID] = FullTransactionIdGetDatum(FullTransactionIdFromU64((uint64) DatumGetInt64(slot_getattr(bslot, ES_BUF_XID + 1, &isnull))));
	nulls[LOG_XID] = *kind == ES_EV_SNAPSHOT;	/* read, not committed */
	values[LOG_COMMIT_TIME] = slot_getattr(bslot, ES_BUF_COMMIT_TIME + 1, &isnull);
	values[LOG_SEQ] = slot_getattr(bslot, ES_BUF_SEQ + 1, &isnull);
}

/*
 * Append a log row to each target stream that still exists, under the
 * stream's next id; returns the events written.  Segments are opened in
 * cxt, the batch's; the row lives in rowcxt.
 */
static int64
append_event(EsStreamSet *set, ApplyStream *states, Bitmapset *targets,
			 Datum *values, bool *nulls, MemoryContext cxt, MemoryContext rowcxt)
{
	int64		written = 0;
	int			idx = -1;

	while ((idx = bms_next_member(targets, idx)) >= 0)
	{
		EsStreamDef *def = &set->streams[idx];
		ApplyStream *st = &states[idx];

		if (!st->exists)
			continue;			/* dropped since it was decoded */
		st->last_id++;
		st->added++;
		written++;

		MemoryContextSwitchTo(cxt);
		open_segment(def, st, st->last_id);
		MemoryContextSwitchTo(rowcxt);

		values[LOG_STREAM_ID] = Int32GetDatum(def->id);
		values[LOG_ID] = Int64GetDatum(st->last_id);
		buffer_row(st, values, nulls, cxt);
	}
	return written;
}

/*
 * es_apply_batch writes the batch into the log; the caller holds a
 * transaction with a snapshot.  Returns the number of events written.
 * careful: parse each event in a subtransaction, making those that fail
 * error events (after a first try of the batch failed).
 */
int64
es_apply_batch(EsBatch *batch, EsStreamSet *set, bool careful)
{
	ApplyStream *states;
	EState	   *estate;
	TupleTableSlot *bslot;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	int64		written = 0;
	int			i;

	/* a backfill chunk may be complete with all its rows dropped */
	if ((batch->nevents == 0 && !(batch->chunk && batch->chunk->complete)) ||
		set->nstreams == 0)
		return 0;

	LockRelationOid(get_relname_relid("event_log", get_namespace_oid(ES_SCHEMA, false)),
					RowExclusiveLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	states = palloc0(sizeof(ApplyStream) * set->nstreams);
	load_stream_states(set, states);

	estate = CreateExecutorState();
	for (i = 0; i < set->nstreams; i++)
		states[i].estate = estate;
	bslot = MakeSingleTupleTableSlot(batch->desc, &TTSOpsMinimalTuple);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_eventstream apply row",
								   ALLOCSET_DEFAULT_SIZES);
	tuplestore_rescan(batch->store);	/* (a second, careful, try reads it again) */

	while (tuplestore_gettupleslot(batch->store, true, false, bslot))
	{
		Datum		values[LOG_NCOLS];
		bool		nulls[LOG_NCOLS];
		int			kind;
		Bitmapset  *targets;
		Datum		content = (Datum) 0;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		oldcxt = MemoryContextSwitchTo(rowcxt);
		memset(nulls, 0, sizeof(nulls));
		kind = DatumGetInt32(slot_getattr(bslot, ES_BUF_KIND + 1, &isnull));

		targets = event_targets(set, bslot, kind, &content);
		if (bms_is_empty(targets))
		{
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(rowcxt);
			continue;
		}
		fill_log_row(bslot, &kind, content, careful, values, nulls);
		written += append_event(set, states, targets, values, nulls,
								oldcxt, rowcxt);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}

	es_backfill_record(batch, set);
	for (i = 0; i < set->nstreams; i++)
	{
		/* the last rows of each stream (the insert's memory in rowcxt) */
		oldcxt = MemoryContextSwitchTo(rowcxt);
		close_segment(&states[i]);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
		if (states[i].added > 0)
			set->streams[i].woken = true;	/* after the commit: target.c */
		if (states[i].added > 0 && es_notify)
			Async_Notify("eventstream", set->streams[i].name);
	}

	ExecDropSingleTupleTableSlot(bslot);
	FreeExecutorState(estate);
	MemoryContextDelete(rowcxt);
	SPI_finish();
	return written;
}
