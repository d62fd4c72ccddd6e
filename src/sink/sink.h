/*-------------------------------------------------------------------------
 *
 * sink.h
 *	  Sinks: push delivery of a stream's events, by the sink worker.
 *
 *	  options.c		a sink's options, checked (create_sink, alter_sink and
 *					the worker read them through the same parser)
 *	  values.c		an event of the log as a message: json, debezium or
 *					cloudevents, and its key
 *	  signature.c	Standard Webhooks signatures (common/mac.c)
 *	  webhook.c		HTTP requests on a libcurl multi handle, its sockets and
 *					timer in the worker's WaitEventSet
 *	  deliver.c		the sink worker: its life and loop, loading the sinks
 *	  batches.c		reading and sending the partitions' next batches
 *	  outcomes.c	recording answers: positions, retries, dead letters
 *	  (sink_worker.h: their shared structures)
 *
 * A sink is a consumer of the event log: each of its partitions has a
 * position, moved in PostgreSQL only after the receiver answered 2xx (or
 * the events went to dead letters), so delivery is at least once and a
 * duplicate can only be a request in flight at a crash, which carries the
 * same webhook-id.  The sink worker is not the capture worker: a slow or
 * dead receiver holds back neither capture nor writers.
 *
 * src/sink/sink.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_SINK_H
#define ES_SINK_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#define ES_SINK_MAX_SCHEDULE 16

typedef enum EsSinkKind
{
	ES_SINK_WEBHOOK,
	ES_SINK_KAFKA
} EsSinkKind;

/* how an event is written: the formats of the output plugin */
typedef enum EsSinkFormat
{
	ES_SINK_JSON,				/* the columns of eventstream.event */
	ES_SINK_DEBEZIUM,
	ES_SINK_CLOUDEVENTS
} EsSinkFormat;

/* a sink's options, parsed and checked */
typedef struct EsSinkOptions
{
	EsSinkKind	kind;
	EsSinkFormat format;
	List	   *hosts;			/* the hosts it sends to (url's, brokers') */
	int			max_attempts;
	int			nschedule;
	int			schedule_ms[ES_SINK_MAX_SCHEDULE];	/* wait before attempt n + 2 */

	/* webhook */
	char	   *url;
	uint8		secret[64];		/* decoded whsec_ secret */
	int			secret_len;		/* 0: requests are not signed */
	uint8		previous_secret[64];	/* while a secret rotates: signed */
	int			previous_secret_len;	/* with both (0: none) */
	int			max_age_ms;		/* a batch failing this long: dead letters
								 * (0: only max_attempts) */
	int			batch_size;
	int			max_bytes;		/* of a request's body (before gzip) */
	bool		gzip;			/* bodies sent with Content-Encoding: gzip */
	int			concurrency;
	int			timeout_ms;
	List	   *headers;		/* "Name: value" strings */

	/* kafka */
	char	   *brokers;
	char	   *topic;			/* template: {stream}, {schema}, {table} */
	bool		tombstones;		/* a null-valued message after a delete */
	List	   *config;			/* librdkafka properties: name, value, ... */
} EsSinkOptions;

/* options.c */
extern EsSinkKind es_sink_kind(const char *kind);
extern void es_sink_parse_options(EsSinkKind kind, Jsonb *options, EsSinkOptions *opts,
								  Oid owner, bool require_host_allowed);
extern const char *es_sink_host_refused(List *hosts);
extern int	es_sink_decode_secret(const char *secret, uint8 *out);

/* signature.c */
extern void es_sink_sign(StringInfo header, const uint8 *secret, int secret_len,
						 const char *msg_id, int64 timestamp,
						 const char *body, Size body_len);

/* deliver.c: the sink worker */
extern PGDLLEXPORT void es_sink_worker_main(Datum arg);

#endif							/* ES_SINK_H */
