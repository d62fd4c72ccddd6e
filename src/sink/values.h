/*-------------------------------------------------------------------------
 *
 * values.h
 *	  An event of the log as a sink sends it (values.c).
 *
 * src/sink/values.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_SINK_VALUES_H
#define ES_SINK_VALUES_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "sink.h"

/* the columns of eventstream.event, as the sink worker reads them */
typedef struct EsLogEvent
{
	char	   *stream;
	int64		id;
	char	   *op;
	char	   *schema_name;	/* NULL if none */
	char	   *table_name;
	Jsonb	   *key;			/* NULL if none */
	Jsonb	   *old;
	Jsonb	   *new;
	XLogRecPtr	lsn;
	XLogRecPtr	commit_lsn;
	bool		has_xid;
	uint64		xid;
	bool		has_time;
	TimestampTz commit_time;
	int32		seq;
} EsLogEvent;

/* the columns of eventstream.event, for the sink worker's queries */
#define ES_SINK_EVENT_COLUMNS \
	"e.stream, e.id, e.op, e.schema_name, e.table_name, e.key, e.old, e.new, " \
	"e.lsn, e.commit_lsn, e.xid, e.commit_time, e.seq"

extern void es_sink_event(EsLogEvent *ev, HeapTuple tup, TupleDesc desc, int first);
extern void es_sink_write_key(StringInfo out, const EsLogEvent *ev);
extern void es_sink_write_value(StringInfo out, EsSinkFormat format, const EsLogEvent *ev);
extern const char *es_sink_content_type(EsSinkFormat format, bool batch);

#endif							/* ES_SINK_VALUES_H */
