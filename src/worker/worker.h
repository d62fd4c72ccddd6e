/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The launcher, the per-database capture workers and their shared state.
 *
 *	  shmem.c		shared memory: one EsWorkerSlot per database
 *	  launcher.c	the launcher, and the hooks that tell it what to run
 *	  capture.c		a database's worker: slot, decoding loop, batches
 *	  flush.c		the worker's own WAL flushes, for asynchronous commits
 *	  hub.c			what the worker decodes, handed to each capture target (hub.h)
 *
 * Locking: EsShared->lock (an LWLock) protects every field of the slots
 * and launcher_latch.  A worker updates its own progress fields under the
 * lock and then broadcasts progress_cv, on which sync() waits.
 *
 * src/worker/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_WORKER_H
#define ES_WORKER_H

#include "access/xlogdefs.h"
#include "access/xlogreader.h"
#include "replication/origin.h"
#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

/* what a database's slot asks of the launcher */
typedef enum EsWorkerWant
{
	ES_WANT_NONE,				/* nothing: no worker for this database */
	ES_WANT_PROBE,				/* start a worker; it exits if no extension */
	ES_WANT_RUN,				/* the extension exists: keep a worker running */
	ES_WANT_DROP				/* DROP DATABASE: stop and drop the slot */
} EsWorkerWant;

typedef struct EsWorkerSlot
{
	Oid			dboid;			/* InvalidOid: slot unused */
	EsWorkerWant want;
	pid_t		pid;			/* running worker, or 0 */
	Latch	   *latch;			/* its latch, while running */
	char		state[32];		/* what the worker is doing */
	int			failures;		/* consecutive abnormal exits */
	TimestampTz restart_at;		/* earliest restart after a failure */

	/* progress, written by the worker */
	XLogRecPtr	applied_lsn;	/* everything before it is in the streams */
	TimestampTz caught_up_at;	/* last time it reached the end of WAL */
	TimestampTz last_batch_at;
	int64		events_total;	/* events written since start */
	double		events_per_sec; /* recent rate, decaying average */
	uint64		events_seq;		/* bumped after each batch that wrote events */

	/* the database's sink worker (src/sink), started while it has sinks */
	bool		sink_wanted;
	uint64		sink_asks;		/* bumped by each es_want_sink_worker */
	pid_t		sink_pid;
	Latch	   *sink_latch;		/* set when events are written or sinks change */
	int			sink_failures;
	TimestampTz sink_restart_at;
} EsWorkerSlot;

typedef struct EsShared
{
	LWLock	   *lock;
	Latch	   *launcher_latch;
	pid_t		launcher_pid;
	ConditionVariable progress_cv;
	ConditionVariable events_cv;	/* broadcast after a batch that wrote events */
	int			nslots;
	EsWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} EsShared;

extern EsShared *es_shared;

/* timing */
#define ES_LAUNCHER_NAP_MS		1000	/* the launcher's longest sleep */
#define ES_RESTART_FIRST_MS		1000	/* restart delay after a first failure, */
#define ES_RESTART_MAX_DOUBLINGS 6	/* doubled at each failure, */
#define ES_MAX_BACKOFF_MS		60000	/* up to a minute */
#define ES_START_RETRY_MS		5000	/* no free background worker: try again */
#define ES_WORKER_WAIT_MS		10000	/* the longest a backend waits for a worker
										 * to start (create_stream) or stop (DROP
										 * DATABASE) */
#define ES_CV_RECHECK_MS		1000	/* condition-variable waits look again */

/* shmem.c */
extern void es_shmem_init(void);
extern EsWorkerSlot *es_slot_find(Oid dboid);
extern EsWorkerSlot *es_slot_try_get(Oid dboid);
extern EsWorkerSlot *es_slot_get(Oid dboid);
extern void es_wake_launcher(void);
extern void es_wake_worker(Oid dboid);
extern void es_want_sink_worker(Oid dboid);
extern bool es_cv_wait(ConditionVariable *cv, bool (*done) (void *arg),
					   void *arg, TimestampTz deadline);

/* launcher.c */
extern void es_launcher_register(void);
extern void es_hooks_init(void);
extern void es_slot_name(Oid dboid, char *name);
extern void es_want_sink_worker_at_commit(void);
extern PGDLLEXPORT void es_launcher_main(Datum arg);

/* capture.c */
extern PGDLLEXPORT void es_worker_main(Datum arg);

/* slot.c: the slot and the origin of a database's worker */
typedef struct EsNewSlot
{
	XLogRecPtr	start;			/* the new slot decodes from here */
	XLogRecPtr	origin_reached; /* an earlier slot's origin had applied this */
	RepOriginId old_origin;		/* (its commits in between are the worker's, */
	TransactionId drop_xid;		/* and so is the one that dropped it) */
} EsNewSlot;

struct LogicalDecodingContext;
extern void es_slot_create(const char *name, EsNewSlot *info);
extern RepOriginId es_origin_setup(const char *name);
extern void es_slot_drop(const char *name, struct LogicalDecodingContext **ctx);

/* gap.c */
extern bool es_wal_has_commits(XLogRecPtr from, XLogRecPtr to, RepOriginId own,
							   TransactionId own_xid);
extern void es_record_gap(XLogRecPtr from, XLogRecPtr to, const char *reason);

/* caches.c */
extern void es_caches_init(void);
extern void es_caches_for_work(void);
extern void es_caches_for_decoding(void);
extern void es_caches_decoded(void);

/* flush.c */
/*
 * the worker flushes at most this often: at 10 ms a commit arriving just
 * after a flush waited up to 10 ms, most of the async p99 once batches got
 * cheap; an fsync here costs ~0.2 ms, and a worker that is behind never
 * flushes
 */
#define ES_SELF_FLUSH_MS 3
extern int	es_read_page_flushing(XLogReaderState *state, XLogRecPtr targetPagePtr,
								  int reqLen, XLogRecPtr targetRecPtr, char *cur_page);
extern XLogRecPtr es_flush_async_commits(TimestampTz *last_self_flush, XLogRecPtr flushed);
extern bool es_unflushed_wal(void);

#endif							/* ES_WORKER_H */
