/*-------------------------------------------------------------------------
 *
 * wake.c
 *	  Waking the readers that wait for a stream's events, and no others.
 *
 * A poll that finds nothing sleeps until its stream has new events.  One
 * condition variable for all streams woke every waiter after every batch
 * of any stream; here shared memory holds ES_WAKE_SLOTS wake slots, each a
 * counter and a condition variable, and a stream (of a database) hashes to
 * one.  After the apply transaction commits, the worker bumps the counter
 * of each stream that got events and broadcasts its condition variable
 * (target.c's reset); a reader takes the counter before it looks at the
 * log and sleeps until it moves, so no wake-up is lost.  Streams that share
 * a slot wake each other's readers now and then, which costs a look at the
 * log, never an event.
 *
 * Memory: a fixed array in shared memory, reserved at server start by the
 * worker layer (src/worker/shmem.c calls the two functions below).
 * Locking: the counters are atomics; condition variables need none.
 *
 * src/stream/wake.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "stream.h"

#define ES_WAKE_SLOTS 1024
/* a sleeping reader looks again this often, in case (never seen) a wake-up was lost */
#define ES_WAKE_RECHECK_MS 10000

typedef struct EsWakeSlot
{
	pg_atomic_uint64 seq;
	ConditionVariable cv;
} EsWakeSlot;

static EsWakeSlot *wake_slots = NULL;

/* es_wake_shmem_size is the shared memory the wake slots need */
Size
es_wake_shmem_size(void)
{
	return mul_size(ES_WAKE_SLOTS, sizeof(EsWakeSlot));
}

/* es_wake_shmem_init attaches to (or makes) them; under AddinShmemInitLock */
void
es_wake_shmem_init(void)
{
	bool		found;
	int			i;

	wake_slots = ShmemInitStruct("pg_eventstream wake slots", es_wake_shmem_size(), &found);
	if (!found)
	{
		for (i = 0; i < ES_WAKE_SLOTS; i++)
		{
			pg_atomic_init_u64(&wake_slots[i].seq, 0);
			ConditionVariableInit(&wake_slots[i].cv);
		}
	}
}

static EsWakeSlot *
slot_of(Oid dboid, int32 stream_id)
{
	uint32		h = hash_combine(murmurhash32((uint32) dboid), murmurhash32((uint32) stream_id));

	return &wake_slots[h % ES_WAKE_SLOTS];
}

/*
 * es_stream_wake_seq is the wake counter of a stream of this database; 0
 * without shared memory (the library not preloaded)
 */
uint64
es_stream_wake_seq(int32 stream_id)
{
	if (wake_slots == NULL)
		return 0;
	return pg_atomic_read_u64(&slot_of(MyDatabaseId, stream_id)->seq);
}

/* es_stream_wake wakes the readers of a stream (after the commit) */
void
es_stream_wake(int32 stream_id)
{
	EsWakeSlot *slot;

	if (wake_slots == NULL)
		return;
	slot = slot_of(MyDatabaseId, stream_id);
	pg_atomic_fetch_add_u64(&slot->seq, 1);
	ConditionVariableBroadcast(&slot->cv);
}

/*
 * es_stream_wait sleeps until the stream's wake counter moves past seq or
 * the deadline passes; true if it moved.  Interruptible.
 */
bool
es_stream_wait(int32 stream_id, uint64 seq, TimestampTz deadline)
{
	EsWakeSlot *slot;
	bool		moved = false;

	if (wake_slots == NULL)
		return false;
	slot = slot_of(MyDatabaseId, stream_id);
	ConditionVariablePrepareToSleep(&slot->cv);
	for (;;)
	{
		TimestampTz now;

		if ((moved = pg_atomic_read_u64(&slot->seq) != seq))
			break;
		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		(void) ConditionVariableTimedSleep(&slot->cv,
										   Min(TimestampDifferenceMilliseconds(now, deadline),
											   ES_WAKE_RECHECK_MS),
										   PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return moved;
}
