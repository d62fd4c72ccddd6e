/*-------------------------------------------------------------------------
 *
 * format_cloudevents.c
 *	  format=cloudevents: CloudEvents 1.0 in structured JSON mode.
 *
 *	  {"specversion":"1.0","id":"<commit_lsn>:<seq>",
 *	   "source":"/postgresql/<database>","type":"eventstream.update",
 *	   "subject":"public.orders","time":"<commit time>",
 *	   "datacontenttype":"application/json","partitionkey":"{\"id\":1}",
 *	   "data":{"op":..,"schema":..,"table":..,"key":..,"old":..,"new":..}}
 *
 * "id" is the event's unique (commit_lsn, seq); events without a commit
 * LSN or seq (non-transactional messages, control events, streamed changes)
 * get an id made of what identifies them instead.  "partitionkey" is the
 * compact JSON text of the key, so equal keys partition alike.  "data" is
 * the native body without the transaction metadata.
 *
 * src/decoder/format_cloudevents.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "../common/json_write.h"
#include "decoder.h"

static void
write_id(StringInfo out, const EsEvent *ev)
{
	const char *op = es_event_op(ev->kind);

	if (!XLogRecPtrIsInvalid(ev->commit_lsn) && ev->seq > 0)
		appendStringInfo(out, "\"%X/%X:" INT64_FORMAT "\"",
						 LSN_FORMAT_ARGS(ev->commit_lsn), ev->seq);
	else if (!XLogRecPtrIsInvalid(ev->commit_lsn))
		appendStringInfo(out, "\"%X/%X:%s\"",
						 LSN_FORMAT_ARGS(ev->commit_lsn), op);
	else if (ev->seq > 0)
		appendStringInfo(out, "\"xid-%u:" INT64_FORMAT "\"", ev->xid, ev->seq);
	else if (!XLogRecPtrIsInvalid(ev->lsn))
		appendStringInfo(out, "\"%X/%X:%s\"", LSN_FORMAT_ARGS(ev->lsn), op);
	else
		appendStringInfo(out, "\"xid-%u:%s\"", ev->xid, op);
}

/*
 * es_format_cloudevents_init formats the "source" attribute and the start
 * of "type", the same for the whole session, once.
 */
void
es_format_cloudevents_init(EsDecodingData *data)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, ",\"source\":");
	es_json_cstring(&buf, data->opts.source);
	appendStringInfoString(&buf, ",\"type\":");
	/* the prefix and a dot, as the start of a JSON string left open */
	es_json_cstring(&buf, psprintf("%s.", data->opts.type_prefix));
	buf.data[--buf.len] = '\0';
	data->ce_source_type = buf.data;
}

/* es_format_cloudevents writes one event as a CloudEvent */
void
es_format_cloudevents(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	EsOptions  *opts = &data->opts;

	appendStringInfoString(out, "{\"specversion\":\"1.0\",\"id\":");
	write_id(out, ev);

	/* ,"source":"..","type":"<prefix>.<op>" */
	appendStringInfoString(out, data->ce_source_type);
	appendStringInfoString(out, es_event_op(ev->kind));
	appendStringInfoCharMacro(out, '"');

	if (ev->rel != NULL)
	{
		appendStringInfoString(out, ",\"subject\":");
		appendStringInfoString(out, ev->rel->subject_json);
	}
	else if (ev->kind == ES_EV_MESSAGE)
	{
		appendStringInfoString(out, ",\"subject\":");
		es_json_cstring(out, ev->prefix);
	}

	if (opts->include_timestamp && ev->commit_time != 0)
	{
		appendStringInfoString(out, ",\"time\":");
		es_json_timestamp(out, ev->commit_time, true);
	}
	appendStringInfoString(out, ",\"datacontenttype\":\"application/json\"");

	if (ev->rel != NULL && ev->kind != ES_EV_TRUNCATE &&
		ev->kind != ES_EV_SCHEMA)
	{
		StringInfo	key = &data->scratch;

		resetStringInfo(key);
		if (es_write_key(key, data, ev->rel,
						 ev->newtuple ? ev->newtuple : ev->oldtuple))
		{
			appendStringInfoString(out, ",\"partitionkey\":");
			es_json_string(out, key->data, key->len);
		}
	}

	appendStringInfoString(out, ",\"data\":");
	es_write_event_body(out, data, ev, false);
	appendStringInfoCharMacro(out, '}');
}
