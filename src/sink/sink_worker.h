/*-------------------------------------------------------------------------
 *
 * sink_worker.h
 *	  The sink worker's own structures, shared by its files (not outside
 *	  src/sink):
 *
 *	  deliver.c		the worker: its life, its loop, loading the sinks
 *	  batches.c		reading the next batches and starting their requests
 *	  outcomes.c	recording what the receiver answered
 *	  kafka_sink.c	the Kafka sink's rounds
 *
 * src/sink/sink_worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_SINK_WORKER_H
#define ES_SINK_WORKER_H

#include "datatype/timestamp.h"
#include "executor/spi.h"

#include "sink.h"
#include "webhook.h"

/* the deliveries eventstream.sinks' latency percentiles are of */
#define ES_SINK_LATENCY_SAMPLES 1000

/* the most events one pass reads for a sink */
#define ES_SINK_READ_MAX 20000

typedef struct Partition
{
	int			index;
	int64		position;		/* committed: delivered or dead-lettered */
	int64		batch_last;		/* the batch being sent (or to resend), or 0 */
	int			attempts;
	TimestampTz next_attempt_at;	/* 0: now */
	TimestampTz failing_since;	/* the batch's first failure (-infinity: none) */
	TimestampTz oldest_commit;	/* of the batch's events (0: not known) */
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
	MemoryContext cxt;			/* the worker's sinks' */
	struct KafkaSink *kafka;	/* kafka_sink.c's state, or NULL */
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
	/* recent latencies, commit to acknowledgment, in ms: a ring */
	float8		latency_ms[ES_SINK_LATENCY_SAMPLES];
	int			nlatency;
	int			latency_next;
	TimestampTz success_noted_at;	/* es_sink_note_success wrote */
	bool		error_shown;	/* last_error may be set: clear it */
} Sink;

/* deliver.c */
extern int	es_sink_exec(const char *sql, int nargs, Oid *types, Datum *args,
						 const char *nulls, bool read_only, long count);
extern void es_sink_set_state(Sink *s, const char *state, const char *error);
extern void es_sink_free_partition(Partition *p);

/* batches.c */
extern void es_sink_fill(Sink *s, TimestampTz now, bool check_rights);
extern bool es_sink_owner_may_read(Sink *s);
extern bool es_sink_next_replay(Sink *s, int64 *dead_id, Datum *event_ids);

/* outcomes.c */
extern bool es_sink_any_done(List *sinks);
extern void es_sink_finish_requests(List *sinks);
extern void es_sink_note_success(Sink *s);
extern int64 es_sink_retry_wait_ms(Sink *s, int n);
extern void es_sink_note_latency(Sink *s, TimestampTz commit_time, TimestampTz now);

/* kafka_sink.c */
extern void es_kafka_sink_fill(Sink *s, TimestampTz now, bool check_rights);
extern void es_kafka_sink_finish(Sink *s);
extern void es_kafka_sink_free(Sink *s);
extern int	es_kafka_sink_fd(Sink *s);
extern bool es_kafka_sink_more(Sink *s);
extern long es_kafka_sink_next_due_ms(Sink *s, TimestampTz now, long ms);

#endif							/* ES_SINK_WORKER_H */
