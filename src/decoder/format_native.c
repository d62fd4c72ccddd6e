/*-------------------------------------------------------------------------
 *
 * format_native.c
 *	  The native JSON event of SPEC.md section 1 (format=json).
 *
 *	  {"op":"update","schema":"public","table":"orders","xid":743,
 *	   "lsn":"0/16B37C0","commit_lsn":"0/16B3A10",
 *	   "commit_time":"2026-11-24T08:49:33.905123Z","seq":3,
 *	   "key":{...},"old":{...},"new":{...},"unchanged_toast":[...]}
 *
 * The body writer is shared: CloudEvents puts the same body, without the
 * transaction metadata, in its "data" attribute, and the Debezium format
 * uses it for the events Debezium has no shape for (schema, streaming and
 * two-phase control events).
 *
 * src/decoder/format_native.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"

#include "../common/json_write.h"
#include "decoder.h"

/*
 * ,"commit_lsn":..,"commit_time":.. -- the same for every event of a
 * transaction, so formatted once and kept until the next transaction.
 */
static void
write_commit_meta(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	EsOptions  *opts = &data->opts;
	StringInfo	meta = &data->commit_meta;

	if (ev->commit_lsn != data->meta_commit_lsn ||
		ev->commit_time != data->meta_commit_time)
	{
		resetStringInfo(meta);
		if (opts->include_lsn && !XLogRecPtrIsInvalid(ev->commit_lsn))
		{
			appendStringInfoString(meta, ",\"commit_lsn\":");
			es_json_lsn(meta, ev->commit_lsn);
		}
		if (opts->include_timestamp && ev->commit_time != 0)
		{
			appendStringInfoString(meta, ",\"commit_time\":");
			es_json_timestamp(meta, ev->commit_time, true);
		}
		data->meta_commit_lsn = ev->commit_lsn;
		data->meta_commit_time = ev->commit_time;
	}
	appendBinaryStringInfo(out, meta->data, meta->len);
}

/* xid, lsn, commit_lsn, commit_time and seq, as far as known and wanted */
static void
write_meta(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	EsOptions  *opts = &data->opts;

	if (opts->include_xids && TransactionIdIsValid(ev->xid))
	{
		appendStringInfoString(out, ",\"xid\":");
		es_json_uint64(out, ev->xid);
		if (TransactionIdIsValid(ev->subxid) && ev->subxid != ev->xid)
		{
			appendStringInfoString(out, ",\"subxid\":");
			es_json_uint64(out, ev->subxid);
		}
	}
	if (opts->include_lsn && !XLogRecPtrIsInvalid(ev->lsn))
	{
		appendStringInfoString(out, ",\"lsn\":");
		es_json_lsn(out, ev->lsn);
	}
	write_commit_meta(out, data, ev);
	if (ev->seq > 0)
	{
		appendStringInfoString(out, ",\"seq\":");
		es_json_int64(out, ev->seq);
	}
}

static const char *
identity_name(char identity)
{
	switch (identity)
	{
		case REPLICA_IDENTITY_DEFAULT:
			return "default";
		case REPLICA_IDENTITY_FULL:
			return "full";
		case REPLICA_IDENTITY_INDEX:
			return "index";
		default:
			return "nothing";
	}
}

/*
 * es_write_event_body writes the event as a native JSON object; with_meta
 * false leaves out the transaction metadata (xid, LSNs, commit time, seq).
 */
void
es_write_event_body(StringInfo out, EsDecodingData *data, const EsEvent *ev,
					bool with_meta)
{
	appendStringInfoString(out, "{\"op\":\"");
	appendStringInfoString(out, es_event_op(ev->kind));
	appendStringInfoCharMacro(out, '"');
	if (ev->rel != NULL)
	{
		appendStringInfoCharMacro(out, ',');
		appendStringInfoString(out, ev->rel->names_json);
	}
	if (with_meta)
		write_meta(out, data, ev);

	switch (ev->kind)
	{
		case ES_EV_INSERT:
		case ES_EV_UPDATE:
		case ES_EV_DELETE:
			es_write_row_fields(out, data, ev);
			break;
		case ES_EV_TRUNCATE:
			appendStringInfo(out, ",\"cascade\":%s,\"restart_identity\":%s",
							 ev->cascade ? "true" : "false",
							 ev->restart_seqs ? "true" : "false");
			break;
		case ES_EV_MESSAGE:
			appendStringInfoString(out, ",\"prefix\":");
			es_json_cstring(out, ev->prefix);
			appendStringInfo(out, ",\"transactional\":%s",
							 ev->transactional ? "true" : "false");
			es_write_message_content(out, ev);
			break;
		case ES_EV_SCHEMA:
			appendStringInfo(out, ",\"identity\":\"%s\",\"columns\":",
							 identity_name(ev->rel->identity));
			appendStringInfoString(out, ev->rel->type_names_json);
			break;
		case ES_EV_COMMIT:
		case ES_EV_PREPARE:
		case ES_EV_STREAM_COMMIT:
			if (ev->gid != NULL)
			{
				appendStringInfoString(out, ",\"gid\":");
				es_json_cstring(out, ev->gid);
			}
			appendStringInfoString(out, ",\"event_count\":");
			es_json_int64(out, ev->event_count);
			break;
		case ES_EV_BEGIN:
		case ES_EV_COMMIT_PREPARED:
		case ES_EV_ROLLBACK_PREPARED:
			if (ev->gid != NULL)
			{
				appendStringInfoString(out, ",\"gid\":");
				es_json_cstring(out, ev->gid);
			}
			break;
		case ES_EV_STREAM_START:
		case ES_EV_STREAM_STOP:
		case ES_EV_STREAM_ABORT:
			break;
		case ES_EV_SNAPSHOT:
		case ES_EV_ERROR:
			elog(ERROR, "decoding made an event of the log's own kind %d", (int) ev->kind);
	}
	appendStringInfoCharMacro(out, '}');
}

/* es_format_native writes one event in the native format */
void
es_format_native(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	es_write_event_body(out, data, ev, true);
}
