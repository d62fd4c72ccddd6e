/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  A database's capture worker: decode once, append to the event log.
 *
 * The worker owns the logical slot and replication origin named
 * eventstream_<database oid>.  Like a walsender, it keeps one decoding
 * context for its whole life (recreated only when definitions change) and
 * decodes in-process, with the pg_eventstream output plugin's callbacks
 * handing events to the hub (hub.c) rather than to a client; the hub feeds
 * each capture target -- the streams' event log, the aggregates.
 *
 * Exactly once: each loop decodes whole transactions up to a record
 * boundary into a batch, then one apply transaction writes the batch into
 * the log and sets the origin's progress to the end of the last record
 * decoded; the slot is confirmed to that position only after the commit.
 * After a crash the slot may be behind the origin, never ahead: the
 * decoding context then starts at the origin's position, skipping the
 * transactions already applied.  The worker's own transactions carry its
 * origin and are filtered out, so its writes never re-enter a stream.
 *
 * The worker exits (and its launcher does not restart it) when the
 * extension is dropped -- it then drops its slot and origin -- or when
 * DROP DATABASE asks it to; any other exit is a failure, restarted with
 * backoff by the launcher.
 *
 * src/worker/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "nodes/makefuncs.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "../common/version.h"
#include "../pg_eventstream.h"
#include "hub.h"
#include "worker.h"

/* the longest a non-empty batch waits for more events, for latency */
#define ES_BATCH_MAX_MS 200
/* records decoded between two looks at the clock */
#define ES_BATCH_CLOCK_RECORDS 1000
/* the window of the events_per_sec rate */
#define ES_RATE_WINDOW_MS 1000
/* the least time between two warnings of a slot holding back WAL */
#define ES_LAG_WARNING_EVERY_MS 60000

typedef struct CaptureState
{
	Oid			dboid;
	char		name[NAMEDATALEN];	/* of the slot and the origin */
	RepOriginId origin;
	MemoryContext cxt;
	ResourceOwner owner;
	EsHub	   *hub;			/* what decoding feeds */
	LogicalDecodingContext *ctx;

	TimestampTz last_self_flush;	/* see es_flush_async_commits */

	/* statistics */
	TimestampTz window_start;
	int64		window_events;
	TimestampTz last_lag_warning;
	TimestampTz last_retention;

	EsNewSlot	new_slot;		/* a slot made at start: where, and after what */
} CaptureState;

static EsWorkerSlot *my_slot = NULL;

/* set the state shown in eventstream.status */
static void
set_state(const char *state)
{
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	strlcpy(my_slot->state, state, sizeof(my_slot->state));
	LWLockRelease(es_shared->lock);
	pgstat_report_activity(STATE_RUNNING, state);
}

/* at exit: leave the slot and wake whoever waits on it */
static void
worker_exit(int code, Datum arg)
{
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	my_slot->pid = 0;
	my_slot->latch = NULL;
	strlcpy(my_slot->state, "stopped", sizeof(my_slot->state));
	LWLockRelease(es_shared->lock);
	ConditionVariableBroadcast(&es_shared->progress_cv);
}

static EsWorkerWant
current_want(void)
{
	EsWorkerWant want;

	LWLockAcquire(es_shared->lock, LW_SHARED);
	want = my_slot->want;
	LWLockRelease(es_shared->lock);
	return want;
}

static void
set_want(EsWorkerWant want)
{
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	if (my_slot->want != ES_WANT_DROP)
		my_slot->want = want;
	LWLockRelease(es_shared->lock);
}

/*
 * Open a transaction for the worker's own work (apply, checks, retention),
 * with caches that hold the present (caches.c)
 */
static void
begin_work(void)
{
	SetCurrentStatementStartTimestamp();	/* now() is this transaction's */
	StartTransactionCommand();
	es_caches_for_work();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_work(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

static bool
extension_exists(void)
{
	return OidIsValid(get_extension_oid("pg_eventstream", true));
}

/*
 * The extension is not (or no longer) installed: drop the slot and origin
 * if there are any, and exit for good.
 */
static void
drop_and_exit(CaptureState *cs)
{
	bool		had_slot = SearchNamedReplicationSlot(cs->name, true) != NULL;

	set_state("dropping slot");
	es_slot_drop(cs->name, &cs->ctx);
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	my_slot->applied_lsn = InvalidXLogRecPtr;	/* no slot: not ready */
	LWLockRelease(es_shared->lock);
	set_want(ES_WANT_NONE);

	/*
	 * A CREATE EXTENSION that committed since we looked has asked for a
	 * worker, perhaps before we said we want none: ask again
	 */
	StartTransactionCommand();
	if (extension_exists())
		set_want(ES_WANT_RUN);
	CommitTransactionCommand();
	ereport(had_slot ? LOG : DEBUG1,
			(errmsg("pg_eventstream worker for database %u stopped: the extension is not installed",
					cs->dboid)));
	proc_exit(0);
}

/* create the slot if the database has none yet; true if it did */
static bool
ensure_slot(CaptureState *cs)
{
	if (SearchNamedReplicationSlot(cs->name, true) != NULL)
		return false;
	set_state("creating slot");
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	my_slot->applied_lsn = InvalidXLogRecPtr;
	LWLockRelease(es_shared->lock);
	es_slot_create(cs->name, &cs->new_slot);
	return true;
}

/* the output plugin never writes for the hub; these are never called */
static void
no_prepare_write(LogicalDecodingContext *ctx, XLogRecPtr lsn,
				 TransactionId xid, bool last_write)
{
}

static void
no_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid,
		 bool last_write)
{
}

static DefElem *
option(const char *name, const char *value)
{
	return makeDefElem(pstrdup(name), (Node *) makeString(pstrdup(value)), -1);
}

/*
 * CreateDecodingContext marks this process PROC_IN_LOGICAL_DECODING, as it
 * would a walsender.  Other backends' snapshots then leave this process's
 * xid out as if it were not running -- harmless for a walsender, which
 * never writes, but this worker writes the log: a reader scanning a row of
 * a batch still being applied would take its transaction for aborted and
 * mark the row so for good (HEAP_XMIN_INVALID).  The flag only keeps the
 * process's xmin out of the horizons, and the worker holds no snapshot
 * while it decodes, so it is simply cleared.
 */
static void
leave_decoding_status(void)
{
	LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
	MyProc->statusFlags &= ~PROC_IN_LOGICAL_DECODING;
	ProcGlobal->statusFlags[MyProc->pgxactoff] = MyProc->statusFlags;
	LWLockRelease(ProcArrayLock);
}

/*
 * Load the stream definitions and start decoding at the origin's
 * position: everything before it is in the log already.
 */
static void
start_decoding(CaptureState *cs)
{
	MemoryContext oldcxt;
	List	   *options;
	XLogRecPtr	start;

	char	   *tables;
	char	   *prefixes;

	begin_work();
	if (!extension_exists())
	{
		end_work();
		drop_and_exit(cs);
	}
	es_hub_load(cs->hub, &tables, &prefixes);
	end_work();

	oldcxt = MemoryContextSwitchTo(cs->cxt);
	options = list_make2(option("tables", tables),
						 option("publish-via-root", "true"));
	if (prefixes[0] != '\0')
		options = lappend(lappend(options, option("messages", "true")),
						  option("message-prefixes", prefixes));

	CurrentResourceOwner = cs->owner;
	ReplicationSlotAcquire(cs->name, true);
	start = replorigin_get_progress(cs->origin, false);
	es_capture_receiver = &cs->hub->receiver;
	cs->ctx = CreateDecodingContext(start, options, false,
									XL_ROUTINE(.page_read = es_read_page_flushing,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									no_prepare_write, no_write, NULL);
	XLogBeginRead(cs->ctx->reader, MyReplicationSlot->data.restart_lsn);
	MemoryContextSwitchTo(oldcxt);
	leave_decoding_status();
}

/* stop decoding, so that the next loop starts again with new definitions */
static void
stop_decoding(CaptureState *cs)
{
	if (cs->ctx != NULL)
		FreeDecodingContext(cs->ctx);
	cs->ctx = NULL;
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
}

/*
 * Decode whole transactions into the batch until it is full, definitions
 * changed, it has waited long enough, or the WAL flushed so far is read
 * (flushing it first when only asynchronous commits are left).  Returns
 * true when the end of the WAL was reached.
 */
static bool
decode_batch(CaptureState *cs)
{
	LogicalDecodingContext *ctx = cs->ctx;
	XLogRecPtr	end_of_wal = GetFlushRecPtr(NULL);
	TimestampTz started = GetCurrentTimestamp();
	int			records = 0;
	bool		at_end = true;

	CurrentResourceOwner = cs->owner;
	if (ctx->reader->EndRecPtr >= end_of_wal)
		end_of_wal = es_flush_async_commits(&cs->last_self_flush, end_of_wal);
	if (ctx->reader->EndRecPtr >= end_of_wal)
		return true;

	es_caches_for_decoding();
	while (ctx->reader->EndRecPtr < end_of_wal)
	{
		XLogRecord *record;
		char	   *errm = NULL;

		record = XLogReadRecord(ctx->reader, &errm);
		if (errm)
			elog(ERROR, "could not find record for logical decoding: %s", errm);
		if (record != NULL)
			LogicalDecodingProcessRecord(ctx, ctx->reader);

		/* every record boundary is a transaction boundary for the batch */
		if (cs->hub->nchanges >= es_batch_size || cs->hub->defs_changed ||
			(cs->hub->nchanges > 0 && (++records % ES_BATCH_CLOCK_RECORDS) == 0 &&
			 TimestampDifferenceExceeds(started, GetCurrentTimestamp(),
										ES_BATCH_MAX_MS)))
		{
			at_end = false;
			break;
		}
		CHECK_FOR_INTERRUPTS();
	}
	es_caches_decoded();
	return at_end;
}

/* publish progress for eventstream.status and sync() */
static void
report_progress(CaptureState *cs, XLogRecPtr applied, int64 written,
				bool caught_up)
{
	TimestampTz now = GetCurrentTimestamp();
	double		rate = -1;
	Latch	   *sink_latch;

	cs->window_events += written;
	if (TimestampDifferenceExceeds(cs->window_start, now, ES_RATE_WINDOW_MS))
	{
		long		secs;
		int			usecs;

		TimestampDifference(cs->window_start, now, &secs, &usecs);
		rate = cs->window_events / (secs + usecs / 1000000.0);
		cs->window_start = now;
		cs->window_events = 0;
	}

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	sink_latch = my_slot->sink_latch;
	if (applied > my_slot->applied_lsn)
		my_slot->applied_lsn = applied;
	if (caught_up)
		my_slot->caught_up_at = now;
	if (written > 0)
		my_slot->last_batch_at = now;
	my_slot->events_total += written;
	if (written > 0)
		my_slot->events_seq++;
	if (rate >= 0)
		my_slot->events_per_sec = rate;
	my_slot->failures = 0;
	LWLockRelease(es_shared->lock);
	ConditionVariableBroadcast(&es_shared->progress_cv);
	if (written > 0)
	{
		ConditionVariableBroadcast(&es_shared->events_cv);
		if (sink_latch != NULL)
			SetLatch(sink_latch);	/* the sinks have more to deliver */
	}
}

/* the apply transaction: the batch into every target, and the origin */
static int64
apply_once(CaptureState *cs, XLogRecPtr upto, bool careful)
{
	int64		written;

	begin_work();
	written = es_hub_apply(cs->hub, careful);
	replorigin_session_origin_lsn = upto;
	replorigin_session_origin_timestamp = cs->hub->last_commit_time;
	end_work();
	replorigin_session_origin_lsn = InvalidXLogRecPtr;
	replorigin_session_origin_timestamp = 0;
	return written;
}

/*
 * Write the batch and the origin's progress in one transaction.  If that
 * fails, try once more carefully (see es_apply_batch): an event that cannot be
 * stored must not stop capture.  An error that persists is the worker's
 * exit, and the launcher restarts it.
 */
static int64
apply_batch(CaptureState *cs, XLogRecPtr upto)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile int64 written = 0;
	volatile bool failed = false;

	set_state("applying");
	begin_work();
	if (!extension_exists())
	{
		end_work();
		drop_and_exit(cs);
	}
	es_hub_prepare(cs->hub);
	end_work();

	PG_TRY();
	{
		written = apply_once(cs, upto, false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		CurrentResourceOwner = cs->owner;
		replorigin_session_origin_lsn = InvalidXLogRecPtr;
		replorigin_session_origin_timestamp = 0;
		ereport(LOG,
				(errmsg("pg_eventstream could not apply a batch: %s", edata->message),
				 errdetail("Applying it again event by event.")));
		FreeErrorData(edata);
		failed = true;
	}
	PG_END_TRY();
	if (failed)
		written = apply_once(cs, upto, true);
	return written;
}

/* warn, at most once a minute, when the slot holds back much WAL */
static void
check_lag(CaptureState *cs)
{
	XLogRecPtr	restart = MyReplicationSlot->data.restart_lsn;
	uint64		retained = GetXLogInsertRecPtr() - restart;
	TimestampTz now = GetCurrentTimestamp();

	if (es_lag_warning_mb == 0 ||
		retained < (uint64) es_lag_warning_mb * 1024 * 1024 ||
		!TimestampDifferenceExceeds(cs->last_lag_warning, now, ES_LAG_WARNING_EVERY_MS))
		return;
	cs->last_lag_warning = now;
	ereport(WARNING,
			(errmsg("pg_eventstream slot \"%s\" retains %llu MB of WAL",
					cs->name, (unsigned long long) (retained / (1024 * 1024))),
			 errdetail("The worker is behind, or failing; the WAL it still needs cannot be removed."),
			 errhint("Check eventstream.status and the server log.")));
}

/* drop segments past their stream's retention, now and then */
static void
maybe_apply_retention(CaptureState *cs)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!TimestampDifferenceExceeds(cs->last_retention, now,
									es_retention_interval_s * 1000))
		return;
	cs->last_retention = now;
	set_state("retention");
	begin_work();
	if (extension_exists())
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT " ES_SCHEMA "._apply_retention()", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not apply retention");
		SPI_finish();
	}
	end_work();
}

/*
 * Join the database's slot in shared memory and connect; exit at once if
 * the launcher no longer wants a worker there.
 */
static void
attach(CaptureState *cs)
{
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	my_slot = es_slot_find(cs->dboid);
	if (my_slot == NULL || my_slot->want == ES_WANT_DROP ||
		my_slot->want == ES_WANT_NONE)
	{
		LWLockRelease(es_shared->lock);
		proc_exit(0);
	}
	my_slot->pid = MyProcPid;
	my_slot->latch = MyLatch;
	LWLockRelease(es_shared->lock);
	before_shmem_exit(worker_exit, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(cs->dboid, InvalidOid, 0);
	pgstat_report_appname("pg_eventstream worker");

	/*
	 * The worker's statements are planned afresh for each batch, so JIT
	 * would compile each of them again, and loading LLVM alone adds tens of
	 * megabytes to the process.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	set_state("starting");
}

/* after a restart: the database's sinks need their worker again */
static void
ask_for_sink_worker(CaptureState *cs)
{
	bool		any;

	begin_work();
	if (!OidIsValid(get_relname_relid("sink_catalog", get_namespace_oid(ES_SCHEMA, true))))
	{
		end_work();				/* a catalog of before sinks */
		return;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT EXISTS (SELECT 1 FROM " ES_SCHEMA ".sink_catalog)", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sink catalog");
	{
		bool		isnull;

		any = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	end_work();
	if (any)
		es_want_sink_worker(cs->dboid);
}

/*
 * sleep until woken or naptime passes -- or ES_SELF_FLUSH_MS when WAL
 * waits to be flushed (es_flush_async_commits, flush.c)
 */
static void
nap(void)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 es_unflushed_wal() ? Min(es_naptime_ms, ES_SELF_FLUSH_MS) : es_naptime_ms,
					 PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/*
 * Wait while the database's catalog is a version this library does not
 * know (common/version.c): nothing is decoded, so nothing is lost -- the
 * slot keeps the WAL until ALTER EXTENSION UPDATE or the right library.
 * Leaves the decoding context, if any, stopped when it waits.
 */
static void
wait_for_known_catalog(CaptureState *cs)
{
	for (;;)
	{
		bool		usable;

		begin_work();
		if (!extension_exists())
		{
			end_work();
			drop_and_exit(cs);
		}
		usable = es_catalog_usable("capture worker");
		end_work();
		if (usable)
			return;
		if (cs->ctx != NULL)
			stop_decoding(cs);
		set_state("waiting: catalog version");
		nap();
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

/*
 * Make sure the extension is here, then the slot, the origin and the hub;
 * with a new slot, what was defined before it takes everything decoded.
 */
static void
set_up(CaptureState *cs)
{
	bool		new_slot;

	cs->cxt = AllocSetContextCreate(TopMemoryContext, "pg_eventstream worker",
									ALLOCSET_DEFAULT_SIZES);
	cs->owner = ResourceOwnerCreate(NULL, "pg_eventstream worker");

	/* a probe: is the extension here at all? */
	StartTransactionCommand();
	if (!extension_exists())
	{
		CommitTransactionCommand();
		drop_and_exit(cs);
	}
	CommitTransactionCommand();
	set_want(ES_WANT_RUN);

	CurrentResourceOwner = cs->owner;
	es_caches_init();
	wait_for_known_catalog(cs);
	new_slot = ensure_slot(cs);
	cs->origin = es_origin_setup(cs->name);

	StartTransactionCommand();	/* the targets' state looks up types */
	cs->hub = es_hub_create(cs->cxt, cs->origin);
	CommitTransactionCommand();
	ask_for_sink_worker(cs);
	if (new_slot)
	{
		/* with the origin set: these writes are not decoded */
		begin_work();
		es_hub_activate_all(cs->hub);
		if (!XLogRecPtrIsInvalid(cs->new_slot.origin_reached) &&
			es_wal_has_commits(cs->new_slot.origin_reached, cs->new_slot.start,
							   cs->new_slot.old_origin, cs->new_slot.drop_xid))
			es_record_gap(cs->new_slot.origin_reached, cs->new_slot.start, "new slot");
		end_work();
	}
	cs->window_start = GetCurrentTimestamp();
	cs->last_retention = GetCurrentTimestamp();
}


/*
 * One round of the loop: decode a batch, apply it, confirm the slot, and
 * when caught up let the targets start background work.  Returns true when
 * caught up with nothing started, so the worker may sleep.
 */
static bool
capture_round(CaptureState *cs)
{
	bool		caught_up;
	bool		pending;
	XLogRecPtr	upto;
	int64		written = 0;

	if (cs->ctx == NULL)
		start_decoding(cs);

	set_state("decoding");
	caught_up = decode_batch(cs);
	upto = cs->ctx->reader->EndRecPtr;

	pending = es_hub_pending(cs->hub);
	if (pending)
		written = apply_batch(cs, upto);

	/* only now, after the commit, may the slot move on */
	if (upto != InvalidXLogRecPtr)
	{
		LogicalConfirmReceivedLocation(upto);
		ReplicationSlotMarkDirty();
	}
	report_progress(cs, upto, written, caught_up);
	check_lag(cs);

	if (cs->hub->defs_changed)
		stop_decoding(cs);
	es_hub_reset(cs->hub);

	/* caught up: check the extension is still there, and its version known */
	if (caught_up && !pending)
		wait_for_known_catalog(cs);

	if (caught_up && cs->ctx != NULL)
	{
		bool		started;

		set_state("backfilling");
		begin_work();
		started = es_hub_idle(cs->hub, cs->ctx->output_plugin_private);
		end_work();
		if (started)
			caught_up = false;	/* decode what it started at once */
	}
	return caught_up;
}

/* es_worker_main is the entry point of a database's capture worker */
void
es_worker_main(Datum arg)
{
	CaptureState cs;

	memset(&cs, 0, sizeof(cs));
	cs.dboid = DatumGetObjectId(arg);
	es_slot_name(cs.dboid, cs.name);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	attach(&cs);
	set_up(&cs);
	ereport(LOG,
			(errmsg("pg_eventstream worker started for database %u", cs.dboid)));

	for (;;)
	{
		bool		idle;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (current_want() == ES_WANT_DROP)
		{
			/* DROP DATABASE drops the slot once we are gone */
			stop_decoding(&cs);
			proc_exit(0);
		}
		if (!es_enabled)
		{
			set_state("paused");
			nap();
			continue;
		}

		idle = capture_round(&cs);
		maybe_apply_retention(&cs);
		if (idle)
		{
			set_state("idle");
			nap();
		}
	}
}
