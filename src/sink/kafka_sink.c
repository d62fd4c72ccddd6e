/*-------------------------------------------------------------------------
 *
 * kafka_sink.c
 *	  The Kafka sink in the sink worker: events of the log produced in id
 *	  order, the position moved by delivery reports, exactly once.
 *
 * A Kafka sink is one ordered pipeline (partition 0 of sink_partitions):
 * each round reads the events after what was handed to librdkafka, as the
 * sink's owner, and produces each to the topic its template names, into
 * the partition the sink chooses from the event's key (the consumers'
 * hash: equal keys, equal partition), with the headers eventstream-stream,
 * -id, -op and -lsn.  Delivery reports, served on the worker's thread,
 * mark events written; the position moves over the written prefix, in the
 * round's transaction.
 *
 * Exactly once: the sink never hands over an event more than
 * ES_KAFKA_WINDOW ids past its committed position.  Whenever a producer
 * starts -- the worker started, a fault reset it -- the sink reads, before
 * its first message to a topic, what the topic's partitions hold of this
 * stream past the position (es_kafka_tail: at most the window each), and
 * skips those events.  So a message written before a crash, whose report
 * never came, is not written again, and one that was not written is.  The
 * idempotent producer keeps its own retries from duplicating; a report
 * that says "written" without an offset (the broker took a retry for a
 * duplicate) is not believed: the producer ends and the tails are read
 * again.
 *
 * Faults: a message larger than the broker takes goes to dead letters (the
 * others go on); an authorization refusal disables the sink, saying why;
 * anything else (brokers down past message.timeout.ms, a fatal producer
 * error, a missing topic) ends the producer, and a new one starts after
 * the retry schedule's wait, reading the tails again.
 *
 * src/sink/kafka_sink.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "../common/as_owner.h"
#include "../pg_eventstream.h"
#include "kafka.h"
#include "sink_worker.h"
#include "values.h"

/* the most ids past the committed position handed to librdkafka */
#define ES_KAFKA_WINDOW 20000
/* events read and produced per round */
#define ES_KAFKA_ROUND 5000
/* the longest a metadata request or a tail read may take */
#define ES_KAFKA_ASK_MS 10000
/* a dead letter's replay: the tag's top bit */
#define REPLAY_TAG (UINT64CONST(1) << 63)

typedef struct Topic
{
	char	   *name;
	int			nparts;
	int64	  **codes;			/* per partition, what its end holds of ours
								 * past the position (id * 2 [+ 1]) */
	int		   *ncodes;
} Topic;

typedef struct Dead
{
	int64		id;
	char	   *reason;
} Dead;

typedef struct KafkaSink
{
	EsKafka    *k;
	MemoryContext cxt;			/* topics, tails, dead: reset with the producer */
	List	   *topics;
	int64		position;		/* committed */
	int64		produced_to;	/* the last id handed over (or skipped) */
	/* the events handed over, in id order: [tail, head) of a ring */
	uint64		head;
	uint64		tail;
	int64		ring_id[ES_KAFKA_WINDOW];
	int8		ring_pending[ES_KAFKA_WINDOW];	/* messages not reported */
	TimestampTz ring_commit[ES_KAFKA_WINDOW];	/* commit times, for latency */
	List	   *dead;			/* Dead *, to record */
	List	   *replayed;		/* dead letter ids delivered again */
	List	   *replay_failed;
	bool		replaying;
	int64		delivered;		/* events written since recorded */
	int			attempts;		/* producers ended by faults in a row */
	TimestampTz retry_at;
	bool		more;			/* a round stopped short: go on at once */
	char		fault[512];		/* end the producer: why */
	char		denied[512];	/* disable the sink: why */
	char		warning[512];	/* a passing error, for last_error */
} KafkaSink;

static KafkaSink *
kafka_of(Sink *s)
{
	if (s->kafka == NULL)
	{
		KafkaSink  *ks = MemoryContextAllocZero(s->cxt, sizeof(KafkaSink));

		ks->cxt = AllocSetContextCreate(s->cxt, "pg_eventstream kafka sink",
										ALLOCSET_DEFAULT_SIZES);
		s->kafka = ks;
	}
	return s->kafka;
}

/* end the producer; what it had in flight is found again by the tails */
static void
end_producer(KafkaSink *ks)
{
	es_kafka_close(ks->k);
	ks->k = NULL;
	MemoryContextReset(ks->cxt);
	ks->topics = NIL;
	ks->dead = ks->replayed = ks->replay_failed = NIL;
	ks->replaying = false;
	ks->head = ks->tail = 0;
	ks->produced_to = ks->position;
	ks->more = false;
}

/* es_kafka_sink_free ends a sink's producer (it is dropped or changed) */
void
es_kafka_sink_free(Sink *s)
{
	if (s->kafka != NULL)
		end_producer(s->kafka);
}

/* es_kafka_sink_fd is the fd to wait on for the sink's reports, or -1 */
int
es_kafka_sink_fd(Sink *s)
{
	KafkaSink  *ks = s->kafka;

	return ks != NULL && ks->k != NULL ? es_kafka_fd(ks->k) : -1;
}

/* es_kafka_sink_more: has the sink more to produce at once? */
bool
es_kafka_sink_more(Sink *s)
{
	KafkaSink  *ks = s->kafka;

	return ks != NULL && ks->k != NULL && ks->more;
}

/* a delivery report, on the worker's thread */
static void
delivered(void *arg, uint64 tag, int err, const char *errstr, int64 offset)
{
	Sink	   *s = arg;
	KafkaSink  *ks = s->kafka;
	MemoryContext oldcxt = MemoryContextSwitchTo(ks->cxt);

	if (tag & REPLAY_TAG)
	{
		int64		dead_id = (int64) (tag & ~REPLAY_TAG);

		if (err == 0)
			ks->replayed = lappend(ks->replayed, (void *) (uintptr_t) dead_id);
		else
			ks->replay_failed = lappend(ks->replay_failed, (void *) (uintptr_t) dead_id);
		ks->replaying = false;
	}
	else if (tag >= ks->tail && tag < ks->head)
	{
		int			slot = tag % ES_KAFKA_WINDOW;

		if (es_kafka_too_large(err))
		{
			Dead	   *d = palloc(sizeof(Dead));

			d->id = ks->ring_id[slot];
			d->reason = psprintf("the broker refused the message: %s", errstr);
			ks->dead = lappend(ks->dead, d);
			err = 0;
		}
		if (err == 0 && offset < 0 && ks->fault[0] == '\0')
		{
			/*
			 * The broker took a retry for a duplicate without saying where
			 * the first one is: do not take its word, read the partition
			 * again (a new producer reads the tails and sends what is not
			 * there)
			 */
			snprintf(ks->fault, sizeof(ks->fault),
					 "event " INT64_FORMAT ": Kafka acknowledged a duplicate it does not place; checking the topic again",
					 ks->ring_id[slot]);
		}
		else if (err == 0)
		{
			if (--ks->ring_pending[slot] == 0)
				es_sink_note_latency(s, ks->ring_commit[slot], GetCurrentTimestamp());
		}
		else if (es_kafka_denial(err))
			snprintf(ks->denied, sizeof(ks->denied), "%s", errstr);
		else if (ks->fault[0] == '\0')
			snprintf(ks->fault, sizeof(ks->fault), "event " INT64_FORMAT " was not written: %s",
					 ks->ring_id[slot], errstr);
	}
	MemoryContextSwitchTo(oldcxt);
}

/* a topic's name for an event: the template, other characters as "_" */
static char *
topic_name(Sink *s, const EsLogEvent *ev)
{
	StringInfoData buf;
	const char *t;

	initStringInfo(&buf);
	for (t = s->opts.topic; *t; t++)
	{
		const char *part = NULL;

		if (strncmp(t, "{stream}", 8) == 0)
			part = ev->stream, t += 7;
		else if (strncmp(t, "{schema}", 8) == 0)
			part = ev->schema_name ? ev->schema_name : "", t += 7;
		else if (strncmp(t, "{table}", 7) == 0)
			part = ev->table_name ? ev->table_name : "", t += 6;
		if (part == NULL)
		{
			appendStringInfoChar(&buf, *t);
			continue;
		}
		for (; *part; part++)
			appendStringInfoChar(&buf, (isalnum((unsigned char) *part) || *part == '.' ||
										*part == '_' || *part == '-') ? *part : '_');
	}
	if (buf.len > 249)
		buf.data[249] = '\0';
	return buf.data;
}

/* the topic, its partitions asked once per producer; NULL on a fault */
static Topic *
find_topic(Sink *s, KafkaSink *ks, const char *name)
{
	ListCell   *lc;
	Topic	   *t;
	char		errbuf[512];
	int			n;
	MemoryContext oldcxt;

	foreach(lc, ks->topics)
	{
		t = lfirst(lc);
		if (strcmp(t->name, name) == 0)
			return t;
	}
	n = es_kafka_partitions(ks->k, name, ES_KAFKA_ASK_MS, errbuf, sizeof(errbuf));
	if (n < 0)
	{
		if (n == -2)
			snprintf(ks->denied, sizeof(ks->denied), "%s", errbuf);
		else
			snprintf(ks->fault, sizeof(ks->fault), "%s", errbuf);
		return NULL;
	}
	oldcxt = MemoryContextSwitchTo(ks->cxt);
	t = palloc0(sizeof(Topic));
	t->name = pstrdup(name);
	t->nparts = n;
	t->codes = palloc0(sizeof(int64 *) * n);
	t->ncodes = palloc0(sizeof(int) * n);

	/* what its partitions hold of ours already, before a first message */
	if (!es_kafka_tail(ks->k, t->name, n, ks->position, s->stream, 2 * ES_KAFKA_WINDOW,
					   ES_KAFKA_ASK_MS, t->codes, t->ncodes, errbuf, sizeof(errbuf)))
	{
		MemoryContextSwitchTo(oldcxt);
		snprintf(ks->fault, sizeof(ks->fault), "%s", errbuf);
		return NULL;
	}
	for (int p = 0; p < n; p++)
	{
		if (t->ncodes[p] > 0)
			ereport(LOG,
					(errmsg("sink \"%s\": topic \"%s\" partition %d already holds %d of the events after " INT64_FORMAT ", which are not sent again",
							s->name, t->name, p, t->ncodes[p], ks->position)));
	}
	ks->topics = lappend(ks->topics, t);
	MemoryContextSwitchTo(oldcxt);
	return t;
}

/* is the message (code: id * 2 [+ 1 for a tombstone]) in the tail read? */
static bool
already_written(Topic *t, int part, int64 code)
{
	int			lo = 0;
	int			hi = t->ncodes[part] - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (t->codes[part][mid] == code)
			return true;
		if (t->codes[part][mid] < code)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/*
 * Produce one event (and its tombstone) under tag; the number of messages
 * queued, or -1 when librdkafka's queue is full (try again later).  A
 * message too large goes to dead letters; a refusal is a fault.
 */
static int
produce_event(Sink *s, KafkaSink *ks, const EsLogEvent *ev, int32 hash, uint64 tag,
			  StringInfo key, StringInfo value)
{
	Topic	   *t;
	int			part;
	char		idbuf[32];
	char		lsnbuf[32];
	char		errbuf[512];
	const char *headers[8];
	int			n = 0;
	bool		tombstone = s->opts.tombstones && strcmp(ev->op, "delete") == 0;

	t = find_topic(s, ks, topic_name(s, ev));
	if (t == NULL)
		return -2;
	part = (int) (((int64) hash % t->nparts + t->nparts) % t->nparts);
	resetStringInfo(key);
	resetStringInfo(value);
	es_sink_write_key(key, ev);
	es_sink_write_value(value, s->opts.format, ev);
	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, ev->id);
	snprintf(lsnbuf, sizeof(lsnbuf), "%X/%X", LSN_FORMAT_ARGS(ev->lsn));
	headers[0] = "eventstream-stream";
	headers[1] = ev->stream;
	headers[2] = "eventstream-id";
	headers[3] = idbuf;
	headers[4] = "eventstream-op";
	headers[5] = ev->op;
	headers[6] = "eventstream-lsn";
	headers[7] = lsnbuf;

	for (int m = 0; m < (tombstone ? 2 : 1); m++)
	{
		EsKafkaProduced r;

		if (!(tag & REPLAY_TAG) && already_written(t, part, ev->id * 2 + m))
			continue;
		if (ks->fault[0] != '\0' || ks->denied[0] != '\0')
			return -2;
		r = es_kafka_produce(ks->k, t->name, part, key->data, key->len,
							 m == 0 ? value->data : NULL, m == 0 ? value->len : 0,
							 headers, 4, tag, errbuf, sizeof(errbuf));
		if (r == ES_KAFKA_QUEUE_FULL)
			return n > 0 ? n : -1;	/* (a tombstone left: the tail finds it) */
		if (r == ES_KAFKA_TOO_LARGE)
		{
			/* (kept until recorded, past this round's transaction) */
			MemoryContext oldcxt = MemoryContextSwitchTo(ks->cxt);
			Dead	   *d = palloc(sizeof(Dead));

			d->id = ev->id;
			d->reason = psprintf("message of %d bytes: %s", value->len, errbuf);
			ks->dead = lappend(ks->dead, d);
			MemoryContextSwitchTo(oldcxt);
			continue;
		}
		if (r == ES_KAFKA_FAILED)
		{
			snprintf(ks->fault, sizeof(ks->fault), "could not produce to topic \"%s\": %s",
					 t->name, errbuf);
			return -2;
		}
		n++;
	}
	return n;
}

/*
 * After a refusal, disable the sink; after a fault, end the producer and
 * start another after the schedule's wait; a passing error is shown
 */
static void
give_up(Sink *s, KafkaSink *ks)
{
	if (ks->denied[0] != '\0' || ks->fault[0] != '\0')
		ereport(LOG,
				(errmsg("sink \"%s\" ends its Kafka producer at event " INT64_FORMAT ": %s",
						s->name, ks->position, ks->denied[0] ? ks->denied : ks->fault)));
	if (ks->denied[0] != '\0')
	{
		es_sink_set_state(s, "disabled", psprintf("Kafka refused sink \"%s\": %s", s->name, ks->denied));
		strlcpy(s->state, "disabled", sizeof(s->state));
		end_producer(ks);
	}
	else if (ks->fault[0] != '\0')
	{
		ks->attempts++;
		ks->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   es_sink_retry_wait_ms(s, ks->attempts));
		es_sink_set_state(s, "retrying", ks->fault);
		strlcpy(s->state, "retrying", sizeof(s->state));
		end_producer(ks);
	}
	else if (ks->warning[0] != '\0')
	{
		/* brokers down and the like: librdkafka retries; say so meanwhile */
		es_sink_set_state(s, "retrying", ks->warning);
		strlcpy(s->state, "retrying", sizeof(s->state));
	}
	ks->denied[0] = ks->fault[0] = ks->warning[0] = '\0';
}

/* start the producer; false (and the fault recorded) if it cannot */
static bool
start_producer(Sink *s, KafkaSink *ks, TimestampTz now)
{
	char		errbuf[512];

	if (ks->retry_at > now)
		return false;
	ks->position = s->parts[0].position;
	ks->produced_to = ks->position;
	ks->head = ks->tail = 0;
	ereport(LOG,
			(errmsg("sink \"%s\" starts a Kafka producer at event " INT64_FORMAT, s->name, ks->position)));
	ks->k = es_kafka_open(s->opts.brokers, s->opts.config, errbuf, sizeof(errbuf));
	if (ks->k == NULL)
	{
		/* (the options were checked when made: this is for good) */
		snprintf(ks->denied, sizeof(ks->denied), "could not make a Kafka producer: %s", errbuf);
		give_up(s, ks);
		return false;
	}
	return true;
}

/* queue the oldest dead letter to replay, one at a time */
static void
replay_one(Sink *s, KafkaSink *ks, StringInfo key, StringInfo value)
{
	Oid			types[3] = {TEXTOID, INT4OID, INT8ARRAYOID};
	Datum		args[3];
	EsOwnerContext cx;
	bool		isnull;
	int64		dead_id;
	Datum		event_ids;

	if (ks->replaying || !es_sink_next_replay(s, &dead_id, &event_ids))
		return;
	es_become_owner(&cx, s->owner, 0);
	args[0] = CStringGetTextDatum(s->stream);
	args[1] = Int32GetDatum(s->stream_id);
	args[2] = event_ids;
	/* (a Kafka sink's dead letter is one event) */
	if (es_sink_exec("SELECT " ES_SINK_EVENT_COLUMNS ", "
					 "  pg_catalog.hashtext(coalesce(e.key::text, e.id::text)) "
					 "FROM " ES_SCHEMA "._events($1, $2, 0) e WHERE e.id = ANY ($3)",
					 3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the event of a dead letter");
	es_end_owner(&cx);
	if (SPI_processed == 0)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(ks->cxt);

		ks->replay_failed = lappend(ks->replay_failed, (void *) (uintptr_t) dead_id);
		MemoryContextSwitchTo(oldcxt);
		return;
	}
	{
		EsLogEvent	ev;

		es_sink_event(&ev, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (produce_event(s, ks, &ev,
						  DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													  14, &isnull)),
						  REPLAY_TAG | (uint64) dead_id, key, value) > 0)
			ks->replaying = true;
	}
}

/*
 * es_kafka_sink_fill hands the next events to librdkafka: those after
 * what it has, up to the window past the committed position
 */
void
es_kafka_sink_fill(Sink *s, TimestampTz now, bool check_rights)
{
	KafkaSink  *ks = kafka_of(s);
	int64		upto;
	int			room;
	EsOwnerContext cx;
	StringInfoData key;
	StringInfoData value;
	uint64		i;

	ks->more = false;
	if (strcmp(s->state, "running") != 0 && strcmp(s->state, "retrying") != 0)
	{
		if (ks->k != NULL)
			end_producer(ks);
		return;
	}
	if (check_rights && !es_sink_owner_may_read(s))
		return;
	if (ks->k == NULL && !start_producer(s, ks, now))
		return;

	upto = Min(ks->produced_to + ES_KAFKA_ROUND, ks->position + ES_KAFKA_WINDOW);
	room = ES_KAFKA_WINDOW - (int) (ks->head - ks->tail);
	initStringInfo(&key);
	initStringInfo(&value);
	if (upto > ks->produced_to && room > 0)
	{
		Oid			types[5] = {TEXTOID, INT4OID, INT8OID, INT8OID, INT4OID};
		Datum		args[5] = {CStringGetTextDatum(s->stream), Int32GetDatum(s->stream_id),
			Int64GetDatum(ks->produced_to), Int64GetDatum(upto),
		Int32GetDatum(Min(room, ES_KAFKA_ROUND))};

		es_become_owner(&cx, s->owner, 0);
		if (es_sink_exec("SELECT " ES_SINK_EVENT_COLUMNS ", "
						 "  pg_catalog.hashtext(coalesce(e.key::text, e.id::text)) "
						 "FROM " ES_SCHEMA "._events($1, $2, $3) e "
						 "WHERE e.id <= $4 ORDER BY e.id LIMIT $5",
						 5, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the events of sink \"%s\"", s->name);
		es_end_owner(&cx);

		for (i = 0; i < SPI_processed; i++)
		{
			EsLogEvent	ev;
			bool		isnull;
			int32		hash;
			uint64		tag = ks->head;
			int			slot = tag % ES_KAFKA_WINDOW;
			int			n;

			es_sink_event(&ev, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			hash = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											   14, &isnull));
			ks->ring_id[slot] = ev.id;
			ks->ring_commit[slot] = ev.has_time ? ev.commit_time : 0;
			ks->ring_pending[slot] = 2;		/* (none reported before this is set) */
			n = produce_event(s, ks, &ev, hash, tag, &key, &value);
			if (n == -1 || n == -2)
				break;			/* queue full, or a fault */
			ks->ring_pending[slot] = n;
			ks->head++;
			ks->produced_to = ev.id;
		}
		/* all handed over, and room for more: look again at once */
		ks->more = SPI_processed > 0 && i == SPI_processed &&
			room > (int) SPI_processed && ks->produced_to < ks->position + ES_KAFKA_WINDOW;
	}
	if (ks->fault[0] == '\0' && ks->denied[0] == '\0')
		replay_one(s, ks, &key, &value);
	if (ks->fault[0] != '\0' || ks->denied[0] != '\0')
		give_up(s, ks);
}

/* record dead letters, replays, and the written prefix's position */
static void
record(Sink *s, KafkaSink *ks, int64 old_position, int ndead)
{
	Oid			types[5] = {INT4OID, INT8OID, INT8OID, INT4OID, TEXTOID};
	Datum		args[5];
	char		nulls[5] = "     ";
	ListCell   *lc;

	args[0] = Int32GetDatum(s->id);
	foreach(lc, ks->dead)
	{
		Dead	   *d = lfirst(lc);

		args[1] = Int64GetDatum(d->id);
		args[4] = CStringGetTextDatum(d->reason);
		if (es_sink_exec("INSERT INTO " ES_SCHEMA ".dead_letter_catalog "
						 "(sink_id, event_ids, attempts, last_error) "
						 "VALUES ($1, ARRAY[$2], 1, $5)",
						 5, types, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record a dead letter");
	}
	foreach(lc, ks->replayed)
	{
		args[1] = Int64GetDatum((int64) (uintptr_t) lfirst(lc));
		if (es_sink_exec("DELETE FROM " ES_SCHEMA ".dead_letter_catalog WHERE id = $2 AND sink_id = $1",
						 2, types, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not remove a replayed dead letter");
	}
	foreach(lc, ks->replay_failed)
	{
		args[1] = Int64GetDatum((int64) (uintptr_t) lfirst(lc));
		if (es_sink_exec("UPDATE " ES_SCHEMA ".dead_letter_catalog SET replay = false, "
						 "  attempts = attempts + 1, failed_at = now() WHERE id = $2 AND sink_id = $1",
						 2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update a dead letter");
	}
	if (ks->position > old_position || ndead > 0)
	{
		args[1] = Int64GetDatum(ks->position);
		args[2] = Int64GetDatum(ks->delivered);
		args[3] = Int32GetDatum(ndead);
		if (es_sink_exec("UPDATE " ES_SCHEMA ".sink_partitions SET position = $2, "
						 "  delivered = delivered + $3, dead_lettered = dead_lettered + $4, "
						 "  attempts = 0, last_error = NULL "
						 "WHERE sink_id = $1 AND partition = 0",
						 4, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record a delivery");
		es_sink_note_success(s);
		s->parts[0].position = ks->position;
		ks->delivered = 0;
		ks->attempts = 0;
	}
	ks->dead = ks->replayed = ks->replay_failed = NIL;
}

/*
 * es_kafka_sink_finish serves the producer's reports and errors and
 * records them, in the caller's transaction
 */
void
es_kafka_sink_finish(Sink *s)
{
	KafkaSink  *ks = s->kafka;
	EsKafkaProblem problem;
	int64		old_position;
	int			ndead;

	if (ks == NULL || ks->k == NULL)
		return;
	es_kafka_serve(ks->k, delivered, s, &problem);
	if (problem.err != 0)
	{
		if (problem.denied)
			snprintf(ks->denied, sizeof(ks->denied), "%s", problem.message);
		else if (problem.fatal)
			snprintf(ks->fault, sizeof(ks->fault), "%s", problem.message);
		else
			snprintf(ks->warning, sizeof(ks->warning), "%s", problem.message);
	}

	/* the written prefix */
	old_position = ks->position;
	ndead = list_length(ks->dead);
	while (ks->tail < ks->head && ks->ring_pending[ks->tail % ES_KAFKA_WINDOW] == 0)
	{
		ks->position = ks->ring_id[ks->tail % ES_KAFKA_WINDOW];
		ks->delivered++;
		ks->tail++;
	}
	ks->delivered -= Min(ks->delivered, ndead);
	record(s, ks, old_position, ndead);

	give_up(s, ks);
}

/* es_kafka_sink_next_due_ms: how long until the sink's next producer */
long
es_kafka_sink_next_due_ms(Sink *s, TimestampTz now, long ms)
{
	KafkaSink  *ks = s->kafka;

	if (ks != NULL && ks->k == NULL && ks->retry_at > now)
		ms = Min(ms, TimestampDifferenceMilliseconds(now, ks->retry_at) + 1);
	return ms;
}
