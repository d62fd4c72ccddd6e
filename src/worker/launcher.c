/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher, which keeps one capture worker per database that has
 *	  the extension, and the hooks that tell it what to run.
 *
 * The launcher is a static background worker, registered from _PG_init
 * when the library is preloaded.  It connects to no database; at start it
 * asks for a "probe" of every database that accepts connections: a worker
 * that exits at once where the extension is not installed.  Later it only
 * starts workers it is asked for:
 *	  - CREATE EXTENSION calls eventstream._launch_worker(), whose commit
 *		callback asks for a worker (side effects wait for commit);
 *	  - CREATE DATABASE asks for a probe of the new database (its template
 *		may have had the extension);
 *	  - a worker that died while still wanted is restarted with exponential
 *		backoff (1 s, 2 s, 4 s ... at most 60 s).
 * DROP DATABASE is never blocked by the worker: a ProcessUtility hook stops
 * the database's worker and drops its slot and origin first -- but only
 * once the drop is sure to get past dropdb's own checks (ownership,
 * template, other slots, other sessions), so a drop that is refused never
 * costs the database its capture.
 *
 * src/worker/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_subscription.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "../pg_eventstream.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(eventstream_launch_worker);

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static bool launch_at_commit = false;
static bool sink_at_commit = false;
static bool xact_callback_registered = false;

/* launcher-local: the handle of each slot's capture worker and sink worker */
static BackgroundWorkerHandle **handles = NULL;
static BackgroundWorkerHandle **sink_handles = NULL;

/* es_launcher_register registers the launcher with the postmaster */
void
es_launcher_register(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_eventstream");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "es_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pg_eventstream launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pg_eventstream launcher");
	RegisterBackgroundWorker(&bgw);
}

/* ask for a probe of every database that accepts connections */
static void
probe_all_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		EsWorkerSlot *slot;

		if (!db->datallowconn || db->datistemplate)
			continue;
		slot = es_slot_get(db->oid);
		if (slot->want == ES_WANT_NONE)
			slot->want = ES_WANT_PROBE;
	}
	LWLockRelease(es_shared->lock);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Register a worker of this database -- the capture worker
 * (es_worker_main) or the sink worker (es_sink_worker_main) -- with the
 * launcher notified of its end; false if none could be registered
 */
static bool
register_worker(BackgroundWorkerHandle **handle, const char *function,
				const char *type, Oid dboid)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_eventstream");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s for database %u", type, dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", type);
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;

	return RegisterDynamicBackgroundWorker(&bgw, handle);
}

/*
 * The sink worker of slot i: notice its end, restart it with backoff
 * while sinks are wanted, start it when asked.  Lowers *sleep_ms to the
 * next restart.  The launcher holds no lock.
 */
static void
sink_pass(int i, TimestampTz now, long *sleep_ms)
{
	EsWorkerSlot *slot = &es_shared->slots[i];
	pid_t		pid;
	bool		start = false;
	Oid			dboid;

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	if (sink_handles[i] != NULL &&
		GetBackgroundWorkerPid(sink_handles[i], &pid) == BGWH_STOPPED)
	{
		pfree(sink_handles[i]);
		sink_handles[i] = NULL;
		slot->sink_pid = 0;
		slot->sink_latch = NULL;
		if (slot->sink_wanted)
		{
			int			delay = Min(ES_MAX_BACKOFF_MS,
									ES_RESTART_FIRST_MS << Min(slot->sink_failures,
															   ES_RESTART_MAX_DOUBLINGS));

			slot->sink_failures++;
			slot->sink_restart_at = TimestampTzPlusMilliseconds(now, delay);
			ereport(LOG,
					(errmsg("pg_eventstream sink worker for database %u exited, restarting in %d ms",
							slot->dboid, delay)));
		}
	}
	dboid = slot->dboid;
	if (sink_handles[i] == NULL && slot->sink_wanted && dboid != InvalidOid &&
		slot->want != ES_WANT_DROP)
	{
		if (slot->sink_restart_at > now)
			*sleep_ms = Min(*sleep_ms,
							TimestampDifferenceMilliseconds(now, slot->sink_restart_at) + 1);
		else
			start = true;
	}
	LWLockRelease(es_shared->lock);

	if (start && !register_worker(&sink_handles[i], "es_sink_worker_main",
										  "pg_eventstream sink worker", dboid))
	{
		LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
		slot->sink_restart_at = TimestampTzPlusMilliseconds(now, ES_START_RETRY_MS);
		LWLockRelease(es_shared->lock);
	}
}

/*
 * One pass over the slots: notice workers that ended, restart those still
 * wanted, start the ones asked for.  Returns how long to sleep at most.
 */
static long
launcher_pass(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = ES_LAUNCHER_NAP_MS;
	int			i;

	for (i = 0; i < es_shared->nslots; i++)
	{
		EsWorkerSlot *slot = &es_shared->slots[i];
		Oid			dboid;
		pid_t		pid;

		sink_pass(i, now, &sleep_ms);
		LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
		if (handles[i] != NULL &&
			GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED)
		{
			pfree(handles[i]);
			handles[i] = NULL;
			slot->pid = 0;
			slot->latch = NULL;
			if (slot->want == ES_WANT_RUN)
			{
				/* it died while still wanted: restart it, later each time */
				int			delay = Min(ES_MAX_BACKOFF_MS,
										ES_RESTART_FIRST_MS << Min(slot->failures, ES_RESTART_MAX_DOUBLINGS));

				slot->failures++;
				slot->restart_at = TimestampTzPlusMilliseconds(now, delay);
				ereport(LOG,
						(errmsg("pg_eventstream worker for database %u exited, restarting in %d ms",
								slot->dboid, delay)));
			}
		}

		dboid = slot->dboid;
		if (dboid == InvalidOid || handles[i] != NULL)
		{
			LWLockRelease(es_shared->lock);
			continue;
		}
		if (slot->want == ES_WANT_NONE)
		{
			/* free it, unless its sink worker still runs or is wanted */
			if (sink_handles[i] == NULL && !slot->sink_wanted)
				slot->dboid = InvalidOid;
			LWLockRelease(es_shared->lock);
			continue;
		}
		if (slot->want == ES_WANT_DROP)
		{
			LWLockRelease(es_shared->lock);
			continue;
		}
		if (slot->restart_at > now)
		{
			sleep_ms = Min(sleep_ms,
						   TimestampDifferenceMilliseconds(now, slot->restart_at) + 1);
			LWLockRelease(es_shared->lock);
			continue;
		}
		LWLockRelease(es_shared->lock);

		if (!register_worker(&handles[i], "es_worker_main", "pg_eventstream worker", dboid))
		{
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a pg_eventstream worker for database %u",
							dboid),
					 errhint("Raise max_worker_processes.")));
			LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
			slot->restart_at = TimestampTzPlusMilliseconds(now, ES_START_RETRY_MS);
			LWLockRelease(es_shared->lock);
		}
	}
	return sleep_ms;
}

/* es_launcher_main is the launcher's entry point */
void
es_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	handles = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(BackgroundWorkerHandle *) * es_shared->nslots);
	sink_handles = MemoryContextAllocZero(TopMemoryContext,
										  sizeof(BackgroundWorkerHandle *) * es_shared->nslots);

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	es_shared->launcher_latch = MyLatch;
	es_shared->launcher_pid = MyProcPid;
	LWLockRelease(es_shared->lock);

	probe_all_databases();

	for (;;)
	{
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		sleep_ms = launcher_pass();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------
 * Hooks in ordinary backends
 * ---------------------------------------------------------------------
 */

/* at commit, ask the launcher for this database's worker */
static void
launch_xact_callback(XactEvent event, void *arg)
{
	EsWorkerSlot *slot;

	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		launch_at_commit = sink_at_commit = false;
	if (event != XACT_EVENT_COMMIT)
		return;
	if (sink_at_commit)
	{
		sink_at_commit = false;
		es_want_sink_worker(MyDatabaseId);
	}
	if (!launch_at_commit)
		return;
	launch_at_commit = false;

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	/* a free slot was checked for before commit; no error is possible now */
	slot = es_slot_try_get(MyDatabaseId);
	if (slot != NULL)
	{
		slot->want = ES_WANT_RUN;
		slot->failures = 0;
		slot->restart_at = 0;
		slot->applied_lsn = InvalidXLogRecPtr;	/* a new slot is coming */
	}
	LWLockRelease(es_shared->lock);
	es_wake_launcher();
}

/*
 * eventstream._launch_worker() is called by the extension script: after
 * the CREATE EXTENSION commits, the launcher starts this database's worker.
 */
Datum
eventstream_launch_worker(PG_FUNCTION_ARGS)
{
	if (es_shared == NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_eventstream is not in shared_preload_libraries, so no worker will capture changes"),
				 errhint("Add pg_eventstream to shared_preload_libraries and restart the server.")));
		PG_RETURN_VOID();
	}
	/* fail now, not after commit, if no slot is free */
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	(void) es_slot_get(MyDatabaseId);
	LWLockRelease(es_shared->lock);

	if (!xact_callback_registered)
	{
		RegisterXactCallback(launch_xact_callback, NULL);
		xact_callback_registered = true;
	}
	launch_at_commit = true;
	PG_RETURN_VOID();
}

/*
 * es_want_sink_worker_at_commit: once this transaction commits (a sink
 * made or changed), start or wake the database's sink worker
 */
void
es_want_sink_worker_at_commit(void)
{
	if (es_shared == NULL)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(launch_xact_callback, NULL);
		xact_callback_registered = true;
	}
	sink_at_commit = true;
}

/* the names of a database's slot and origin */
void
es_slot_name(Oid dboid, char *name)
{
	snprintf(name, NAMEDATALEN, "eventstream_%u", dboid);
}

/* has the database's worker exited? */
static bool
worker_gone(void *arg)
{
	EsWorkerSlot *slot;
	pid_t		pid;

	LWLockAcquire(es_shared->lock, LW_SHARED);
	slot = es_slot_find(*(Oid *) arg);
	pid = slot ? slot->pid + slot->sink_pid : 0;
	LWLockRelease(es_shared->lock);
	return pid == 0;
}

/*
 * Before DROP DATABASE: stop the database's worker, whose slot and
 * connection would otherwise make the drop fail.  Returns whether a
 * worker was wanted, so that it can be asked for again if the drop fails.
 */
static bool
stop_worker(Oid dboid)
{
	EsWorkerSlot *slot;
	bool		wanted = false;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  ES_WORKER_WAIT_MS);

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	slot = es_slot_find(dboid);
	if (slot != NULL)
	{
		wanted = slot->want == ES_WANT_RUN || slot->want == ES_WANT_PROBE;
		slot->want = ES_WANT_DROP;
		if (slot->latch)
			SetLatch(slot->latch);
		if (slot->sink_latch)
			SetLatch(slot->sink_latch);
	}
	LWLockRelease(es_shared->lock);

	/* wait for the worker to release its slot */
	(void) es_cv_wait(&es_shared->progress_cv, worker_gone, &dboid, deadline);
	return wanted;
}

/* then drop the database's slot and origin */
static void
drop_slot(Oid dboid)
{
	char		name[NAMEDATALEN];

	es_slot_name(dboid, name);
	if (SearchNamedReplicationSlot(name, true) != NULL)
		ReplicationSlotDrop(name, false);
	replorigin_drop_by_name(name, true, false);
}

/*
 * Would DROP DATABASE of dboid get past the checks dropdb makes before it
 * drops anything?  Only then may the hook stop the worker and drop the
 * slot: a role that may not drop the database must not be able to stop
 * its capture.  (Other sessions connected are checked once the worker is
 * gone, in drop_blocked_by_sessions.)
 */
static bool
drop_would_proceed(Oid dboid, ProcessUtilityContext context)
{
	HeapTuple	tup;
	bool		istemplate;
	int			nslots;
	int			nactive;
	char		name[NAMEDATALEN];

	PreventInTransactionBlock(context == PROCESS_UTILITY_TOPLEVEL, "DROP DATABASE");
	if (!pg_database_ownercheck(dboid, GetUserId()) || dboid == MyDatabaseId)
		return false;
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (!HeapTupleIsValid(tup))
		return false;
	istemplate = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);
	if (istemplate || CountDBSubscriptions(dboid) > 0)
		return false;
	/* another logical slot in the database makes the drop fail */
	ReplicationSlotsCountDBSlots(dboid, &nslots, &nactive);
	es_slot_name(dboid, name);
	if (nslots > (SearchNamedReplicationSlot(name, true) != NULL ? 1 : 0))
		return false;
	return true;
}

/* without FORCE, dropdb refuses while others use the database */
static bool
drop_blocked_by_sessions(DropdbStmt *stmt, Oid dboid)
{
	ListCell   *lc;
	int			nbackends;
	int			nprepared;

	foreach(lc, stmt->options)
		if (strcmp(lfirst_node(DefElem, lc)->defname, "force") == 0)
			return false;
	return CountOtherDBBackends(dboid, &nbackends, &nprepared);
}

/* let a database's worker run again, as it was wanted before */
static void
restore_want(Oid dboid, bool was_wanted)
{
	EsWorkerSlot *slot;

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	slot = es_slot_find(dboid);
	if (slot != NULL)
		slot->want = was_wanted ? ES_WANT_RUN : ES_WANT_NONE;
	LWLockRelease(es_shared->lock);
	es_wake_launcher();
}

static void
es_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			dropped = InvalidOid;
	bool		was_wanted = false;

	if (es_shared != NULL && IsA(parsetree, DropdbStmt))
	{
		dropped = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
		if (OidIsValid(dropped) && !drop_would_proceed(dropped, context))
			dropped = InvalidOid;	/* dropdb will refuse: leave capture be */
		if (OidIsValid(dropped))
		{
			was_wanted = stop_worker(dropped);
			if (drop_blocked_by_sessions((DropdbStmt *) parsetree, dropped))
			{
				restore_want(dropped, was_wanted);
				dropped = InvalidOid;
			}
			else
				drop_slot(dropped);
		}
	}

	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		/* the database stays: let its worker run again */
		if (OidIsValid(dropped))
			restore_want(dropped, was_wanted);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (OidIsValid(dropped))
	{
		EsWorkerSlot *slot;

		LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
		slot = es_slot_find(dropped);
		if (slot != NULL)
			slot->want = ES_WANT_NONE;
		LWLockRelease(es_shared->lock);
		es_wake_launcher();
	}
	else if (es_shared != NULL && IsA(parsetree, CreatedbStmt))
	{
		Oid			created = get_database_oid(((CreatedbStmt *) parsetree)->dbname, true);

		if (OidIsValid(created))
		{
			EsWorkerSlot *slot;

			LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
			/* the database exists now: with no free slot, skip the probe */
			slot = es_slot_try_get(created);
			if (slot != NULL && slot->want == ES_WANT_NONE)
				slot->want = ES_WANT_PROBE;
			LWLockRelease(es_shared->lock);
			es_wake_launcher();
		}
	}
}

/*
 * After a transaction that wrote commits, wake this database's worker, so
 * that it decodes the change now rather than after its nap (as a commit
 * wakes the walsenders).  Only a latch is set: the writer never waits.
 */
static void
wake_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && es_shared != NULL &&
		TransactionIdIsValid(GetTopTransactionIdIfAny()) &&
		MyBackendType == B_BACKEND)
		es_wake_worker(MyDatabaseId);
}

/* es_hooks_init installs the ProcessUtility hook and the commit wake-up */
void
es_hooks_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = es_ProcessUtility;
	RegisterXactCallback(wake_xact_callback, NULL);
}
