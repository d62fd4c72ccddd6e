/*-------------------------------------------------------------------------
 *
 * backfill.c
 *	  Existing rows of a stream's tables as "snapshot" events, consistent
 *	  with the changes around them, in chunks.
 *
 * create_stream(..., backfill => true) lists the tables to backfill in
 * eventstream.backfill_catalog.  The worker then reads each table in
 * primary key order, one chunk at a time, with the watermark method of
 * DBLog:
 *	  1. it writes a non-transactional logical message, the low watermark;
 *	  2. it reads the next chunk of rows (a fresh snapshot) and keeps them
 *		 in memory, encoded as events would be;
 *	  3. it writes the high watermark.
 * Decoding goes on as usual.  A change to the table that commits between
 * the two watermarks -- in decoding order, which is commit order -- is in
 * the stream anyway, so the chunk's row with that key is dropped; at the
 * high watermark the rows left become snapshot events, placed right
 * there in the stream.  So every row is in the stream, either as it was
 * read or by the change that followed, and nothing is there twice.
 *
 * A chunk's events and its progress row (eventstream.backfill_progress,
 * insert-only) are written by the same apply transaction; after a crash
 * the chunk is simply read again, and watermarks of a chunk the worker no
 * longer holds are ignored.  Memory: one chunk of rows at a time.
 *
 * The chunk is read as the table's owner (as_owner.h): its casts and
 * operators are that role's code.  A read that fails -- a cast that
 * raises, row-level security forced on the owner, the timeout -- ends
 * that table's backfill with the error recorded in backfill_progress and
 * a WARNING; capture and the other backfills go on.  A chunk's token is
 * random, so no role can forge its watermarks.
 *
 * src/stream/backfill.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "replication/origin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "../common/as_owner.h"
#include "../pg_eventstream.h"
#include "stream.h"

/*
 * An entry of chunk->by_key is the key (keysize bytes, NUL-padded) and
 * then the row's index, unaligned.
 */
static void
entry_set_index(EsBackfillChunk *chunk, char *entry, int index)
{
	memcpy(entry + chunk->keysize, &index, sizeof(int));
}

static int
entry_index(EsBackfillChunk *chunk, char *entry)
{
	int			index;

	memcpy(&index, entry + chunk->keysize, sizeof(int));
	return index;
}

/* write a watermark: without the worker's origin, or decoding would drop it */
static XLogRecPtr
write_watermark(char kind, uint64 token)
{
	char		msg[64];
	RepOriginId saved = replorigin_session_origin;
	XLogRecPtr	lsn;

	snprintf(msg, sizeof(msg), "%c " UINT64_FORMAT, kind, token);
	replorigin_session_origin = InvalidRepOriginId;
	lsn = LogLogicalMessage(ES_WATERMARK_PREFIX, msg, strlen(msg), false);
	replorigin_session_origin = saved;
	XLogFlush(lsn);
	return lsn;
}

/*
 * A transaction whose commit record precedes the low watermark is decoded
 * before the window, so the chunk must see it -- but decoding reads a
 * commit record a moment before the transaction leaves the proc array.
 * Wait for the transactions a snapshot still counts as running while the
 * commit log says they committed; they are about to be visible.  (Waiting
 * for every running transaction could wait on one that waits for the
 * worker, in sync() or poll().)
 */
static void
wait_committing(void)
{
	Snapshot	snap = GetLatestSnapshot();
	uint32		i;

	for (i = 0; i < snap->xcnt; i++)
		if (TransactionIdDidCommit(snap->xip[i]))
			XactLockTableWait(snap->xip[i], NULL, NULL, XLTW_None);
}

/* record that a backfill is done (no chunk, no events), or failed */
static void
record_done(int32 stream_id, Oid relid, int64 chunk_no, const char *error)
{
	Datum		args[4] = {Int32GetDatum(stream_id), ObjectIdGetDatum(relid),
		Int64GetDatum(chunk_no), error ? CStringGetTextDatum(error) : (Datum) 0};
	Oid			types[4] = {INT4OID, OIDOID, INT8OID, TEXTOID};

	if (SPI_execute_with_args("INSERT INTO " ES_SCHEMA ".backfill_progress "
							  "(stream_id, relid, chunk_no, rows, done, error) "
							  "VALUES ($1, $2, $3, 0, true, $4)",
							  4, types, args, error ? NULL : "   n", false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record backfill progress");
}

/* reading a chunk (run as the table's owner by es_try_as_owner) */
typedef struct ChunkRead
{
	const char *sql;
	bool		have_last;
	Datum		last_key;
} ChunkRead;

static void
read_chunk_work(void *arg)
{
	ChunkRead  *r = arg;
	Oid			argtype = TEXTARRAYOID;

	/* all rows or an error: never a part that policies let through */
	(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute_with_args(r->sql, r->have_last ? 1 : 0, &argtype, &r->last_key, NULL,
							  false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read a backfill chunk");
}

/*
 * Read a chunk as the table's owner, in a subtransaction; false, with the
 * error's message, if it failed.  The rows are in SPI_tuptable.
 */
static bool
read_chunk(Relation rel, const char *sql, bool have_last, Datum last_key, char **error)
{
	ChunkRead	r = {sql, have_last, last_key};
	ErrorData  *edata = es_try_as_owner(rel->rd_rel->relowner, es_user_code_timeout_ms,
										read_chunk_work, &r);

	if (edata == NULL)
		return true;
	*error = edata->message;
	return false;
}

/* the SELECT that reads the next chunk of rel in primary key order */
static char *
chunk_query(Relation rel, Oid pkindex, bool after)
{
	HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkindex));
	Form_pg_index index;
	StringInfoData cols;
	StringInfoData keytext;
	StringInfoData bound;
	int			i;

	if (!HeapTupleIsValid(itup))
		elog(ERROR, "cache lookup failed for index %u", pkindex);
	index = (Form_pg_index) GETSTRUCT(itup);
	initStringInfo(&cols);
	initStringInfo(&keytext);
	initStringInfo(&bound);
	for (i = 0; i < index->indnkeyatts; i++)
	{
		AttrNumber	att = index->indkey.values[i];
		Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), att - 1);
		const char *name = quote_identifier(NameStr(a->attname));

		appendStringInfo(&cols, "%st.%s", i ? ", " : "", name);
		appendStringInfo(&keytext, "%st.%s::text", i ? ", " : "", name);
		/* qualified: the query runs with the search_path pinned */
		appendStringInfo(&bound, "%s$1[%d]::%s", i ? ", " : "", i + 1,
						 format_type_be_qualified(a->atttypid));
	}
	ReleaseSysCache(itup);

	return psprintf("SELECT t, ARRAY[%s] FROM %s t %s%s%s%s%s ORDER BY %s LIMIT %d",
					keytext.data,
					quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel)),
					after ? "WHERE (" : "", after ? cols.data : "",
					after ? ") > (" : "", after ? bound.data : "",
					after ? ")" : "",
					cols.data, es_backfill_chunk_size);
}

/* where the first unfinished backfill stands: false if there is none (SPI connected) */
static bool
next_backfill(int32 *stream_id, Oid *relid, int64 *chunk_no, Datum *last_key,
			  bool *have_last)
{
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	if (SPI_execute("SELECT b.stream_id, b.relid, "
					"  (SELECT p.last_key FROM " ES_SCHEMA ".backfill_progress p "
					"   WHERE p.stream_id = b.stream_id AND p.relid = b.relid "
					"   ORDER BY p.chunk_no DESC LIMIT 1), "
					"  coalesce((SELECT max(p.chunk_no) FROM " ES_SCHEMA ".backfill_progress p "
					"   WHERE p.stream_id = b.stream_id AND p.relid = b.relid), 0) "
					"FROM " ES_SCHEMA ".backfill_catalog b "
					"WHERE NOT EXISTS (SELECT 1 FROM " ES_SCHEMA ".backfill_progress p "
					"  WHERE p.stream_id = b.stream_id AND p.relid = b.relid AND p.done) "
					"ORDER BY b.stream_id, b.relid LIMIT 1", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the backfill catalog");
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	*stream_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	*relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	*last_key = SPI_getbinval(tup, desc, 3, &isnull);
	*have_last = !isnull;
	if (*have_last)
		*last_key = SPI_datumTransfer(*last_key, false, -1);
	*chunk_no = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull)) + 1;
	return true;
}

/*
 * The rows read (SPI's tuple table: each row and its key) as key and row
 * JSON in the chunk's memory, the last key kept for the next chunk.
 */
static void
keep_rows(EsBackfillChunk *chunk, EsDecodingData *data, Relation rel)
{
	SPITupleTable *rows = SPI_tuptable;
	EsRelInfo  *relinfo = es_relinfo_get(data, rel);
	MemoryContext oldcxt = MemoryContextSwitchTo(chunk->cxt);
	MemoryContext rowcxt;
	bool		isnull;
	uint64		i;

	chunk->schema_name = pstrdup(relinfo->schema_name);
	chunk->table_name = pstrdup(relinfo->table_name);
	chunk->nrows = (int) SPI_processed;
	chunk->keys = palloc0(sizeof(char *) * Max(chunk->nrows, 1));
	chunk->rows = palloc0(sizeof(char *) * Max(chunk->nrows, 1));
	chunk->dropped = palloc0(sizeof(bool) * Max(chunk->nrows, 1));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_eventstream backfill row",
								   ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTupleHeader th;
		HeapTupleData tuple;
		StringInfoData buf;

		th = DatumGetHeapTupleHeader(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
		tuple.t_len = HeapTupleHeaderGetDatumLength(th);
		tuple.t_data = th;
		tuple.t_tableOid = chunk->relid;
		ItemPointerSetInvalid(&tuple.t_self);

		MemoryContextSwitchTo(rowcxt);
		initStringInfo(&buf);
		es_write_key(&buf, data, relinfo, &tuple, NULL);
		chunk->keys[i] = MemoryContextStrdup(chunk->cxt, buf.data);
		resetStringInfo(&buf);
		resetStringInfo(&data->oversized);
		es_write_row(&buf, data, relinfo, &tuple, false, ES_TOAST_OMIT);
		chunk->rows[i] = MemoryContextStrdup(chunk->cxt, buf.data);
		chunk->keysize = Max(chunk->keysize, (int) strlen(chunk->keys[i]) + 1);
		MemoryContextSwitchTo(chunk->cxt);
		MemoryContextReset(rowcxt);
		if (i == SPI_processed - 1)
			chunk->last_key = datumCopy(SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull),
										false, -1);
	}
	MemoryContextDelete(rowcxt);
	MemoryContextSwitchTo(oldcxt);
}

/* the chunk's rows by key, so that a decoded change finds the row it drops */
static void
index_rows(EsBackfillChunk *chunk)
{
	HASHCTL		hctl;
	int			i;

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = chunk->keysize;
	hctl.entrysize = chunk->keysize + sizeof(int);
	hctl.hcxt = chunk->cxt;
	chunk->by_key = hash_create("pg_eventstream backfill keys", chunk->nrows,
								&hctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < chunk->nrows; i++)
	{
		char	   *e = hash_search(chunk->by_key, chunk->keys[i], HASH_ENTER, NULL);

		entry_set_index(chunk, e, i);
	}
}

static void
free_chunk(EsBackfillChunk *chunk)
{
	MemoryContextDelete(chunk->cxt);
	pfree(chunk);
}

/*
 * es_backfill_start begins the next chunk of the first unfinished
 * backfill, inside the caller's transaction; it returns false when there
 * is nothing to backfill.
 */
bool
es_backfill_start(EsBatch *batch, EsDecodingData *data, MemoryContext parent)
{
	EsBackfillChunk *chunk;
	Relation	rel;
	Oid			pkindex;
	int32		stream_id;
	Oid			relid;
	int64		chunk_no;
	Datum		last_key;
	bool		have_last;
	char	   *error = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!next_backfill(&stream_id, &relid, &chunk_no, &last_key, &have_last))
	{
		SPI_finish();
		return false;
	}

	/* a table dropped since: nothing left to read */
	rel = try_table_open(relid, AccessShareLock);
	pkindex = rel ? RelationGetPrimaryKeyIndex(rel) : InvalidOid;
	if (!OidIsValid(pkindex))
	{
		if (rel)
			table_close(rel, AccessShareLock);
		record_done(stream_id, relid, chunk_no, NULL);
		SPI_finish();
		return true;
	}

	chunk = MemoryContextAllocZero(parent, sizeof(EsBackfillChunk));
	chunk->cxt = AllocSetContextCreate(parent, "pg_eventstream backfill chunk",
									   ALLOCSET_DEFAULT_SIZES);
	if (!pg_strong_random(&chunk->token, sizeof(chunk->token)))
		elog(ERROR, "could not generate a random backfill token");
	chunk->stream_id = stream_id;
	chunk->relid = relid;
	chunk->chunk_no = chunk_no;

	/* low watermark, then a snapshot taken after it, then the high one */
	write_watermark('L', chunk->token);
	wait_committing();
	if (!read_chunk(rel, chunk_query(rel, pkindex, have_last), have_last, last_key, &error))
	{
		ereport(WARNING,
				(errmsg("pg_eventstream backfill of table %s.%s failed: %s",
						get_namespace_name(RelationGetNamespace(rel)),
						RelationGetRelationName(rel), error),
				 errdetail("The stream goes on without the rows not read yet; eventstream.backfills shows the error.")));
		table_close(rel, AccessShareLock);
		record_done(stream_id, relid, chunk_no, error);
		SPI_finish();
		free_chunk(chunk);
		return true;
	}
	keep_rows(chunk, data, rel);
	table_close(rel, AccessShareLock);

	if (chunk->nrows == 0)
	{
		/* the whole table has been read */
		record_done(stream_id, relid, chunk_no, NULL);
		SPI_finish();
		free_chunk(chunk);
		return true;
	}
	SPI_finish();
	index_rows(chunk);

	if (es_backfill_test_delay_ms > 0)
		pg_usleep(es_backfill_test_delay_ms * 1000L);
	write_watermark('H', chunk->token);
	batch->chunk = chunk;
	return true;
}

/* drop the chunk's row with this key, if any */
static void
drop_key(EsBackfillChunk *chunk, const char *key)
{
	char	   *e;

	if ((int) strlen(key) >= chunk->keysize)
		return;					/* longer than every key of the chunk */
	e = hash_search(chunk->by_key, key, HASH_FIND, NULL);
	if (e != NULL)
		chunk->dropped[entry_index(chunk, e)] = true;
}

/*
 * es_backfill_change drops the rows of the chunk that a change decoded
 * between its watermarks touches (both keys of a key change; all rows on
 * truncate).
 */
void
es_backfill_change(EsBatch *batch, EsDecodingData *data, const EsEvent *ev)
{
	EsBackfillChunk *chunk = batch->chunk;
	StringInfoData buf;

	if (chunk == NULL || !chunk->window_open || ev->rel->report_relid != chunk->relid)
		return;
	if (ev->kind == ES_EV_TRUNCATE)
	{
		memset(chunk->dropped, true, sizeof(bool) * chunk->nrows);
		return;
	}
	initStringInfo(&buf);
	if (es_write_key(&buf, data, ev->rel, ev->newtuple, ev->oldtuple))
		drop_key(chunk, buf.data);
	resetStringInfo(&buf);
	if (es_write_key(&buf, data, ev->rel, ev->oldtuple, NULL))
		drop_key(chunk, buf.data);
	pfree(buf.data);
}

/*
 * es_backfill_message handles a watermark: the low one opens the chunk's
 * window, the high one turns the rows left into snapshot events.
 */
void
es_backfill_message(EsBatch *batch, const EsEvent *ev)
{
	EsBackfillChunk *chunk = batch->chunk;
	char		kind;
	uint64		token;
	char		msg[64];
	int			i;
	Datum		values[ES_BUF_NCOLS];
	bool		nulls[ES_BUF_NCOLS];

	if (chunk == NULL || ev->content_size >= sizeof(msg))
		return;
	memcpy(msg, ev->content, ev->content_size);
	msg[ev->content_size] = '\0';
	if (sscanf(msg, "%c " UINT64_FORMAT, &kind, &token) != 2 || token != chunk->token)
		return;					/* a chunk this worker no longer holds */

	if (kind == 'L')
	{
		chunk->window_open = true;
		return;
	}
	if (kind != 'H' || !chunk->window_open)
		return;

	memset(nulls, 0, sizeof(nulls));
	nulls[ES_BUF_OLD] = true;
	values[ES_BUF_KIND] = Int32GetDatum(ES_EV_SNAPSHOT);
	values[ES_BUF_RELID] = ObjectIdGetDatum(chunk->relid);
	values[ES_BUF_SCHEMA] = CStringGetTextDatum(chunk->schema_name);
	values[ES_BUF_TABLE] = CStringGetTextDatum(chunk->table_name);
	values[ES_BUF_LSN] = Int64GetDatum((int64) ev->lsn);
	values[ES_BUF_COMMIT_LSN] = Int64GetDatum((int64) ev->lsn);
	values[ES_BUF_XID] = Int64GetDatum(0);
	values[ES_BUF_COMMIT_TIME] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[ES_BUF_STREAM] = Int32GetDatum(chunk->stream_id);
	values[ES_BUF_JSONB] = BoolGetDatum(false);
	for (i = 0; i < chunk->nrows; i++)
	{
		if (chunk->dropped[i])
			continue;
		values[ES_BUF_KEY] = CStringGetTextDatum(chunk->keys[i]);
		values[ES_BUF_NEW] = CStringGetTextDatum(chunk->rows[i]);
		values[ES_BUF_SEQ] = Int32GetDatum((int32) ++chunk->kept);
		tuplestore_putvalues(batch->store, batch->desc, values, nulls);
		batch->nevents++;
	}
	chunk->window_open = false;
	chunk->complete = true;
}

/*
 * es_backfill_record writes the progress of a chunk whose events are in
 * this batch, in the apply transaction (SPI connected), unless its
 * stream is gone.
 */
void
es_backfill_record(EsBatch *batch, EsStreamSet *set)
{
	EsBackfillChunk *chunk = batch->chunk;
	Datum		args[5];
	Oid			types[5] = {INT4OID, OIDOID, INT8OID, TEXTARRAYOID, INT8OID};

	if (chunk == NULL || !chunk->complete)
		return;
	args[0] = Int32GetDatum(chunk->stream_id);
	args[1] = ObjectIdGetDatum(chunk->relid);
	args[2] = Int64GetDatum(chunk->chunk_no);
	args[3] = chunk->last_key;
	args[4] = Int64GetDatum(chunk->kept);
	if (SPI_execute_with_args("INSERT INTO " ES_SCHEMA ".backfill_progress "
							  "(stream_id, relid, chunk_no, last_key, rows, done) "
							  "SELECT $1, $2, $3, $4, $5, false WHERE EXISTS "
							  "(SELECT 1 FROM " ES_SCHEMA ".backfill_catalog b "
							  " WHERE b.stream_id = $1 AND b.relid = $2)",
							  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record backfill progress");
}
