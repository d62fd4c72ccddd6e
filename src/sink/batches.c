/*-------------------------------------------------------------------------
 *
 * batches.c
 *	  The sink worker's reads: the next batch of each idle partition, read
 *	  as the sink's owner, recorded (its last id) and sent; and dead letters
 *	  queued for replay.
 *
 * A pass reads the ids (and their partitions) of the next events after
 * the lowest position of the idle partitions -- a range of ids, dense in a
 * stream, so no plan reads the backlog -- chooses each partition's batch,
 * moves the partitions that found nothing past what was read, and only
 * then reads the chosen events as JSON.
 *
 * src/sink/batches.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "../common/as_owner.h"
#include "../pg_eventstream.h"
#include "sink_worker.h"
#include "values.h"

static void replay_one(Sink *s);

/* a partition's next request, as it is built */
typedef struct Batch
{
	StringInfoData body;		/* the events, comma-separated */
	StringInfoData ids;			/* '{id,...}' of them */
	int			count;
	int64		first;
	int64		last;			/* the last event it covers (sent or not) */
	int			oversized;		/* events it covers that went to dead letters */
	bool		full;			/* max_bytes reached: no more events */
	TimestampTz oldest_commit;	/* of its events (for the latency) */
} Batch;

/*
 * Record an event too large for any request (max_bytes) in dead letters,
 * once (its batch may be made again after a crash)
 */
static void
dead_letter_oversized(Sink *s, int64 id, int size)
{
	Oid			types[3] = {INT4OID, INT8OID, TEXTOID};
	Datum		args[3] = {Int32GetDatum(s->id), Int64GetDatum(id),
		CStringGetTextDatum(psprintf("the event is %d bytes, more than max_bytes (%d): never sent",
									 size, s->opts.max_bytes))};

	if (es_sink_exec("INSERT INTO " ES_SCHEMA ".dead_letter_catalog "
					 "(sink_id, event_ids, attempts, last_error) "
					 "SELECT $1, ARRAY[$2], 0, $3 WHERE NOT EXISTS ("
					 "  SELECT 1 FROM " ES_SCHEMA ".dead_letter_catalog "
					 "  WHERE sink_id = $1 AND event_ids = ARRAY[$2])",
					 3, types, args, NULL, false, 0) < 0)
		elog(ERROR, "could not record a dead letter");
}

/*
 * Add an event to its partition's batch, unless the batch would pass
 * max_bytes (then the batch ends before it); an event larger than
 * max_bytes on its own goes to dead letters and the batch covers it
 */
static void
add_to_batch(Sink *s, Batch *b, const EsLogEvent *ev, StringInfo one)
{
	if (b->full)
		return;
	resetStringInfo(one);
	es_sink_write_value(one, s->opts.format, ev);
	if (one->len > s->opts.max_bytes)
	{
		dead_letter_oversized(s, ev->id, one->len);
		b->oversized++;
		b->last = ev->id;
		return;
	}
	if (b->count > 0 && b->body.len + one->len + 3 > s->opts.max_bytes)
	{
		b->full = true;
		return;
	}
	if (b->count == 0)
	{
		initStringInfo(&b->body);
		initStringInfo(&b->ids);
		b->first = ev->id;
	}
	appendStringInfoString(&b->body, b->count ? "," : "");
	appendBinaryStringInfo(&b->body, one->data, one->len);
	appendStringInfo(&b->ids, "%s" INT64_FORMAT, b->count ? "," : "{", ev->id);
	b->count++;
	b->last = ev->id;
	/* the batch's oldest commit: its latency when delivered */
	if (ev->has_time && (b->oldest_commit == 0 || ev->commit_time < b->oldest_commit))
		b->oldest_commit = ev->commit_time;
}

/*
 * es_sink_owner_may_read: may the sink's owner still read every table of its stream?  If not,
 * the sink delivers nothing, and says why.
 */
bool
es_sink_owner_may_read(Sink *s)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(s->stream_id)};
	EsOwnerContext cx;
	char	   *table = NULL;

	es_become_owner(&cx, s->owner, 0);
	if (es_sink_exec("SELECT " ES_SCHEMA "._unreadable_table($1)::text",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check a sink owner's rights");
	if (SPI_processed > 0)
		table = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	es_end_owner(&cx);
	if (table != NULL)
	{
		es_sink_set_state(s, s->state, psprintf("the owner of sink \"%s\" may no longer read table %s: nothing is delivered",
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
	StringInfoData gz;
	char		msg_id[96];
	int64		ts = (int64) time(NULL);

	snprintf(msg_id, sizeof(msg_id), "msg_%d_" INT64_FORMAT "_" INT64_FORMAT, s->id, first, last);
	headers = lappend(headers, psprintf("Content-Type: %s",
										es_sink_content_type(s->opts.format, nevents > 1 ||
															 s->opts.batch_size > 1)));
	headers = lappend(headers, psprintf("webhook-id: %s", msg_id));
	headers = lappend(headers, psprintf("webhook-timestamp: " INT64_FORMAT, ts));
	if (s->opts.secret_len > 0)
	{
		StringInfoData sig;

		initStringInfo(&sig);
		appendStringInfoString(&sig, "webhook-signature: ");
		es_sink_sign(&sig, s->opts.secret, s->opts.secret_len, msg_id, ts,
					 body->data, body->len);
		/* rotating: both signatures, space-separated, the new one first */
		if (s->opts.previous_secret_len > 0)
		{
			appendStringInfoChar(&sig, ' ');
			es_sink_sign(&sig, s->opts.previous_secret, s->opts.previous_secret_len,
						 msg_id, ts, body->data, body->len);
		}
		headers = lappend(headers, sig.data);
	}
	if (s->opts.gzip)
	{
		/* (signed above as JSON: the receiver checks what it decompressed) */
		initStringInfo(&gz);
		es_webhook_gzip(body->data, body->len, &gz);
		headers = lappend(headers, "Content-Encoding: gzip");
		body = &gz;
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
void
es_sink_fill(Sink *s, TimestampTz now, bool check_rights)
{
	int64		low = PG_INT64_MAX;
	int			nidle = 0;
	int			k;
	EsOwnerContext cx;
	Batch	   *b;
	StringInfoData one;
	int		   *counts;
	int		   *part_of;
	int64	   *id_of;
	int			nchosen = 0;
	int64		limit;
	int64		need_to = 0;	/* the last id of a batch to send again */
	int64		read_to = 0;
	bool		read_all;
	uint64		i;

	if (strcmp(s->state, "running") != 0 && strcmp(s->state, "retrying") != 0)
		return;
	for (k = 0; k < s->nparts; k++)
	{
		Partition  *p = &s->parts[k];

		if (p->req == NULL && p->next_attempt_at <= now)
		{
			low = Min(low, p->position);
			need_to = Max(need_to, p->batch_last);
			nidle++;
		}
	}
	if (nidle == 0 || (check_rights && !es_sink_owner_may_read(s)))
		return;

	/*
	 * A batch recorded before (a retry, or a resend after a crash) goes
	 * again exactly, under its webhook-id: the read reaches its last id, or
	 * the batch waits for a round whose read does
	 */
	limit = Min(Max((int64) nidle * s->opts.batch_size * 4 + 64, need_to - low), ES_SINK_READ_MAX);
	es_become_owner(&cx, s->owner, 0);
	{
		Oid			types[5] = {TEXTOID, INT4OID, INT8OID, INT4OID, INT8OID};
		Datum		args[5] = {CStringGetTextDatum(s->stream), Int32GetDatum(s->stream_id),
			Int64GetDatum(low), Int32GetDatum(s->nparts), Int64GetDatum(limit)};

		/* ids are dense in a stream: the range bounds any plan's reading */
		if (es_sink_exec("SELECT e.id, " ES_SCHEMA ".partition_of(e.key, e.id, $4) "
								  "FROM " ES_SCHEMA "._events($1, $2, $3) e "
								  "WHERE e.id <= $3 + $5 ORDER BY e.id LIMIT $5",
								  5, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the events of sink \"%s\"", s->name);
	}
	es_end_owner(&cx);

	b = palloc0(sizeof(Batch) * s->nparts);
	initStringInfo(&one);
	counts = palloc0(sizeof(int) * s->nparts);
	part_of = palloc(sizeof(int) * Max(SPI_processed, 1));
	id_of = palloc(sizeof(int64) * Max(SPI_processed, 1));
	read_all = SPI_processed < (uint64) limit;
	if (SPI_processed > 0)
	{
		bool		isnull;

		read_to = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[SPI_processed - 1],
											  SPI_tuptable->tupdesc, 1, &isnull));
	}
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
			(p->batch_last > 0 && (id > p->batch_last || (!read_all && read_to < p->batch_last))))
			continue;
		part_of[nchosen] = part;
		id_of[nchosen++] = id;
		counts[part]++;
	}

	/*
	 * A partition that found nothing has no event up to what was read: it
	 * moves there (a committed position like any other), so partitions
	 * without events never hold back the reads, nor the sink's position
	 */
	if (SPI_processed > 0)
	{
		StringInfoData empty;

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
			if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET position = $3 "
									  "WHERE sink_id = $1 AND partition = ANY ($2::int[]) "
									  "  AND position < $3 AND batch_last IS NULL",
									  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not move an empty sink partition");
		}
	}

	/* the chosen events, as JSON, in id order (as they were chosen) */
	if (nchosen > 0)
	{
		Oid			types[5] = {TEXTOID, INT4OID, INT8OID, INT8ARRAYOID, INT8OID};
		Datum		args[5];
		Datum	   *elems = palloc(sizeof(Datum) * nchosen);
		int			j = 0;

		/* (an int8[] parameter: a text one would be parsed for every row) */
		for (j = 0; j < nchosen; j++)
			elems[j] = Int64GetDatum(id_of[j]);
		j = 0;
		args[0] = CStringGetTextDatum(s->stream);
		args[1] = Int32GetDatum(s->stream_id);
		args[2] = Int64GetDatum(low);
		args[3] = PointerGetDatum(construct_array(elems, nchosen, INT8OID, sizeof(int64),
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[4] = Int64GetDatum(id_of[nchosen - 1]);
		es_become_owner(&cx, s->owner, 0);
		if (es_sink_exec("SELECT " ES_SINK_EVENT_COLUMNS " "
						 "FROM " ES_SCHEMA "._events($1, $2, $3) e "
						 "WHERE e.id <= $5 AND e.id = ANY ($4) ORDER BY e.id",
						 5, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the events of sink \"%s\"", s->name);
		es_end_owner(&cx);
		for (i = 0; i < SPI_processed && j < nchosen; i++)
		{
			EsLogEvent	ev;
			int64		id;
			int			part;

			es_sink_event(&ev, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			id = ev.id;
			while (j < nchosen && id_of[j] < id)
				j++;		/* (cannot happen: one snapshot) */
			if (j == nchosen || id_of[j] != id)
				continue;
			part = part_of[j++];
			add_to_batch(s, &b[part], &ev, &one);
		}
	}

	for (k = 0; k < s->nparts; k++)
	{
		Partition  *p = &s->parts[k];
		StringInfoData body;
		Oid			types[4] = {INT4OID, INT4OID, INT8OID, INT4OID};
		Datum		args[4];

		if (b[k].last == 0)
			continue;
		args[0] = Int32GetDatum(s->id);
		args[1] = Int32GetDatum(k);
		args[2] = Int64GetDatum(b[k].last);
		args[3] = Int32GetDatum(b[k].oversized);
		if (b[k].count == 0)
		{
			/* only events too large to send: past them, at once */
			if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET position = $3, "
							 "  dead_lettered = dead_lettered + $4 "
							 "WHERE sink_id = $1 AND partition = $2",
							 4, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update a sink partition");
			p->position = b[k].last;
			continue;
		}
		appendStringInfoChar(&b[k].ids, '}');
		initStringInfo(&body);
		if (s->opts.batch_size > 1)
			appendStringInfo(&body, "[%s]", b[k].body.data);
		else
			appendStringInfoString(&body, b[k].body.data);

		/* the batch is fixed until it is delivered, across crashes too */
		if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET batch_last = $3, "
						 "  dead_lettered = dead_lettered + $4 "
						 "WHERE sink_id = $1 AND partition = $2",
						 4, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update a sink partition");
		p->oldest_commit = b[k].oldest_commit;
		start_request(s, p, &body, &b[k].ids, b[k].count, b[k].first, b[k].last);
	}
	replay_one(s);
}

/*
 * es_sink_next_replay finds the oldest dead letter of a sink queued by
 * replay_dead_letters: false if none
 */
bool
es_sink_next_replay(Sink *s, int64 *dead_id, Datum *event_ids)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(s->id)};
	bool		isnull;

	/* (not read-only: it must see this round's own removals of replayed ones) */
	if (es_sink_exec("SELECT id, event_ids FROM " ES_SCHEMA ".dead_letter_catalog "
					 "WHERE sink_id = $1 AND replay ORDER BY id LIMIT 1",
					 1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dead letters");
	if (SPI_processed == 0)
		return false;
	*dead_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*event_ids = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
												 &isnull), false, -1);
	return true;
}

/*
 * Send again the oldest dead letter queued by replay_dead_letters, one at
 * a time per sink, outside the partitions' order (they moved on)
 */
static void
replay_one(Sink *s)
{
	Oid			types[3] = {TEXTOID, INT4OID, INT8ARRAYOID};
	Datum		args[3];
	EsOwnerContext cx;
	StringInfoData body;
	StringInfoData ids;
	Datum		event_ids;
	int64		first = 0;
	int64		last = 0;
	uint64		i;

	if (s->replay.req != NULL || !es_sink_next_replay(s, &s->replay_id, &event_ids))
		return;

	es_become_owner(&cx, s->owner, 0);
	args[0] = CStringGetTextDatum(s->stream);
	args[1] = Int32GetDatum(s->stream_id);
	args[2] = event_ids;
	if (es_sink_exec("SELECT " ES_SINK_EVENT_COLUMNS " "
					 "FROM " ES_SCHEMA "._events($1, $2, 0) e WHERE e.id = ANY ($3) "
					 "ORDER BY e.id", 3, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the events of a dead letter");
	es_end_owner(&cx);

	if (SPI_processed == 0)
	{
		Oid			dtypes[1] = {INT8OID};
		Datum		dargs[1] = {Int64GetDatum(s->replay_id)};

		/* retention dropped them: nothing to send, say so */
		if (es_sink_exec("UPDATE " ES_SCHEMA ".dead_letter_catalog SET replay = false, "
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
		EsLogEvent	ev;
		int64		id;

		es_sink_event(&ev, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		id = ev.id;
		if (i == 0)
			first = id;
		last = id;
		appendStringInfoString(&body, i ? "," : "");
		es_sink_write_value(&body, s->opts.format, &ev);
		appendStringInfo(&ids, "%s" INT64_FORMAT, i ? "," : "{", id);
	}
	if (SPI_processed > 1 || s->opts.batch_size > 1)
		appendStringInfoChar(&body, ']');
	appendStringInfoChar(&ids, '}');
	start_request(s, &s->replay, &body, &ids, (int) SPI_processed, first, last);
}
