/*-------------------------------------------------------------------------
 *
 * deliver.c
 *	  The sink worker: a database's sinks, delivered from the event log.
 *
 * Started by the launcher while the database has sinks (a sink made asks
 * for it, the capture worker asks again after a restart) and woken by the
 * capture worker after each batch that wrote events, or by a change of a
 * sink.  It is not the capture worker: a slow or failing receiver holds
 * back neither capture nor writers, only its own sink's partitions.
 *
 * Each loop, in one transaction: reload the sinks and their partitions,
 * and for every partition that is idle and due, read its next batch --
 * the next batch_size events of its keys after its position, read as the
 * sink's owner (row-level security applies; a table the owner may no
 * longer read stops the sink with last_error) -- record the batch's last
 * id (so that after a crash the same batch, under the same webhook-id, is
 * sent again) and start its request.  Then wait on the latch and curl's
 * sockets; a finished request is recorded in its own transaction:
 *	  2xx		the position moves past the batch
 *	  410		the sink is disabled, last_error says why
 *	  4xx		(of a batch of several) split in halves at once, to find
 *				the events the receiver refuses
 *	  else		retried after the schedule's next wait, +-20 %, or the
 *				receiver's Retry-After; after max_attempts the batch goes
 *				to dead letters and the position moves on
 * so delivery is at least once, in id order per key, and the position is
 * only ever moved by a committed transaction.
 *
 * src/sink/deliver.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "../common/as_owner.h"
#include "../common/version.h"
#include "../pg_eventstream.h"
#include "../worker/worker.h"
#include "sink_worker.h"



static EsWorkerSlot *my_slot = NULL;
static uint64 asks_seen = 0;	/* my_slot->sink_asks when the loop began */
static MemoryContext sinks_cxt = NULL;
static List *sinks = NIL;		/* Sink *, in sinks_cxt */

/* the longest the sink worker sleeps without being woken */
#define ES_SINK_NAP_MS 1000

static void
sink_worker_exit(int code, Datum arg)
{
	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	my_slot->sink_pid = 0;
	my_slot->sink_latch = NULL;
	LWLockRelease(es_shared->lock);
	ConditionVariableBroadcast(&es_shared->progress_cv);
}

/*
 * No sinks any more (or no extension): stop, and ask for no restart --
 * unless a sink was made since this loop began, which it did not see
 */
static void
stop_for_good(void)
{
	bool		stop;

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	stop = my_slot->sink_asks == asks_seen;
	if (stop)
		my_slot->sink_wanted = false;
	LWLockRelease(es_shared->lock);
	if (stop)
		proc_exit(0);
}

static void
note_asks(void)
{
	LWLockAcquire(es_shared->lock, LW_SHARED);
	asks_seen = my_slot->sink_asks;
	LWLockRelease(es_shared->lock);
}

static bool
drop_asked(void)
{
	bool		drop;

	LWLockAcquire(es_shared->lock, LW_SHARED);
	drop = my_slot->want == ES_WANT_DROP;
	LWLockRelease(es_shared->lock);
	return drop;
}

static void
begin_work(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * exec_kept runs one of this file's statements (sql: a string constant,
 * so its address names it) with a plan prepared once and kept: the worker
 * runs the same few statements for every request
 */
#define MAX_KEPT 32
static struct
{
	const char *sql;
	SPIPlanPtr	plan;
}			kept_plans[MAX_KEPT];

int
es_sink_exec(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls,
		  bool read_only, long count)
{
	int			i;

	for (i = 0; i < MAX_KEPT && kept_plans[i].sql != NULL; i++)
	{
		if (kept_plans[i].sql == sql)
			break;
	}
	if (i == MAX_KEPT)
		return SPI_execute_with_args(sql, nargs, types, args, nulls, read_only, count);
	if (kept_plans[i].sql == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare a statement of the sink worker: %s",
				 SPI_result_code_string(SPI_result));
		kept_plans[i].sql = sql;
		kept_plans[i].plan = plan;
	}
	return SPI_execute_plan(kept_plans[i].plan, args, nulls, read_only, count);
}

static Sink *
find_sink(int32 id)
{
	ListCell   *lc;

	foreach(lc, sinks)
	{
		Sink	   *s = lfirst(lc);

		if (s->id == id)
			return s;
	}
	return NULL;
}

void
es_sink_free_partition(Partition *p)
{
	es_webhook_free(p->req);
	free(p->msg_id);
	free(p->event_ids);
	p->req = NULL;
	p->msg_id = p->event_ids = NULL;
}

static void
free_sink(Sink *s)
{
	es_kafka_sink_free(s);
	for (int i = 0; i < s->nparts; i++)
		es_sink_free_partition(&s->parts[i]);
	es_sink_free_partition(&s->replay);
}

/* record something about a sink (its state, last error) */
void
es_sink_set_state(Sink *s, const char *state, const char *error)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3] = {Int32GetDatum(s->id), CStringGetTextDatum(state),
	error ? CStringGetTextDatum(error) : (Datum) 0};
	char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};

	if (error != NULL)
		s->error_shown = true;

	if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_catalog SET state = $2, last_error = $3 "
							  "WHERE id = $1 AND (state, coalesce(last_error, '')) "
							  "  IS DISTINCT FROM ($2, coalesce($3, ''))",
							  3, types, args, nulls, false, 0) < 0)
		elog(ERROR, "could not update a sink");
}

/*
 * Read the sinks and their partitions; false if there are none.  A sink
 * whose options changed is
 * made afresh (requests in flight for it are dropped: they are sent again
 * under the new options); positions always come from the catalog.
 */
static bool
load_sinks(void)
{
	ListCell   *lc;
	List	   *kept = NIL;
	SPITupleTable *tuptable;
	uint64		ntuples;
	uint64		i;

	foreach(lc, sinks)
		((Sink *) lfirst(lc))->seen = false;

	if (SPI_execute("SELECT s.id, s.name, s.stream_id, c.name, s.owner, s.state, s.options::text, "
					"  s.options, s.kind "
					"FROM " ES_SCHEMA ".sink_catalog s JOIN " ES_SCHEMA ".stream_catalog c "
					"  ON c.id = s.stream_id ORDER BY s.id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sink catalog");
	if (SPI_processed == 0)
	{
		SPITupleTable *none = SPI_tuptable;

		/* dropped ones go; stop if nothing was made meanwhile */
		foreach(lc, sinks)
			free_sink(lfirst(lc));
		list_free(sinks);
		sinks = NIL;
		SPI_freetuptable(none);
		return false;
	}
	tuptable = SPI_tuptable;	/* (set_sink below runs statements of its own) */
	ntuples = SPI_processed;
	for (i = 0; i < ntuples; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *options_text = SPI_getvalue(tup, desc, 7);
		Sink	   *s = find_sink(id);
		MemoryContext oldcxt;

		if (s != NULL && strcmp(s->options_text, options_text) != 0)
		{
			free_sink(s);
			sinks = list_delete_ptr(sinks, s);
			s = NULL;
		}
		if (s == NULL)
		{
			oldcxt = MemoryContextSwitchTo(sinks_cxt);
			s = palloc0(sizeof(Sink));
			s->id = id;
			s->cxt = sinks_cxt;
			s->options_text = pstrdup(options_text);
			s->name = pstrdup(SPI_getvalue(tup, desc, 2));
			s->stream_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
			s->stream = pstrdup(SPI_getvalue(tup, desc, 4));
			s->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
			/* checked when made; the host is checked again below */
			es_sink_parse_options(es_sink_kind(SPI_getvalue(tup, desc, 9)),
								  DatumGetJsonbP(SPI_getbinval(tup, desc, 8, &isnull)),
								  &s->opts, s->owner, false);
			s->nparts = s->opts.concurrency;
			s->parts = palloc0(sizeof(Partition) * s->nparts);
			for (int k = 0; k < s->nparts; k++)
			{
				s->parts[k].index = k;
				s->parts[k].sink = s;
			}
			s->replay.index = -1;
			s->replay.sink = s;
			sinks = lappend(sinks, s);
			MemoryContextSwitchTo(oldcxt);
		}
		strlcpy(s->state, SPI_getvalue(tup, desc, 6), sizeof(s->state));
		s->seen = true;
		if (strcmp(s->state, "disabled") != 0 && es_sink_host_refused(s->opts.hosts) != NULL)
		{
			es_sink_set_state(s, "disabled",
					 psprintf("eventstream.sink_allowed_hosts does not list host \"%s\"",
							  es_sink_host_refused(s->opts.hosts)));
			strlcpy(s->state, "disabled", sizeof(s->state));
		}
	}

	{
		MemoryContext oldcxt = MemoryContextSwitchTo(sinks_cxt);

		foreach(lc, sinks)
		{
			Sink	   *s = lfirst(lc);

			if (s->seen)
				kept = lappend(kept, s);
			else
				free_sink(s);	/* dropped */
		}
		list_free(sinks);
		sinks = kept;
		MemoryContextSwitchTo(oldcxt);
	}

	/* the partitions' committed state */
	if (SPI_execute("SELECT sink_id, partition, position, coalesce(batch_last, 0), attempts, "
					"  coalesce(next_attempt_at, '-infinity'), coalesce(failing_since, '-infinity') "
					"FROM " ES_SCHEMA ".sink_partitions", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sink partitions");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Sink	   *s = find_sink(DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull)));
		int			k = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		Partition  *p;

		if (s == NULL || k < 0 || k >= s->nparts)
			continue;
		p = &s->parts[k];
		if (p->req != NULL)
			continue;			/* in flight: ours is newer */
		p->position = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		p->batch_last = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		p->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		p->next_attempt_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
		p->failing_since = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
	}
	return true;
}

/*
 * how long until the next partition is due, at most the nap (0: a Kafka
 * sink has more to hand over at once)
 */
static long
next_due_ms(TimestampTz now)
{
	long		ms = ES_SINK_NAP_MS;
	ListCell   *lc;

	foreach(lc, sinks)
	{
		Sink	   *s = lfirst(lc);

		if (s->opts.kind == ES_SINK_KAFKA)
		{
			ms = es_kafka_sink_more(s) ? 0 : es_kafka_sink_next_due_ms(s, now, ms);
			continue;
		}
		for (int k = 0; k < s->nparts; k++)
		{
			Partition  *p = &s->parts[k];

			if (p->req == NULL && p->next_attempt_at > now)
				ms = Min(ms, TimestampDifferenceMilliseconds(now, p->next_attempt_at) + 1);
		}
	}
	return ms;
}

/*
 * Wait for the latch, curl's sockets and timer, the Kafka producers'
 * queues, or the next partition due; true if woken by the latch or the
 * nap (read the catalogs again), *kafka_ready if a producer has reports
 */
static bool
sink_wait(bool *kafka_ready)
{
	int			fds[64];
	int			nfds = 0;
	long		ms = next_due_ms(GetCurrentTimestamp());
	ListCell   *lc;

	foreach(lc, sinks)
	{
		Sink	   *s = lfirst(lc);

		if (s->opts.kind == ES_SINK_KAFKA && es_kafka_sink_fd(s) >= 0 && nfds < lengthof(fds))
			fds[nfds++] = es_kafka_sink_fd(s);
	}
	*kafka_ready = false;
	if (ms == 0)
	{
		/* a Kafka sink has more to hand over: a round, not a reload */
		(void) es_webhook_wait(0, PG_WAIT_EXTENSION, fds, nfds, kafka_ready);
		*kafka_ready = true;
		return false;
	}
	return es_webhook_wait(ms, PG_WAIT_EXTENSION, fds, nfds, kafka_ready);
}

/* es_sink_worker_main is the entry point of a database's sink worker */
void
es_sink_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		need_round;		/* a request ended: record it, start the next */
	bool		need_reload = true; /* latch or nap: read the catalogs again */
	bool		kafka_ready = false;	/* a producer has reports to serve */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
	my_slot = es_slot_find(dboid);
	if (my_slot == NULL || !my_slot->sink_wanted || my_slot->want == ES_WANT_DROP)
	{
		LWLockRelease(es_shared->lock);
		proc_exit(0);
	}
	my_slot->sink_pid = MyProcPid;
	my_slot->sink_latch = MyLatch;
	LWLockRelease(es_shared->lock);
	before_shmem_exit(sink_worker_exit, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("pg_eventstream sink worker");
	/* events' times in UTC, whatever the server's TimeZone */
	SetConfigOption("TimeZone", "UTC", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Its few statements run thousands of times a second with new ids:
	 * planned once (the log's segments are pruned at run time), not each time
	 */
	SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Never make DDL wait (DROP EXTENSION, drop_stream, retention): give up
	 * a lock before the deadlock check of whoever waits on us would fire;
	 * the launcher starts the worker again.
	 */
	SetConfigOption("lock_timeout", "100ms", PGC_SUSET, PGC_S_OVERRIDE);

	sinks_cxt = AllocSetContextCreate(TopMemoryContext, "pg_eventstream sinks",
									  ALLOCSET_DEFAULT_SIZES);
	es_webhook_init();
	ereport(LOG, (errmsg("pg_eventstream sink worker started for database %u", dboid)));

	for (;;)
	{
		TimestampTz now;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (drop_asked())
		{
			LWLockAcquire(es_shared->lock, LW_EXCLUSIVE);
			my_slot->sink_wanted = false;
			LWLockRelease(es_shared->lock);
			proc_exit(0);
		}

		/*
		 * One transaction records the requests that ended and starts the
		 * next batches; the catalogs are read again only when something
		 * else may have changed (the latch: new events, a sink changed; a
		 * retry fell due; the nap ran out), not on each of curl's wakes
		 */
		need_round = es_sink_any_done(sinks) || kafka_ready;
		if (need_round || need_reload)
		{
			note_asks();
			begin_work();
			/* (first: the catalog as of this snapshot, before our writes) */
			if (need_reload &&
				(!OidIsValid(get_extension_oid("pg_eventstream", true)) || !load_sinks()))
			{
				es_sink_finish_requests(sinks);
				end_work();
				stop_for_good();
				(void) es_webhook_wait(ES_SINK_NAP_MS, PG_WAIT_EXTENSION, NULL, 0, NULL);
				continue;
			}
			if (need_reload && !es_catalog_usable("sink worker"))
			{
				/* nothing recorded, nothing started until it is updated */
				end_work();
				(void) es_webhook_wait(ES_SINK_NAP_MS, PG_WAIT_EXTENSION, NULL, 0, NULL);
				continue;
			}
			es_sink_finish_requests(sinks);
			now = GetCurrentTimestamp();
			foreach(lc, sinks)
			{
				Sink	   *s = lfirst(lc);

				if (s->opts.kind == ES_SINK_KAFKA)
					es_kafka_sink_fill(s, now, need_reload);
				else
					es_sink_fill(s, now, need_reload);
			}
			end_work();
			pgstat_report_activity(STATE_IDLE, NULL);
			need_reload = false;
		}
		need_reload = sink_wait(&kafka_ready);
	}
}
