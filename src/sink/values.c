/*-------------------------------------------------------------------------
 *
 * values.c
 *	  An event of the log as a sink sends it: in format json, debezium or
 *	  cloudevents, and its key as compact JSON.
 *
 * The sink worker reads events as rows of eventstream.event (es_sink_event
 * takes one from SPI's row) and writes them here, for every sink kind:
 *
 *	  json			the columns of eventstream.event, as an object
 *	  debezium		the Debezium PostgreSQL envelope with schemas disabled
 *					(before, after, source, op, ts_ms), as the output plugin
 *					writes it; values are the log's JSON, not Debezium's
 *					typed encodings (the log keeps no column types)
 *	  cloudevents	CloudEvents 1.0 structured JSON, "id" as the plugin's
 *					("<commit_lsn>:<seq>"), "data" {op,schema,table,key,old,new}
 *
 * Every format carries the event's stream and id: json as columns,
 * debezium in an "eventstream" object {"stream","id","op"}, cloudevents as
 * the extension attributes "eventstream" (the stream) and "eventstreamid".
 *
 * src/sink/values.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "../common/json_write.h"
#include "../decoder/decoder.h"
#include "../pg_eventstream.h"
#include "values.h"

/*
 * es_sink_event fills ev from the columns of eventstream.event that start
 * at column first of an SPI row (in the type's order)
 */
void
es_sink_event(EsLogEvent *ev, HeapTuple tup, TupleDesc desc, int first)
{
	Datum		values[16];
	bool		nulls[16];
	Datum	   *v;
	bool	   *n;

	/* (one pass over the tuple: the sink worker reads thousands a round) */
	if (desc->natts > lengthof(values) || first + 12 > desc->natts)
		elog(ERROR, "unexpected row of %d columns for an event", desc->natts);
	heap_deform_tuple(tup, desc, values, nulls);
	v = values + first - 1;
	n = nulls + first - 1;
	memset(ev, 0, sizeof(EsLogEvent));
	ev->stream = n[0] ? NULL : TextDatumGetCString(v[0]);
	ev->id = DatumGetInt64(v[1]);
	ev->op = n[2] ? NULL : TextDatumGetCString(v[2]);
	ev->schema_name = n[3] ? NULL : TextDatumGetCString(v[3]);
	ev->table_name = n[4] ? NULL : TextDatumGetCString(v[4]);
	ev->key = n[5] ? NULL : DatumGetJsonbP(v[5]);
	ev->old = n[6] ? NULL : DatumGetJsonbP(v[6]);
	ev->new = n[7] ? NULL : DatumGetJsonbP(v[7]);
	ev->lsn = n[8] ? InvalidXLogRecPtr : DatumGetLSN(v[8]);
	ev->commit_lsn = n[9] ? InvalidXLogRecPtr : DatumGetLSN(v[9]);
	ev->has_xid = !n[10];
	ev->xid = n[10] ? 0 : (uint64) DatumGetInt64(v[10]);
	ev->has_time = !n[11];
	ev->commit_time = n[11] ? 0 : DatumGetTimestampTz(v[11]);
	ev->seq = n[12] ? 0 : DatumGetInt32(v[12]);
}

static void
write_jsonb_or_null(StringInfo out, Jsonb *jb)
{
	if (jb == NULL)
		appendStringInfoString(out, "null");
	else
		es_json_jsonb(out, jb);
}

static void
write_cstring_or_null(StringInfo out, const char *s)
{
	if (s == NULL)
		appendStringInfoString(out, "null");
	else
		es_json_cstring(out, s);
}

/* ,"key":..,"old":..,"new":.. of an event, as json and cloudevents' data have them */
static void
write_key_old_new(StringInfo out, const EsLogEvent *ev)
{
	appendStringInfoString(out, ",\"key\":");
	write_jsonb_or_null(out, ev->key);
	appendStringInfoString(out, ",\"old\":");
	write_jsonb_or_null(out, ev->old);
	appendStringInfoString(out, ",\"new\":");
	write_jsonb_or_null(out, ev->new);
}

/* es_sink_write_key appends the event's key as compact JSON ("null": none) */
void
es_sink_write_key(StringInfo out, const EsLogEvent *ev)
{
	write_jsonb_or_null(out, ev->key);
}

static void
write_json(StringInfo out, const EsLogEvent *ev)
{
	appendStringInfoString(out, "{\"stream\":");
	es_json_cstring(out, ev->stream);
	appendStringInfoString(out, ",\"id\":");
	es_json_int64(out, ev->id);
	appendStringInfoString(out, ",\"op\":");
	es_json_cstring(out, ev->op);
	appendStringInfoString(out, ",\"schema_name\":");
	write_cstring_or_null(out, ev->schema_name);
	appendStringInfoString(out, ",\"table_name\":");
	write_cstring_or_null(out, ev->table_name);
	write_key_old_new(out, ev);
	appendStringInfoString(out, ",\"lsn\":");
	es_json_lsn(out, ev->lsn);
	appendStringInfoString(out, ",\"commit_lsn\":");
	es_json_lsn(out, ev->commit_lsn);
	appendStringInfoString(out, ",\"xid\":");
	if (ev->has_xid)
		es_json_uint64(out, ev->xid);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ",\"commit_time\":");
	if (ev->has_time)
		es_json_timestamp(out, ev->commit_time, true);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ",\"seq\":");
	es_json_int64(out, ev->seq);
	appendStringInfoChar(out, '}');
}

/* Debezium's op letter for an event kind, or 0 for kinds it has not */
static char
debezium_op(const char *op)
{
	if (strcmp(op, "insert") == 0)
		return 'c';
	if (strcmp(op, "update") == 0)
		return 'u';
	if (strcmp(op, "delete") == 0)
		return 'd';
	if (strcmp(op, "truncate") == 0)
		return 't';
	if (strcmp(op, "message") == 0)
		return 'm';
	if (strcmp(op, "snapshot") == 0)
		return 'r';
	return 0;
}

static int64
epoch_ms(TimestampTz t)
{
	return (t - SetEpochTimestamp()) / 1000;
}

static void
write_debezium(StringInfo out, const EsLogEvent *ev, const char *database)
{
	char		op = debezium_op(ev->op);

	appendStringInfoString(out, "{\"before\":");
	/* a delete's before is the old row, or its key */
	write_jsonb_or_null(out, ev->old != NULL || op != 'd' ? ev->old : ev->key);
	appendStringInfoString(out, ",\"after\":");
	write_jsonb_or_null(out, op == 'm' ? NULL : ev->new);
	appendStringInfoString(out, ",\"source\":{\"version\":\"" PG_EVENTSTREAM_VERSION
						   "\",\"connector\":\"postgresql\",\"name\":");
	es_json_cstring(out, ev->stream);
	if (ev->has_time)
	{
		appendStringInfoString(out, ",\"ts_ms\":");
		es_json_int64(out, epoch_ms(ev->commit_time));
	}
	appendStringInfo(out, ",\"snapshot\":\"%s\",\"db\":", op == 'r' ? "true" : "false");
	es_json_cstring(out, database);
	appendStringInfoString(out, ",\"sequence\":\"[\\\"");
	es_json_uint64(out, ev->commit_lsn);
	appendStringInfoString(out, "\\\",\\\"");
	es_json_uint64(out, ev->lsn);
	appendStringInfoString(out, "\\\"]\",\"schema\":");
	write_cstring_or_null(out, ev->schema_name);
	appendStringInfoString(out, ",\"table\":");
	write_cstring_or_null(out, ev->table_name);
	if (ev->has_xid)
	{
		appendStringInfoString(out, ",\"txId\":");
		es_json_uint64(out, ev->xid);
	}
	appendStringInfoString(out, ",\"lsn\":");
	es_json_uint64(out, ev->lsn);
	appendStringInfoString(out, ",\"xmin\":null}");
	if (op == 'm')
	{
		appendStringInfoString(out, ",\"message\":");
		write_jsonb_or_null(out, ev->new);
	}
	if (op != 0)
		appendStringInfo(out, ",\"op\":\"%c\"", op);
	appendStringInfoString(out, ",\"ts_ms\":");
	es_json_int64(out, epoch_ms(GetCurrentTimestamp()));
	appendStringInfoString(out, ",\"eventstream\":{\"stream\":");
	es_json_cstring(out, ev->stream);
	appendStringInfoString(out, ",\"id\":");
	es_json_int64(out, ev->id);
	appendStringInfoString(out, ",\"op\":");
	es_json_cstring(out, ev->op);
	appendStringInfoString(out, "}}");
}

static void
write_cloudevents(StringInfo out, const EsLogEvent *ev, const char *source)
{
	appendStringInfoString(out, "{\"specversion\":\"1.0\",\"id\":\"");
	/* the plugin's id for a committed change; the log's id otherwise */
	if (!XLogRecPtrIsInvalid(ev->commit_lsn) && ev->seq > 0)
		appendStringInfo(out, "%X/%X:%d", LSN_FORMAT_ARGS(ev->commit_lsn), ev->seq);
	else
		appendStringInfo(out, "eventstream:" INT64_FORMAT, ev->id);
	appendStringInfoString(out, "\",\"source\":");
	es_json_cstring(out, source);
	appendStringInfoString(out, ",\"type\":");
	es_json_cstring(out, psprintf("eventstream.%s", ev->op));
	if (ev->schema_name != NULL && ev->table_name != NULL)
	{
		appendStringInfoString(out, ",\"subject\":");
		es_json_cstring(out, psprintf("%s.%s", ev->schema_name, ev->table_name));
	}
	if (ev->has_time)
	{
		appendStringInfoString(out, ",\"time\":");
		es_json_timestamp(out, ev->commit_time, true);
	}
	appendStringInfoString(out, ",\"datacontenttype\":\"application/json\"");
	if (ev->key != NULL)
	{
		StringInfoData key;

		initStringInfo(&key);
		es_json_jsonb(&key, ev->key);
		appendStringInfoString(out, ",\"partitionkey\":");
		es_json_string(out, key.data, key.len);
		pfree(key.data);
	}
	appendStringInfoString(out, ",\"eventstream\":");
	es_json_cstring(out, ev->stream);
	appendStringInfoString(out, ",\"eventstreamid\":");
	es_json_int64(out, ev->id);
	appendStringInfoString(out, ",\"data\":{\"op\":");
	es_json_cstring(out, ev->op);
	appendStringInfoString(out, ",\"schema\":");
	write_cstring_or_null(out, ev->schema_name);
	appendStringInfoString(out, ",\"table\":");
	write_cstring_or_null(out, ev->table_name);
	write_key_old_new(out, ev);
	appendStringInfoString(out, "}}");
}

/*
 * es_sink_write_value appends the event in a format.  The database's name
 * (debezium's "db", cloudevents' default "source") is looked up once.
 */
void
es_sink_write_value(StringInfo out, EsSinkFormat format, const EsLogEvent *ev)
{
	static char *database = NULL;
	static char *source = NULL;

	if (database == NULL)
	{
		database = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
		source = MemoryContextStrdup(TopMemoryContext, es_cloudevents_default_source(database));
	}
	switch (format)
	{
		case ES_SINK_JSON:
			write_json(out, ev);
			break;
		case ES_SINK_DEBEZIUM:
			write_debezium(out, ev, database);
			break;
		case ES_SINK_CLOUDEVENTS:
			write_cloudevents(out, ev, source);
			break;
	}
}

/* es_sink_content_type is the Content-Type of a request of nevents */
const char *
es_sink_content_type(EsSinkFormat format, bool batch)
{
	if (format == ES_SINK_CLOUDEVENTS)
		return batch ? "application/cloudevents-batch+json" : "application/cloudevents+json";
	return "application/json";
}
