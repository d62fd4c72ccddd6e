/*-------------------------------------------------------------------------
 *
 * outcomes.c
 *	  What the receiver answered, recorded in the sink worker's transaction:
 *	  2xx moves the partition's position past the batch; a 4xx for several
 *	  events splits the batch; 410 disables the sink; anything else is
 *	  retried by the schedule (or Retry-After) until max_attempts (or
 *	  max_age since its first failure), then the batch goes to dead letters.  A replayed dead letter is removed once
 *	  delivered.
 *
 * src/sink/outcomes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "../common/as_owner.h"
#include "../pg_eventstream.h"
#include "sink_worker.h"

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
		if (es_sink_exec("DELETE FROM " ES_SCHEMA ".dead_letter_catalog WHERE id = $1",
								  1, types, args, nulls, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not remove a replayed dead letter");
	}
	else if (es_sink_exec("UPDATE " ES_SCHEMA ".dead_letter_catalog SET replay = false, "
								   "  attempts = attempts + 1, last_status = $2, last_error = $3, "
								   "  response = $4, failed_at = now() WHERE id = $1",
								   4, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update a dead letter");
}

/* es_sink_note_latency keeps a delivery's latency among the recent ones */
void
es_sink_note_latency(Sink *s, TimestampTz commit_time, TimestampTz now)
{
	if (commit_time == 0 || commit_time > now)
		return;
	s->latency_ms[s->latency_next] = (float8) (now - commit_time) / 1000.0;
	s->latency_next = (s->latency_next + 1) % ES_SINK_LATENCY_SAMPLES;
	s->nlatency = Min(s->nlatency + 1, ES_SINK_LATENCY_SAMPLES);
}

static int
cmp_float8(const void *a, const void *b)
{
	float8		x = *(const float8 *) a;
	float8		y = *(const float8 *) b;

	return x < y ? -1 : x > y;
}

/*
 * es_sink_note_success records that a sink delivered: last_success and the
 * recent latencies' percentiles (at most once a second), and a retrying
 * sink runs again, its error cleared
 */
void
es_sink_note_success(Sink *s)
{
	Oid			types[3] = {INT4OID, FLOAT8OID, FLOAT8OID};
	Datum		args[3];
	char		nulls[3] = {' ', 'n', 'n'};
	TimestampTz now = GetCurrentTimestamp();

	/* (at most once a second, unless there is an error to clear) */
	if (strcmp(s->state, "retrying") != 0 && !s->error_shown &&
		!TimestampDifferenceExceeds(s->success_noted_at, now, 1000))
		return;
	s->success_noted_at = now;
	s->error_shown = false;
	args[0] = Int32GetDatum(s->id);
	if (s->nlatency > 0)
	{
		float8		sorted[ES_SINK_LATENCY_SAMPLES];

		memcpy(sorted, s->latency_ms, sizeof(float8) * s->nlatency);
		qsort(sorted, s->nlatency, sizeof(float8), cmp_float8);
		args[1] = Float8GetDatum(sorted[s->nlatency / 2]);
		args[2] = Float8GetDatum(sorted[Min(s->nlatency - 1, (int) (s->nlatency * 0.99))]);
		nulls[1] = nulls[2] = ' ';
	}
	if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_catalog SET last_success = now(), "
					 "  state = CASE WHEN state = 'retrying' THEN 'running' ELSE state END, "
					 "  last_error = NULL, "
					 "  latency_p50 = coalesce($2 * interval '1 ms', latency_p50), "
					 "  latency_p99 = coalesce($3 * interval '1 ms', latency_p99) "
					 "WHERE id = $1 AND (last_success IS NULL "
					 "  OR last_success < now() - interval '1 s' OR state = 'retrying' "
					 "  OR last_error IS NOT NULL)",
					 3, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record a delivery");
	if (strcmp(s->state, "retrying") == 0)
		strlcpy(s->state, "running", sizeof(s->state));
}

/*
 * es_sink_retry_wait_ms is the retry schedule's wait after n failures in a
 * row, with +-20 % jitter (both sink kinds)
 */
int64
es_sink_retry_wait_ms(Sink *s, int n)
{
	int			step = Min(n - 1, s->opts.nschedule - 1);
	double		jitter = 0.8 + 0.4 * pg_prng_double(&pg_global_prng_state);

	return (int64) (s->opts.schedule_ms[Max(step, 0)] * jitter);
}

/* the wait before a partition's next attempt: Retry-After, or the schedule */
static int64
retry_wait_ms(Sink *s, Partition *p)
{
	if (p->req->retry_after_s >= 0 &&
		(p->req->status == 429 || p->req->status == 503))
		return (int64) p->req->retry_after_s * 1000;
	return es_sink_retry_wait_ms(s, p->attempts);
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
		if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET position = $3, "
								  "  batch_last = NULL, attempts = 0, next_attempt_at = NULL, failing_since = NULL, "
								  "  last_status = $4, last_error = NULL, delivered = delivered + $6 "
								  "WHERE sink_id = $1 AND partition = $2",
								  7, types, args, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record a delivery");
		es_sink_note_latency(s, p->oldest_commit, GetCurrentTimestamp());
		p->oldest_commit = 0;
		es_sink_note_success(s);
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
		es_sink_set_state(s, "disabled", psprintf("%s: the receiver answered 410 Gone", error));
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
		if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET batch_last = NULL "
								  "WHERE sink_id = $1 AND partition = $2",
								  2, stypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update a sink partition");
		return;
	}

	p->attempts++;
	if (p->attempts == 1 || p->failing_since == DT_NOBEGIN)
		p->failing_since = GetCurrentTimestamp();
	if (p->attempts >= s->opts.max_attempts ||
		(s->opts.max_age_ms > 0 &&
		 TimestampDifferenceExceeds(p->failing_since, GetCurrentTimestamp(), s->opts.max_age_ms)))
	{
		Oid			dtypes[7] = {INT4OID, TEXTOID, INT4OID, INT4OID, TEXTOID, TEXTOID, INT8OID};
		Datum		dargs[7] = {Int32GetDatum(s->id), CStringGetTextDatum(p->event_ids),
			Int32GetDatum(p->attempts), Int32GetDatum((int32) req->status),
		args[4], args[6], Int64GetDatum(p->batch_last)};
		char		dnulls[7] = {' ', ' ', ' ', ' ', nulls[4], ' ', ' '};

		if (es_sink_exec("INSERT INTO " ES_SCHEMA ".dead_letter_catalog "
								  "(sink_id, event_ids, attempts, last_status, last_error, response) "
								  "VALUES ($1, $2::bigint[], $3, $4, $5, $6)",
								  6, dtypes, dargs, dnulls, false, 0) != SPI_OK_INSERT ||
			es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET position = $3, "
								  "  batch_last = NULL, attempts = 0, next_attempt_at = NULL, failing_since = NULL, "
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

		if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET attempts = attempts + 1, "
								  "  next_attempt_at = $5, last_status = $3, last_error = $4, "
								  "  failed = failed + 1, failing_since = coalesce(failing_since, now()) "
								  "WHERE sink_id = $1 AND partition = $2",
								  5, rtypes, rargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record a failed delivery");
	}
	es_sink_set_state(s, "retrying", error);
	strlcpy(s->state, "retrying", sizeof(s->state));
}

/* has a request finished? */
bool
es_sink_any_done(List *sinks)
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
void
es_sink_finish_requests(List *sinks)
{
	ListCell   *lc;

	foreach(lc, sinks)
	{
		Sink	   *s = lfirst(lc);

		if (s->opts.kind == ES_SINK_KAFKA)
		{
			es_kafka_sink_finish(s);
			continue;
		}
		for (int k = -1; k < s->nparts; k++)
		{
			Partition  *p = k < 0 ? &s->replay : &s->parts[k];

			if (p->req == NULL || !p->req->done)
				continue;
			if (k < 0)
				finish_replay(s, p);
			else
				finish_request(s, p);
			es_sink_free_partition(p);
		}
	}
}
