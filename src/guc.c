/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every eventstream.* setting, defined in one place.
 *
 * The settings are defined whenever the library is loaded, so that they
 * can be set in postgresql.conf and shown by SHOW even in backends that
 * only use the output plugin.  The worker rereads them on SIGHUP.
 *
 * src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "pg_eventstream.h"

bool		es_enabled = true;
int			es_batch_size = 10000;
int			es_naptime_ms = 100;
int			es_lag_warning_mb = 1024;
int			es_segment_size = 1000000;
int			es_retention_interval_s = 10;
int			es_backfill_chunk_size = 1000;
int			es_backfill_test_delay_ms = 0;
int			es_user_code_timeout_ms = 10000;
int			es_max_message_size_kb = 16384;
bool		es_notify = true;
char	   *es_sink_allowed_hosts = NULL;

/* es_define_settings registers the eventstream.* settings */
void
es_define_settings(void)
{
	DefineCustomBoolVariable("eventstream.enabled",
							 "Whether the workers capture changes.",
							 "Off pauses capture (the slot keeps the WAL); on resumes where it stopped.",
							 &es_enabled, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.batch_size",
							"Events the worker gathers before writing them in one transaction.",
							"A batch always ends at a transaction boundary, so a larger "
							"transaction makes a larger batch.",
							&es_batch_size, 10000, 1, 10000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.naptime",
							"How long the worker sleeps when it has caught up with the WAL.",
							NULL,
							&es_naptime_ms, 100, 1, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.lag_warning",
							"WAL retained by the worker's slot above which the worker warns.",
							"0 turns the warning off.",
							&es_lag_warning_mb, 1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.segment_size",
							"Events per segment of a new stream's log.",
							"Retention drops whole segments; the size is fixed when a "
							"stream is created.",
							&es_segment_size, 1000000, 10, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.retention_interval",
							"How often the worker drops segments past their stream's retention.",
							NULL,
							&es_retention_interval_s, 10, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.backfill_chunk_size",
							"Rows the worker reads per chunk of a backfill.",
							NULL,
							&es_backfill_chunk_size, 1000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.backfill_test_delay",
							"For tests: wait this long between reading a backfill chunk and its high watermark.",
							"Widens the window in which concurrent changes must be reconciled.",
							&es_backfill_test_delay_ms, 0, 0, 10000,
							PGC_SIGHUP, GUC_UNIT_MS | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.user_code_timeout",
							"Longest the worker runs one owner's code at a time: a batch of one aggregate, a backfill chunk.",
							"Also the longest it waits for a lock there.  An aggregate that "
							"runs past it is marked failed, a backfill stops with an error; "
							"the rest go on.",
							&es_user_code_timeout_ms, 10000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("eventstream.max_message_size",
							"Largest payload emit() accepts.",
							"Bounds what one call can make the shared worker hold in memory.",
							&es_max_message_size_kb, 16384, 1, 512 * 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomBoolVariable("eventstream.notify",
							 "Whether the worker sends NOTIFY eventstream with the stream's name after each batch.",
							 "Any role may LISTEN on any channel: turn it off where the timing "
							 "of a stream's activity must stay private.",
							 &es_notify, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("eventstream.sink_allowed_hosts",
							   "Hosts that sinks may send to: a comma-separated list, empty for any.",
							   "Guards against a sink owner making the server reach internal services (SSRF).",
							   &es_sink_allowed_hosts, "",
							   PGC_SUSET, GUC_LIST_INPUT, NULL, NULL, NULL);
	MarkGUCPrefixReserved("eventstream");
}
