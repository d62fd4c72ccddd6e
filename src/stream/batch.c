/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  The event log's batch: decoded events waiting to be applied.
 *
 * The capture worker hands every row change, truncate and emit() message
 * of a committed transaction to es_batch_add (through the streams'
 * capture target, target.c), which builds the key, old and new parts as
 * jsonb from the decoded values (decoder/row.c), or, for the changes that
 * take the text path there (json columns, huge rows), writes them as JSON
 * text for apply.c to parse; either goes into a tuplestore.  The
 * tuplestore keeps ES_BATCH_MEMORY (or work_mem, if larger) in memory and
 * spills the rest to a temporary file, so a transaction of any size costs
 * bounded memory; its file
 * survives the transactions that logical decoding starts and aborts
 * around each replayed transaction.
 *
 * Which streams a change goes to is decided when the batch is written
 * (apply.c); here a change no stream takes is merely not kept.  Backfill
 * watermarks and the changes between them go to backfill.c, which adds a
 * chunk's snapshot events to the batch.
 *
 * src/stream/batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "../pg_eventstream.h"
#include "stream.h"

/*
 * Memory a batch keeps before it spills to a file, in kB: enough for a
 * batch of eventstream.batch_size (10,000) common events, which writing to
 * a file and reading back cost a tenth of capture's time (at work_mem's
 * default of 4 MB they did)
 */
#define ES_BATCH_MEMORY		(16 * 1024)

/* the 64-bit form of a transaction id of the recent past */
static FullTransactionId
full_xid(EsBatch *batch, TransactionId xid)
{
	FullTransactionId next;
	uint32		epoch;

	if (xid == batch->last_xid)
		return batch->last_fxid;
	next = ReadNextFullTransactionId();
	epoch = EpochFromFullTransactionId(next);
	if (xid > XidFromFullTransactionId(next))
		epoch--;
	batch->last_xid = xid;
	batch->last_fxid = FullTransactionIdFromEpochAndXid(epoch, xid);
	return batch->last_fxid;
}

static inline Datum
text_or_null(StringInfo buf, bool *isnull)
{
	*isnull = buf->len < 0;
	return *isnull ? (Datum) 0 :
		PointerGetDatum(cstring_to_text_with_len(buf->data, buf->len));
}

/* does a stream take this change of a table? */
static bool
stream_takes(EsBatch *batch, const EsEvent *ev)
{
	return batch->streams == NULL ||
		!bms_is_empty(es_streams_matching(batch->streams, ev->rel->report_relid,
										  ev->rel->schema_name, ev->rel->table_name,
										  ev->kind));
}

/*
 * es_batch_add buffers one event of a committed transaction; false if no
 * stream takes it
 */
bool
es_batch_add(EsBatch *batch, EsDecodingData *data, const EsEvent *ev)
{
	Datum		values[ES_BUF_NCOLS];
	bool		nulls[ES_BUF_NCOLS];
	bool		jsonb_parts = false;
	Jsonb	   *key;
	Jsonb	   *old;
	Jsonb	   *new;

	memset(nulls, 0, sizeof(nulls));
	batch->key.len = batch->old.len = batch->new.len = -1;

	switch (ev->kind)
	{
		case ES_EV_INSERT:
		case ES_EV_UPDATE:
		case ES_EV_DELETE:
		case ES_EV_TRUNCATE:
			/* a backfill chunk drops the rows any change touches */
			es_backfill_change(batch, data, ev);
			if (!stream_takes(batch, ev))
				return false;
			if (ev->kind != ES_EV_TRUNCATE &&
				es_build_row_parts(data, ev, &key, &old, &new))
			{
				jsonb_parts = true;
				nulls[ES_BUF_KEY] = key == NULL;
				nulls[ES_BUF_OLD] = old == NULL;
				nulls[ES_BUF_NEW] = new == NULL;
				values[ES_BUF_KEY] = JsonbPGetDatum(key);
				values[ES_BUF_OLD] = JsonbPGetDatum(old);
				values[ES_BUF_NEW] = JsonbPGetDatum(new);
			}
			else if (ev->kind != ES_EV_TRUNCATE)
			{
				resetStringInfo(&batch->key);
				resetStringInfo(&batch->old);
				resetStringInfo(&batch->new);
				es_write_row_parts(data, ev, &batch->key, &batch->old,
								   &batch->new);
			}
			values[ES_BUF_RELID] = ObjectIdGetDatum(ev->rel->report_relid);
			values[ES_BUF_SCHEMA] = CStringGetTextDatum(ev->rel->schema_name);
			values[ES_BUF_TABLE] = CStringGetTextDatum(ev->rel->table_name);
			break;
		case ES_EV_MESSAGE:
			if (!ev->transactional &&
				strcmp(ev->prefix, ES_WATERMARK_PREFIX) == 0)
			{
				es_backfill_message(batch, ev);
				return false;
			}
			if (!ev->transactional ||
				strcmp(ev->prefix, ES_MESSAGE_PREFIX) != 0)
				return false;
			{
				const char *json;
				Size		len;

				/* only emit() may add to a stream: see message.c */
				if (batch->streams == NULL || !batch->streams->have_message_key ||
					!es_message_verify(batch->streams->message_key, ev->xid,
									   ev->content, ev->content_size, &json, &len))
				{
					ereport(WARNING,
							(errmsg("pg_eventstream ignored a logical message with prefix \"%s\" at %X/%X that emit() did not write",
									ES_MESSAGE_PREFIX, LSN_FORMAT_ARGS(ev->lsn)),
							 errdetail("Only eventstream.emit() adds messages to a stream; pg_logical_emit_message cannot.")));
					return false;
				}
				resetStringInfo(&batch->new);
				appendBinaryStringInfo(&batch->new, json, len);
			}
			nulls[ES_BUF_RELID] = nulls[ES_BUF_SCHEMA] = nulls[ES_BUF_TABLE] = true;
			break;
		default:
			return false;
	}

	values[ES_BUF_KIND] = Int32GetDatum((int32) ev->kind);
	if (!jsonb_parts)
	{
		values[ES_BUF_KEY] = text_or_null(&batch->key, &nulls[ES_BUF_KEY]);
		values[ES_BUF_OLD] = text_or_null(&batch->old, &nulls[ES_BUF_OLD]);
		values[ES_BUF_NEW] = text_or_null(&batch->new, &nulls[ES_BUF_NEW]);
	}
	values[ES_BUF_JSONB] = BoolGetDatum(jsonb_parts);
	values[ES_BUF_LSN] = Int64GetDatum((int64) ev->lsn);
	values[ES_BUF_COMMIT_LSN] = Int64GetDatum((int64) ev->commit_lsn);
	values[ES_BUF_XID] = Int64GetDatum((int64) U64FromFullTransactionId(full_xid(batch, ev->xid)));
	values[ES_BUF_COMMIT_TIME] = TimestampTzGetDatum(ev->commit_time);
	values[ES_BUF_SEQ] = Int32GetDatum((int32) ev->seq);
	values[ES_BUF_STREAM] = Int32GetDatum(0);

	tuplestore_putvalues(batch->store, batch->desc, values, nulls);
	batch->nevents++;
	return true;
}

/*
 * es_batch_create makes an empty batch, with no stream definitions yet;
 * in a transaction (the tuple descriptor looks up types)
 */
EsBatch *
es_batch_create(MemoryContext parent)
{
	EsBatch    *batch = MemoryContextAllocZero(parent, sizeof(EsBatch));
	MemoryContext oldcxt;
	TupleDesc	desc;

	batch->parent = parent;
	batch->cxt = AllocSetContextCreate(parent, "pg_eventstream batch",
									   ALLOCSET_DEFAULT_SIZES);
	batch->last_xid = InvalidTransactionId;

	oldcxt = MemoryContextSwitchTo(parent);
	desc = CreateTemplateTupleDesc(ES_BUF_NCOLS);
	TupleDescInitEntry(desc, ES_BUF_KIND + 1, "kind", INT4OID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_RELID + 1, "relid", OIDOID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_SCHEMA + 1, "schema", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_TABLE + 1, "table", TEXTOID, -1, 0);
	/* jsonb or JSON text, as column "jsonb" says: varlenas alike */
	TupleDescInitEntry(desc, ES_BUF_KEY + 1, "key", BYTEAOID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_OLD + 1, "old", BYTEAOID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_NEW + 1, "new", BYTEAOID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_LSN + 1, "lsn", INT8OID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_COMMIT_LSN + 1, "commit_lsn", INT8OID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_XID + 1, "xid", INT8OID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_COMMIT_TIME + 1, "commit_time", TIMESTAMPTZOID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_SEQ + 1, "seq", INT4OID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_STREAM + 1, "stream", INT4OID, -1, 0);
	TupleDescInitEntry(desc, ES_BUF_JSONB + 1, "jsonb", BOOLOID, -1, 0);
	batch->desc = desc;
	initStringInfo(&batch->key);
	initStringInfo(&batch->old);
	initStringInfo(&batch->new);
	MemoryContextSwitchTo(oldcxt);

	es_batch_reset(batch);
	return batch;
}

/* es_batch_reset empties the batch, releasing its memory and files */
void
es_batch_reset(EsBatch *batch)
{
	MemoryContext oldcxt;

	if (batch->store != NULL)
		tuplestore_end(batch->store);
	MemoryContextReset(batch->cxt);
	oldcxt = MemoryContextSwitchTo(batch->cxt);
	/* interXact: the file must outlive decoding's internal transactions */
	batch->store = tuplestore_begin_heap(false, true, Max(work_mem, ES_BATCH_MEMORY));
	MemoryContextSwitchTo(oldcxt);
	batch->nevents = 0;
}
