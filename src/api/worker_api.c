/*-------------------------------------------------------------------------
 *
 * worker_api.c
 *	  SQL functions about the capture worker: its status and sync().
 *
 * sync() is read-your-writes: it takes the WAL insert position at the
 * call, wakes the worker and sleeps on the shared condition variable the
 * worker broadcasts after every batch, until the worker's applied
 * position passes it.  The sleep is interruptible, so cancel and
 * statement_timeout work at once.
 *
 * src/api/worker_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "../stream/stream.h"
#include "../worker/worker.h"
#include "api.h"

PG_FUNCTION_INFO_V1(eventstream_worker_status);
PG_FUNCTION_INFO_V1(eventstream_sync);
PG_FUNCTION_INFO_V1(eventstream_events_seq);
PG_FUNCTION_INFO_V1(eventstream_wait_for_events);
PG_FUNCTION_INFO_V1(eventstream_stream_wake_seq);
PG_FUNCTION_INFO_V1(eventstream_wait_for_stream);

/* this database's events_seq, or 0 */
static uint64
events_seq(void)
{
	EsWorkerSlot *slot;
	uint64		seq = 0;

	if (es_shared == NULL)
		return 0;
	LWLockAcquire(es_shared->lock, LW_SHARED);
	slot = es_slot_find(MyDatabaseId);
	if (slot != NULL)
		seq = slot->events_seq;
	LWLockRelease(es_shared->lock);
	return seq;
}

/*
 * eventstream._events_seq() is a counter the worker bumps after every
 * batch that wrote events: read it, look for events, and if there are
 * none wait with _wait_for_events(seq, deadline) -- no wake-up is lost.
 */
Datum
eventstream_events_seq(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) events_seq());
}

static bool
events_moved(void *arg)
{
	return events_seq() != *(uint64 *) arg;
}

/*
 * eventstream._wait_for_events(seq, deadline) sleeps on the worker's
 * condition variable until the counter moves past seq or the deadline
 * passes; true if events arrived.  Interruptible: cancel and
 * statement_timeout end it at once.
 */
Datum
eventstream_wait_for_events(PG_FUNCTION_ARGS)
{
	uint64		seq = (uint64) PG_GETARG_INT64(0);
	TimestampTz deadline = PG_GETARG_TIMESTAMPTZ(1);
	bool		arrived;

	if (es_shared == NULL)
		PG_RETURN_BOOL(false);
	arrived = es_cv_wait(&es_shared->events_cv, events_moved, &seq, deadline);

	/*
	 * The worker may have created a segment meanwhile: take in the
	 * invalidations, or the caller's cached plans, whose locks it already
	 * holds, would go on scanning the old set of partitions.
	 */
	AcceptInvalidationMessages();
	PG_RETURN_BOOL(arrived);
}

/*
 * eventstream._stream_wake_seq(stream_id) is the stream's wake counter
 * (src/stream/wake.c): a reader takes it before it looks at the log and
 * waits with _wait_for_stream(stream_id, seq, deadline) if it found
 * nothing -- woken by that stream's events only.
 */
Datum
eventstream_stream_wake_seq(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) es_stream_wake_seq(PG_GETARG_INT32(0)));
}

/*
 * eventstream._wait_for_stream(stream_id, seq, deadline): sleep until the
 * stream has new events or the deadline passes; true if it has.
 * Interruptible: cancel and statement_timeout end it at once.
 */
Datum
eventstream_wait_for_stream(PG_FUNCTION_ARGS)
{
	bool		arrived = es_stream_wait(PG_GETARG_INT32(0), (uint64) PG_GETARG_INT64(1),
										 PG_GETARG_TIMESTAMPTZ(2));

	/* (segments the worker made meanwhile: as _wait_for_events) */
	AcceptInvalidationMessages();
	PG_RETURN_BOOL(arrived);
}

/* eventstream._worker_status(): this database's worker, from shared memory */
Datum
eventstream_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7];
	EsWorkerSlot copy;
	EsWorkerSlot *slot = NULL;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));
	memset(&copy, 0, sizeof(copy));

	if (es_shared != NULL)
	{
		LWLockAcquire(es_shared->lock, LW_SHARED);
		slot = es_slot_find(MyDatabaseId);
		if (slot != NULL)
			copy = *slot;
		LWLockRelease(es_shared->lock);
	}

	if (copy.pid != 0)
		values[0] = Int32GetDatum(copy.pid);
	else
		nulls[0] = true;
	values[1] = CStringGetTextDatum(es_shared == NULL ? "not preloaded" :
									copy.pid == 0 ? "not running" : copy.state);
	values[2] = LSNGetDatum(copy.applied_lsn);
	nulls[2] = copy.applied_lsn == InvalidXLogRecPtr;
	values[3] = TimestampTzGetDatum(copy.caught_up_at);
	nulls[3] = copy.caught_up_at == 0;
	values[4] = TimestampTzGetDatum(copy.last_batch_at);
	nulls[4] = copy.last_batch_at == 0;
	values[5] = Int64GetDatum(copy.events_total);
	values[6] = Float8GetDatum(copy.events_per_sec);

	/*
	 * How many events, and when, tells of tables the caller may not read:
	 * like pg_stat_activity's query text, for pg_read_all_stats only.
	 */
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
		nulls[4] = nulls[5] = nulls[6] = true;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* has this database's worker started decoding (its slot is complete)? */
static bool
capture_ready(void *arg)
{
	EsWorkerSlot *slot;
	bool		ready;

	LWLockAcquire(es_shared->lock, LW_SHARED);
	slot = es_slot_find(MyDatabaseId);
	ready = slot != NULL && slot->pid != 0 &&
		slot->applied_lsn != InvalidXLogRecPtr;
	LWLockRelease(es_shared->lock);
	return ready;
}

/*
 * es_wait_for_capture waits (at most ES_WORKER_WAIT_MS) until this database's worker
 * decodes, so that a stream created now misses no change; a transaction
 * that already wrote cannot wait, because creating the slot waits for it
 * to end.
 */
void
es_wait_for_capture(void)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  ES_WORKER_WAIT_MS);

	if (es_shared == NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_eventstream is not in shared_preload_libraries, so no worker will capture changes"),
				 errhint("Add pg_eventstream to shared_preload_libraries and restart the server.")));
		return;
	}
	if (capture_ready(NULL))
		return;
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
	{
		ereport(NOTICE,
				(errmsg("the stream captures changes from when the pg_eventstream worker has started, after this transaction")));
		return;
	}
	if (!es_cv_wait(&es_shared->progress_cv, capture_ready, NULL, deadline))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no pg_eventstream worker captures changes in this database"),
				 errhint("See eventstream.status and the server log.")));
}

typedef struct SyncProgress
{
	XLogRecPtr	target;
	bool		worker_seen;	/* a worker ran while we waited */
} SyncProgress;

/* has the worker applied past the target?  If not, hurry it along */
static bool
applied_past(void *arg)
{
	SyncProgress *progress = arg;
	EsWorkerSlot *slot;
	XLogRecPtr	applied = InvalidXLogRecPtr;
	Latch	   *latch = NULL;

	LWLockAcquire(es_shared->lock, LW_SHARED);
	slot = es_slot_find(MyDatabaseId);
	if (slot != NULL)
	{
		applied = slot->applied_lsn;
		latch = slot->latch;
	}
	LWLockRelease(es_shared->lock);

	if (applied >= progress->target)
		return true;
	if (latch != NULL)
	{
		progress->worker_seen = true;
		SetLatch(latch);
	}
	return false;
}

/*
 * es_wait_applied waits until the worker has applied everything written
 * so far (our own records too); it returns the position waited for.
 */
XLogRecPtr
es_wait_applied(int64 timeout_ms)
{
	XLogRecPtr	target = GetXLogInsertRecPtr();
	TimestampTz deadline;
	SyncProgress progress = {0};

	if (es_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_eventstream is not in shared_preload_libraries"),
				 errhint("Add pg_eventstream to shared_preload_libraries and restart the server.")));

	/*
	 * The insert position may sit just past a page header that no record
	 * has been written behind yet; the worker, having read the last record,
	 * is then at the page's start.
	 */
	if (XLogSegmentOffset(target, wal_segment_size) == SizeOfXLogLongPHD)
		target -= SizeOfXLogLongPHD;
	else if (target % XLOG_BLCKSZ == SizeOfXLogShortPHD)
		target -= SizeOfXLogShortPHD;

	/*
	 * The worker reads only flushed WAL, and nothing flushes the records of
	 * a transaction that has not committed (sync called after writing in
	 * the same transaction): flush up to the target ourselves.
	 */
	XLogFlush(target);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	progress.target = target;
	if (!es_cv_wait(&es_shared->progress_cv, applied_past, &progress, deadline))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("timed out waiting for pg_eventstream to capture up to %X/%X",
						LSN_FORMAT_ARGS(target)),
				 progress.worker_seen ?
				 errhint("See eventstream.status for the worker's lag.") :
				 errhint("No pg_eventstream worker runs for this database; see eventstream.status and the server log.")));
	return target;
}

/* eventstream.sync(timeout): wait until the streams hold everything committed */
Datum
eventstream_sync(PG_FUNCTION_ARGS)
{
	int64		timeout_ms;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("timeout must not be null")));
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(0);

		if (iv->month != 0 || iv->day != 0 || iv->time <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must be a positive interval of hours, minutes and seconds"),
					 errhint("The worker needs a moment to reach even a position already flushed, e.g. timeout => '10 s'.")));
		timeout_ms = iv->time / 1000;
	}
	PG_RETURN_LSN(es_wait_applied(timeout_ms));
}
