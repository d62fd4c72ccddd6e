/*-------------------------------------------------------------------------
 *
 * pg_eventstream.h
 *	  Declarations shared by all components of pg_eventstream.
 *
 * src/pg_eventstream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_EVENTSTREAM_H
#define PG_EVENTSTREAM_H

/* the extension's version, as in pg_eventstream.control */
#define PG_EVENTSTREAM_VERSION "0.5.0"

/* the extension's schema, and the message prefix of emit() */
#define ES_SCHEMA "eventstream"
#define ES_MESSAGE_PREFIX "eventstream"

/* guc.c: the eventstream.* settings */
extern bool es_enabled;
extern int	es_batch_size;
extern int	es_naptime_ms;
extern int	es_lag_warning_mb;
extern int	es_segment_size;
extern int	es_retention_interval_s;
extern int	es_backfill_chunk_size;
extern int	es_backfill_test_delay_ms;
extern int	es_user_code_timeout_ms;
extern int	es_max_message_size_kb;
extern bool es_notify;
extern char *es_sink_allowed_hosts;

extern void es_define_settings(void);

#endif							/* PG_EVENTSTREAM_H */
