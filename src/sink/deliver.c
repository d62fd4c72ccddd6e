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
#include "../pg_eventstream.h"
#include "../worker/worker.h"
#include "sink.h"
#include "webhook.h"

typedef struct Partition
{
	int			index;
	int64		position;		/* committed: delivered or dead-lettered */
	int64		batch_last;		/* the batch being sent (or to resend), or 0 */
	int			attempts;
	TimestampTz next_attempt_at;	/* 0: now */
	EsWebhookRequest *req;		/* in flight, or NULL */
	int			nevents;		/* of the request */
	int			limit;			/* events per request while a refused batch
								 * is being split (0: batch_size) */
	char	   *msg_id;			/* webhook-id of the request (malloc'd) */
	char	   *event_ids;		/* '{id,...}' of the request (malloc'd) */
	struct Sink *sink;
} Partition;

typedef struct Sink
{
	int32		id;
	char	   *name;
	int32		stream_id;
	char	   *stream;
	Oid			owner;
	char		state[16];		/* running, paused, retrying, disabled */
	char	   *options_text;	/* to notice a change */
	EsSinkOptions opts;
	int			nparts;
	Partition  *parts;
	Partition	replay;			/* a dead letter sent again (index -1) */
	int64		replay_id;		/* its dead_letter_catalog id */
	bool		seen;			/* still in the catalog at the last load */
} Sink;

static void replay_one(Sink *s);

static EsWorkerSlot *my_slot = NULL;
static uint64 asks_seen = 0;	/* my_slot->sink_asks when the loop began */
static MemoryContext sinks_cxt = NULL;
static List *sinks = NIL;		/* Sink *, in sinks_cxt */

/* the longest the sink worker sleeps without being woken */
#define ES_SINK_NAP_MS 1000
/* the most events one pass reads for a sink */
#define ES_SINK_READ_MAX 20000

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

static int
exec_kept(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls,
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

static void
free_partition(Partition *p)
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
	for (int i = 0; i < s->nparts; i++)
		free_partition(&s->parts[i]);
	free_partition(&s->replay);
}

/* record something about a sink (its state, last error) */
static void
set_sink(Sink *s, const char *state, const char *error)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3] = {Int32GetDatum(s->id), CStringGetTextDatum(state),
	error ? CStringGetTextDatum(error) : (Datum) 0};
	char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};

	if (exec_kept("UPDATE " ES_SCHEMA ".sink_catalog SET state = $2, last_error = $3 "
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
					"  s.options "
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
			s->options_text = pstrdup(options_text);
			s->name = pstrdup(SPI_getvalue(tup, desc, 2));
			s->stream_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
			s->stream = pstrdup(SPI_getvalue(tup, desc, 4));
			s->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
			/* checked when made; the host is checked again below */
			es_sink_parse_options(DatumGetJsonbP(SPI_getbinval(tup, desc, 8, &isnull)),
								  &s->opts, false);
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
		if (strcmp(s->state, "disabled") != 0 && !es_sink_host_allowed(s->opts.host))
		{
			set_sink(s, "disabled",
					 psprintf("eventstream.sink_allowed_hosts does not list host \"%s\"", s->opts.host));
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
					"  coalesce(next_attempt_at, '-infinity') "
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
	}
	return true;
}

/*
 * May the sink's owner still read every table of its stream?  If not,
 * the sink delivers nothing, and says why.
 */
static bool
owner_may_read(Sink *s)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(s->stream_id)};
	EsOwnerContext cx;
	char	   *table = NULL;

	es_become_owner(&cx, s->owner, 0);
	if (exec_kept("SELECT " ES_SCHEMA "._unreadable_table($1)::text",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check a sink owner's rights");
	if (SPI_processed > 0)
		table = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	es_end_owner(&cx);
	if (table != NULL)
	{
		set_sink(s, s->state, psprintf("the owner of sink \"%s\" may no longer read table %s: nothing is delivered",
									   s->name, table));
		return false;
	}
	return true;
}

/* start the request of one partition's batch, from SPI's rows */
static void
start_request(Sink *s, Partition *p, StringInfo body, StringInfo ids,
			  int nevents, int64 first, int64 last)
{
	List	   *headers = list_copy(s->opts.headers);
	char		msg_id[96];
	int64		ts = (int64) time(NULL);

	snprintf(msg_id, sizeof(msg_id), "msg_%d_" INT64_FORMAT "_" INT64_FORMAT, s->id, first, last);
	headers = lappend(headers, "Content-Type: application/json");
	headers = lappend(headers, psprintf("webhook-id: %s", msg_id));
	headers = lappend(headers, psprintf("webhook-timestamp: " INT64_FORMAT, ts));
	if (s->opts.secret_len > 0)
	{
		StringInfoData sig;

		initStringInfo(&sig);
		appendStringInfoString(&sig, "webhook-signature: ");
		es_sink_sign(&sig, s->opts.secret, s->opts.secret_len, msg_id, ts,
					 body->data, body->len);
		headers = lappend(headers, sig.data);
	}
	p->req = es_webhook_post(s->opts.url, headers, body->data, body->len,
							 s->opts.timeout_ms, p);
	p->nevents = nevents;
	p->batch_last = last;
	p->msg_id = strdup(msg_id);
	p->event_ids = strdup(ids->data);
}

/*
 * Read and send the next batch of every idle, due partition of a sink:
 * one scan of the log's ids after the lowest of their positions, then the
 * JSON of just the events chosen, both as the owner.  check_rights: make
 * sure first that the owner may still read the stream.
 */
static void
fill_sink(Sink *s, TimestampTz now, bool check_rights)
{
	int64		low = PG_INT64_MAX;
	int			nidle = 0;
	int			k;
	EsOwnerContext cx;
	StringInfoData *bodies;
	StringInfoData *ids;
	StringInfoData chosen;
	int		   *counts;
	int64	   *firsts;
	int64	   *lasts;
	int		   *part_of;
	int64	   *id_of;
	int			nchosen = 0;
	uint64		i;

	if (strcmp(s->state, "running") != 0 && strcmp(s->state, "retrying") != 0)
		return;
	for (k = 0; k < s->nparts; k++)
	{
		Partition  *p = &s->parts[k];

		if (p->req == NULL && p->next_attempt_at <= now)
		{
			low = Min(low, p->position);
			nidle++;
		}
	}
	if (nidle == 0 || (check_rights && !owner_may_read(s)))
		return;

	es_become_owner(&cx, s->owner, 0);
	{
		Oid			types[5] = {TEXTOID, INT4OID, INT8OID, INT4OID, INT8OID};
		Datum		args[5] = {CStringGetTextDatum(s->stream), Int32GetDatum(s->stream_id),
			Int64GetDatum(low), Int32GetDatum(s->nparts),
		Int64GetDatum(Min((int64) nidle * s->opts.batch_size * 4 + 64, ES_SINK_READ_MAX))};

		/* ids are dense in a stream: the range bounds any plan's reading */
		if (exec_kept("SELECT e.id, " ES_SCHEMA ".partition_of(e.key, e.id, $4) "
								  "FROM " ES_SCHEMA "._events($1, $2, $3) e "
								  "WHERE e.id <= $3 + $5 ORDER BY e.id LIMIT $5",
								  5, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the events of sink \"%s\"", s->name);
	}
	es_end_owner(&cx);

	bodies = palloc0(sizeof(StringInfoData) * s->nparts);
	ids = palloc0(sizeof(StringInfoData) * s->nparts);
	counts = palloc0(sizeof(int) * s->nparts);
	firsts = palloc0(sizeof(int64) * s->nparts);
	lasts = palloc0(sizeof(int64) * s->nparts);
	part_of = palloc(sizeof(int) * Max(SPI_processed, 1));
	id_of = palloc(sizeof(int64) * Max(SPI_processed, 1));
	initStringInfo(&chosen);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		int			part = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		Partition  *p = &s->parts[part];

		if (p->req != NULL || p->next_attempt_at > now || id <= p->position ||
			counts[part] >= (p->limit > 0 ? p->limit : s->opts.batch_size) ||
			(p->batch_last > 0 && id > p->batch_last))
			continue;
		if (counts[part] == 0)
		{
			initStringInfo(&bodies[part]);
			initStringInfo(&ids[part]);
			firsts[part] = id;
		}
		appendStringInfo(&ids[part], "%s" INT64_FORMAT, counts[part] ? "," : "{", id);
		appendStringInfo(&chosen, "%s" INT64_FORMAT, nchosen ? "," : "{", id);
		part_of[nchosen] = part;
		id_of[nchosen++] = id;
		counts[part]++;
		lasts[part] = id;
	}

	/*
	 * A partition that found nothing has no event up to what was read: it
	 * moves there (a committed position like any other), so partitions
	 * without events never hold back the reads, nor the sink's position
	 */
	if (SPI_processed > 0)
	{
		int64		read_to;
		bool		isnull;
		StringInfoData empty;

		read_to = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[SPI_processed - 1],
											  SPI_tuptable->tupdesc, 1, &isnull));
		initStringInfo(&empty);
		for (k = 0; k < s->nparts; k++)
		{
			Partition  *p = &s->parts[k];

			if (counts[k] == 0 && p->req == NULL && p->next_attempt_at <= now &&
				p->batch_last == 0 && p->position < read_to)
			{
				appendStringInfo(&empty, "%s%d", empty.len ? "," : "{", k);
				p->position = read_to;
			}
		}
		if (empty.len > 0)
		{
			Oid			types[3] = {INT4OID, TEXTOID, INT8OID};
			Datum		args[3];

			appendStringInfoChar(&empty, '}');
			args[0] = Int32GetDatum(s->id);
			args[1] = CStringGetTextDatum(empty.data);
			args[2] = Int64GetDatum(read_to);
			if (exec_kept("UPDATE " ES_SCHEMA ".sink_partitions SET position = $3 "
									  "WHERE sink_id = $1 AND partition = ANY ($2::int[]) "
									  "  AND position < $3 AND batch_last IS NULL",
									  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not move an empty sink partition");
		}
	}

	/* the chosen events, as JSON, in id order (as they were chosen) */
	if (nchosen > 0)
	{
		Oid			types[4] = {TEXTOID, INT4OID, INT8OID, TEXTOID};
		Datum		args[4];
		int			j = 0;

		appendStringInfoChar(&chosen, '}');
		args[0] = CStringGetTextDatum(s->stream);
		args[1] = Int32GetDatum(s->stream_id);
		args[2] = Int64GetDatum(low);
		args[3] = CStringGetTextDatum(chosen.data);
		es_become_owner(&cx, s->owner, 0);
		if (exec_kept("SELECT e.id, pg_catalog.row_to_json(e)::text "
								  "FROM " ES_SCHEMA "._events($1, $2, $3) e "
								  "WHERE e.id = ANY ($4::bigint[]) ORDER BY e.id",
								  4, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the events of sink \"%s\"", s->name);
		es_end_owner(&cx);
		for (i = 0; i < SPI_processed && j < nchosen; i++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1, &isnull));
			int			part;

			while (j < nchosen && id_of[j] < id)
				j++;		/* (cannot happen: one snapshot) */
			if (j == nchosen || id_of[j] != id)
				continue;
			part = part_of[j++];
			appendStringInfoString(&bodies[part], bodies[part].len ? "," : "");
			appendStringInfoString(&bodies[part],
								   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		}
	}

	for (k = 0; k < s->nparts; k++)
	{
		Partition  *p = &s->parts[k];
		StringInfoData body;
		Oid			types[3] = {INT4OID, INT4OID, INT8OID};
		Datum		args[3];

		if (counts[k] == 0)
			continue;
		appendStringInfoChar(&ids[k], '}');
		initStringInfo(&body);
		if (s->opts.batch_size > 1)
			appendStringInfo(&body, "[%s]", bodies[k].data);
		else
			appendStringInfoString(&body, bodies[k].data);

		/* the batch is fixed until it is delivered, across crashes too */
		args[0] = Int32GetDatum(s->id);
		args[1] = Int32GetDatum(k);
		args[2] = Int64GetDatum(lasts[k]);
		if (exec_kept("UPDATE " ES_SCHEMA ".sink_partitions SET batch_last = $3 "
								  "WHERE sink_id = $1 AND partition = $2",
								  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update a sink partition");
		start_request(s, p, &body, &ids[k], counts[k], firsts[k], lasts[k]);
	}
	replay_one(s);
}

/*
 * Send again the oldest dead letter queued by replay_dead_letters, one at
 * a time per sink, outside the partitions' order (they moved on)
 */
static void
replay_one(Sink *s)
{
	Oid			types[4] = {INT4OID, TEXTOID, INT4OID, INT8ARRAYOID};
	Datum		args[4];
	EsOwnerContext cx;
	StringInfoData body;
	StringInfoData ids;
	Datum		event_ids;
	bool		isnull;
	int64		first = 0;
	int64		last = 0;
	uint64		i;

	if (s->replay.req != NULL)
		return;
	args[0] = Int32GetDatum(s->id);
	if (exec_kept("SELECT id, event_ids FROM " ES_SCHEMA ".dead_letter_catalog "
							  "WHERE sink_id = $1 AND replay ORDER BY id LIMIT 1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dead letters");
	if (SPI_processed == 0)
		return;
	s->replay_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	event_ids = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull),
								  false, -1);

	es_become_owner(&cx, s->owner, 0);
	args[1] = CStringGetTextDatum(s->stream);
	args[2] = Int32GetDatum(s->stream_id);
	args[3] = event_ids;
	if (exec_kept("SELECT e.id, pg_catalog.row_to_json(e)::text "
							  "FROM " ES_SCHEMA "._events($2, $3, 0) e WHERE e.id = ANY ($4) "
							  "ORDER BY e.id", 4, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the events of a dead letter");
	es_end_owner(&cx);

	if (SPI_processed == 0)
	{
		Oid			dtypes[1] = {INT8OID};
		Datum		dargs[1] = {Int64GetDatum(s->replay_id)};

		/* retention dropped them: nothing to send, say so */
		if (exec_kept("UPDATE " ES_SCHEMA ".dead_letter_catalog SET replay = false, "
								  "  last_error = 'its events are no longer in the log' WHERE id = $1",
								  1, dtypes, dargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update a dead letter");
		return;
	}
	initStringInfo(&body);
	initStringInfo(&ids);
	if (SPI_processed > 1 || s->opts.batch_size > 1)
		appendStringInfoChar(&body, '[');
	for (i = 0; i < SPI_processed; i++)
	{
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (i == 0)
			first = id;
		last = id;
		appendStringInfoString(&body, i ? "," : "");
		appendStringInfoString(&body, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		appendStringInfo(&ids, "%s" INT64_FORMAT, i ? "," : "{", id);
	}
	if (SPI_processed > 1 || s->opts.batch_size > 1)
		appendStringInfoChar(&body, ']');
	appendStringInfoChar(&ids, '}');
	start_request(s, &s->replay, &body, &ids, (int) SPI_processed, first, last);
}

/* record a replayed dead letter's answer: delivered, or back in the list */
static void
finish_replay(Sink *s, Partition *p)
{
	EsWebhookRequest *req = p->req;
	Oid			types[4] = {INT8OID, INT4OID, TEXTOID, TEXTOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	args[0] = Int64GetDatum(s->replay_id);
	args[1] = Int32GetDatum((int32) req->status);
	args[2] = req->error[0] ? CStringGetTextDatum(req->error) :
		CStringGetTextDatum(psprintf("HTTP %ld from %s", req->status, s->opts.url));
	args[3] = CStringGetTextDatum(req->response);
	if (req->status >= 200 && req->status < 300)
	{
		if (exec_kept("DELETE FROM " ES_SCHEMA ".dead_letter_catalog WHERE id = $1",
								  1, types, args, nulls, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not remove a replayed dead letter");
	}
	else if (exec_kept("UPDATE " ES_SCHEMA ".dead_letter_catalog SET replay = false, "
								   "  attempts = attempts + 1, last_status = $2, last_error = $3, "
								   "  response = $4, failed_at = now() WHERE id = $1",
								   4, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update a dead letter");
}

/* the wait before attempt n + 1 (after n failures), with +-20 % jitter */
static int64
retry_wait_ms(Sink *s, Partition *p)
{
	int			step = Min(p->attempts - 1, s->opts.nschedule - 1);
	double		jitter = 0.8 + 0.4 * pg_prng_double(&pg_global_prng_state);

	if (p->req->retry_after_s >= 0 &&
		(p->req->status == 429 || p->req->status == 503))
		return (int64) p->req->retry_after_s * 1000;
	return (int64) (s->opts.schedule_ms[Max(step, 0)] * jitter);
}

/* record a finished request, in the caller's transaction */
static void
finish_request(Sink *s, Partition *p)
{
	EsWebhookRequest *req = p->req;
	bool		ok = req->status >= 200 && req->status < 300;
	Oid			types[7] = {INT4OID, INT4OID, INT8OID, INT4OID, TEXTOID, INT4OID, TEXTOID};
	Datum		args[7];
	char		nulls[7] = "       ";
	char	   *error = NULL;

	args[0] = Int32GetDatum(s->id);
	args[1] = Int32GetDatum(p->index);
	args[2] = Int64GetDatum(p->batch_last);
	args[3] = Int32GetDatum((int32) req->status);
	args[5] = Int32GetDatum(p->nevents);
	args[6] = CStringGetTextDatum(req->response);
	if (!ok)
		error = req->error[0] ? psprintf("%s (%s)", req->error, s->opts.url) :
			psprintf("HTTP %ld from %s", req->status, s->opts.url);
	args[4] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[4] = error ? ' ' : 'n';

	if (ok)
	{
		if (exec_kept("UPDATE " ES_SCHEMA ".sink_partitions SET position = $3, "
								  "  batch_last = NULL, attempts = 0, next_attempt_at = NULL, "
								  "  last_status = $4, last_error = NULL, delivered = delivered + $6 "
								  "WHERE sink_id = $1 AND partition = $2",
								  7, types, args, nulls, false, 0) != SPI_OK_UPDATE ||
			exec_kept("UPDATE " ES_SCHEMA ".sink_catalog SET last_success = now(), "
					  "  state = CASE WHEN state = 'retrying' THEN 'running' ELSE state END, "
					  "  last_error = NULL WHERE id = $1 AND (last_success IS NULL "
					  "  OR last_success < now() - interval '1 s' OR state = 'retrying' "
					  "  OR last_error IS NOT NULL)",
								  1, types, args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record a delivery");
		p->position = p->batch_last;
		p->batch_last = 0;
		p->attempts = 0;
		p->next_attempt_at = 0;
		/* past the refused events: grow back to batch_size */
		if (p->limit > 0)
			p->limit = p->limit * 2 >= s->opts.batch_size ? 0 : p->limit * 2;
		return;
	}

	if (req->status == 410)
	{
		/* the receiver is gone for good: stop, keep the position */
		set_sink(s, "disabled", psprintf("%s: the receiver answered 410 Gone", error));
		strlcpy(s->state, "disabled", sizeof(s->state));
		return;
	}

	/*
	 * A batch the receiver refuses (4xx, but for a timeout or too many
	 * requests) is split, at once, to find the events it refuses: only
	 * those reach dead letters.  The halves are new batches (new ids).
	 */
	if (req->status >= 400 && req->status < 500 && req->status != 408 &&
		req->status != 429 && p->nevents > 1)
	{
		Oid			stypes[2] = {INT4OID, INT4OID};

		p->limit = p->nevents / 2;
		p->batch_last = 0;
		if (exec_kept("UPDATE " ES_SCHEMA ".sink_partitions SET batch_last = NULL "
								  "WHERE sink_id = $1 AND partition = $2",
								  2, stypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update a sink partition");
		return;
	}

	p->attempts++;
	if (p->attempts >= s->opts.max_attempts)
	{
		Oid			dtypes[7] = {INT4OID, TEXTOID, INT4OID, INT4OID, TEXTOID, TEXTOID, INT8OID};
		Datum		dargs[7] = {Int32GetDatum(s->id), CStringGetTextDatum(p->event_ids),
			Int32GetDatum(p->attempts), Int32GetDatum((int32) req->status),
		args[4], args[6], Int64GetDatum(p->batch_last)};
		char		dnulls[7] = {' ', ' ', ' ', ' ', nulls[4], ' ', ' '};

		if (exec_kept("INSERT INTO " ES_SCHEMA ".dead_letter_catalog "
								  "(sink_id, event_ids, attempts, last_status, last_error, response) "
								  "VALUES ($1, $2::bigint[], $3, $4, $5, $6)",
								  6, dtypes, dargs, dnulls, false, 0) != SPI_OK_INSERT ||
			exec_kept("UPDATE " ES_SCHEMA ".sink_partitions SET position = $3, "
								  "  batch_last = NULL, attempts = 0, next_attempt_at = NULL, "
								  "  last_status = $4, last_error = $5, failed = failed + 1, "
								  "  dead_lettered = dead_lettered + $6 "
								  "WHERE sink_id = $1 AND partition = $2",
								  7, types, args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record dead letters");
		p->position = p->batch_last;
		p->batch_last = 0;
		p->attempts = 0;
		p->next_attempt_at = 0;
		return;
	}

	p->next_attempt_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 retry_wait_ms(s, p));
	{
		Oid			rtypes[5] = {INT4OID, INT4OID, INT4OID, TEXTOID, TIMESTAMPTZOID};
		Datum		rargs[5] = {args[0], args[1], Int32GetDatum((int32) req->status), args[4],
		TimestampTzGetDatum(p->next_attempt_at)};

		if (exec_kept("UPDATE " ES_SCHEMA ".sink_partitions SET attempts = attempts + 1, "
								  "  next_attempt_at = $5, last_status = $3, last_error = $4, "
								  "  failed = failed + 1 "
								  "WHERE sink_id = $1 AND partition = $2",
								  5, rtypes, rargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record a failed delivery");
	}
	set_sink(s, "retrying", error);
	strlcpy(s->state, "retrying", sizeof(s->state));
}

/* has a request finished? */
static bool
any_done(void)
{
	ListCell   *lc;

	foreach(lc, sinks)
	{
		Sink	   *s = lfirst(lc);

		for (int k = -1; k < s->nparts; k++)
		{
			Partition  *p = k < 0 ? &s->replay : &s->parts[k];

			if (p->req != NULL && p->req->done)
				return true;
		}
	}
	return false;
}

/* record every finished request, in the caller's transaction */
static void
finish_requests(void)
{
	ListCell   *lc;

	foreach(lc, sinks)
	{
		Sink	   *s = lfirst(lc);

		for (int k = -1; k < s->nparts; k++)
		{
			Partition  *p = k < 0 ? &s->replay : &s->parts[k];

			if (p->req == NULL || !p->req->done)
				continue;
			if (k < 0)
				finish_replay(s, p);
			else
				finish_request(s, p);
			free_partition(p);
		}
	}
}

/* how long until the next partition is due, at most the nap */
static long
next_due_ms(TimestampTz now)
{
	long		ms = ES_SINK_NAP_MS;
	ListCell   *lc;

	foreach(lc, sinks)
	{
		Sink	   *s = lfirst(lc);

		for (int k = 0; k < s->nparts; k++)
		{
			Partition  *p = &s->parts[k];

			if (p->req == NULL && p->next_attempt_at > now)
				ms = Min(ms, TimestampDifferenceMilliseconds(now, p->next_attempt_at) + 1);
		}
	}
	return ms;
}

/* es_sink_worker_main is the entry point of a database's sink worker */
void
es_sink_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		need_round;		/* a request ended: record it, start the next */
	bool		need_reload = true; /* latch or nap: read the catalogs again */

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
		 * The catalogs are read and batches started only when something
		 * may have changed -- a request ended, the latch (new events, a
		 * sink changed), a retry fell due, the nap ran out -- not on each
		 * of curl's socket wakes
		 */
		/*
		 * One transaction records the requests that ended and starts the
		 * next batches; the catalogs are read again only when something
		 * else may have changed (the latch: new events, a sink changed; a
		 * retry fell due; the nap ran out), not on each of curl's wakes
		 */
		need_round = any_done();
		if (need_round || need_reload)
		{
			note_asks();
			begin_work();
			/* (first: the catalog as of this snapshot, before our writes) */
			if (need_reload &&
				(!OidIsValid(get_extension_oid("pg_eventstream", true)) || !load_sinks()))
			{
				finish_requests();
				end_work();
				stop_for_good();
				(void) es_webhook_wait(ES_SINK_NAP_MS, PG_WAIT_EXTENSION);
				continue;
			}
			finish_requests();
			now = GetCurrentTimestamp();
			foreach(lc, sinks)
				fill_sink(lfirst(lc), now, need_reload);
			end_work();
			pgstat_report_activity(STATE_IDLE, NULL);
			need_reload = false;
		}
		need_reload = es_webhook_wait(next_due_ms(GetCurrentTimestamp()), PG_WAIT_EXTENSION);
	}
}
