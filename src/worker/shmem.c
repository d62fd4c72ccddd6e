/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory of the launcher and the capture workers.
 *
 * One EsWorkerSlot per database that has (or may have) a worker; the
 * array has max_worker_processes entries, which bounds the number of
 * workers anyway.  The area is requested from shmem_request_hook and set
 * up from shmem_startup_hook, so it exists only when the library is in
 * shared_preload_libraries; without it es_shared stays NULL and the SQL
 * functions that need a worker say so.  See worker.h for the locking.
 *
 * src/worker/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "../stream/stream.h"
#include "worker.h"

EsShared   *es_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
es_shmem_size(void)
{
	return add_size(offsetof(EsShared, slots),
					mul_size(max_worker_processes, sizeof(EsWorkerSlot)));
}

static void
es_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(es_shmem_size());
	RequestAddinShmemSpace(es_wake_shmem_size());
	RequestNamedLWLockTranche("pg_eventstream", 1);
}

static void
es_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	es_shared = ShmemInitStruct("pg_eventstream", es_shmem_size(), &found);
	if (!found)
	{
		memset(es_shared, 0, es_shmem_size());
		es_shared->lock = &(GetNamedLWLockTranche("pg_eventstream"))->lock;
		ConditionVariableInit(&es_shared->progress_cv);
		ConditionVariableInit(&es_shared->events_cv);
		es_shared->nslots = max_worker_processes;
	}
	es_wake_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/* es_shmem_init installs the hooks; called from _PG_init when preloaded */
void
es_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = es_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = es_shmem_startup;
}

/* es_slot_find returns the slot of a database, or NULL; caller holds lock */
EsWorkerSlot *
es_slot_find(Oid dboid)
{
	int			i;

	for (i = 0; i < es_shared->nslots; i++)
	{
		if (es_shared->slots[i].dboid == dboid)
			return &es_shared->slots[i];
	}
	return NULL;
}

/*
 * es_slot_try_get returns the slot of a database, taking a free one if it
 * has none, or NULL if all are taken; the caller holds the lock
 * exclusively.
 */
EsWorkerSlot *
es_slot_try_get(Oid dboid)
{
	EsWorkerSlot *slot = es_slot_find(dboid);
	int			i;

	if (slot != NULL)
		return slot;
	for (i = 0; i < es_shared->nslots; i++)
	{
		slot = &es_shared->slots[i];
		if (slot->dboid == InvalidOid)
		{
			memset(slot, 0, sizeof(EsWorkerSlot));
			slot->dboid = dboid;
			return slot;
		}
	}
	return NULL;
}

/* es_slot_get is es_slot_try_get that raises an error when all are taken */
EsWorkerSlot *
es_slot_get(Oid dboid)
{
	EsWorkerSlot *slot = es_slot_try_get(dboid);

	if (slot != NULL)
		return slot;
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("too many databases with pg_eventstream"),
			 errhint("Raise max_worker_processes.")));
	return NULL;				/* keep compiler quiet */
}

/* es_wake_launcher sets the launcher's latch, if it runs */
void
es_wake_launcher(void)
{
	Latch	   *latch;

	if (es_shared == NULL)
		return;
	LWLockAcquire(es_shared->lock, LW_SHARED);
	latch = es_shared->launcher_latch;
	LWLockRelease(es_shared->lock);
	if (latch)
		SetLatch(latch);
}

/* es_wake_worker sets the latch of a database's worker, if it runs */
void
es_wake_worker(Oid dboid)
{
	EsWorkerSlot *slot;
	Latch	   *latch = NULL;

	if (es_shared == NULL)
		return;
	LWLockAcquire(es_shared->lock, LW_SHARED);
	slot = es_slot_find(dboid);
	if (slot != NULL)
		latch = slot->latch;
	LWLockRelease(es_shared->lock);
	if (latch)
		SetLatch(latch);
}

/*
 * es_want_sink_worker asks the launcher for the database's sink worker
 * (a sink was made, or the capture worker found sinks at its start); the
 * sink worker clears the wish when the last sink is gone
 */
void
es_want_sink_worker(Oid dboid)
{
	EsWorkerSlot *slot;
	Latch	   *latch = NULL;

	if (es_shared == NULL)
		return;
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	slot = es_slot_get(dboid);
	slot->sink_asks++;
	if (!slot->sink_wanted)
	{
		slot->sink_wanted = true;
		slot->sink_failures = 0;
		slot->sink_restart_at = 0;
	}
	latch = slot->sink_latch;
	LWLockRelease(es_shared->lock);
	if (latch)
		SetLatch(latch);
	es_wake_launcher();
}

/*
 * es_cv_wait sleeps on cv until done(arg) holds or the deadline passes,
 * and says which.  The worker broadcasts its condition variables, so this
 * is no sleep loop; the sleep is interruptible (cancel, statement_timeout).
 */
bool
es_cv_wait(ConditionVariable *cv, bool (*done) (void *arg), void *arg,
		   TimestampTz deadline)
{
	bool		ok;

	ConditionVariablePrepareToSleep(cv);
	for (;;)
	{
		TimestampTz now;

		if ((ok = done(arg)))
			break;
		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		(void) ConditionVariableTimedSleep(cv,
										   Min(TimestampDifferenceMilliseconds(now, deadline),
											   ES_CV_RECHECK_MS),
										   PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return ok;
}
