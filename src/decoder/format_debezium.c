/*-------------------------------------------------------------------------
 *
 * format_debezium.c
 *	  format=debezium: the value of a Debezium PostgreSQL connector change
 *	  event with schemas disabled.
 *
 *	  {"before":{...}|null,"after":{...}|null,
 *	   "source":{"version":..,"connector":"postgresql","name":<slot>,
 *				 "ts_ms":<commit time>,"snapshot":"false","db":..,
 *				 "sequence":"[\"<commit lsn>\",\"<lsn>\"]","schema":..,
 *				 "table":..,"txId":..,"lsn":<lsn as integer>,"xmin":null},
 *	   "op":"c|u|d|t|m","ts_ms":<processing time>,"transaction":..}
 *
 * Unchanged TOAST values appear as "__debezium_unavailable_value", as the
 * connector writes them.  With include-transaction, begin and commit become
 * Debezium's transaction metadata events ({"status":"BEGIN",...}) and every
 * change carries a "transaction" block.  Events Debezium has no shape for
 * (schema, streaming and two-phase control) use the native body.
 *
 * src/decoder/format_debezium.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "utils/timestamp.h"

#include "../common/json_write.h"
#include "decoder.h"

/* milliseconds since the Unix epoch */
static int64
epoch_ms(TimestampTz ts)
{
	return ts / 1000 +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

/* Debezium's transaction id: "<xid>:<commit lsn as integer>" */
static void
write_txn_id(StringInfo out, const EsEvent *ev)
{
	appendStringInfo(out, "\"%u:" UINT64_FORMAT "\"", ev->xid,
					 (uint64) ev->commit_lsn);
}

/*
 * es_format_debezium_init formats the parts of "source" that stay the same
 * for the whole session, once.
 */
void
es_format_debezium_init(EsDecodingData *data)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, ",\"source\":{\"version\":\"" PG_EVENTSTREAM_VERSION
						   "\",\"connector\":\"postgresql\",\"name\":");
	es_json_cstring(&buf, data->slot_name);
	data->dbz_source_head = buf.data;

	initStringInfo(&buf);
	appendStringInfoString(&buf, ",\"snapshot\":\"false\",\"db\":");
	es_json_cstring(&buf, data->database_name);
	data->dbz_source_db = buf.data;
}

static void
write_source(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	EsOptions  *opts = &data->opts;

	appendStringInfoString(out, data->dbz_source_head);
	if (opts->include_timestamp && ev->commit_time != 0)
	{
		appendStringInfoString(out, ",\"ts_ms\":");
		es_json_int64(out, epoch_ms(ev->commit_time));
	}
	appendStringInfoString(out, data->dbz_source_db);
	if (opts->include_lsn)
	{
		/* Debezium's sequence: a JSON array of two LSNs, as a string */
		appendStringInfoString(out, ",\"sequence\":\"[\\\"");
		es_json_uint64(out, ev->commit_lsn);
		appendStringInfoString(out, "\\\",\\\"");
		es_json_uint64(out, ev->lsn);
		appendStringInfoString(out, "\\\"]\"");
	}
	if (ev->rel != NULL)
	{
		appendStringInfoCharMacro(out, ',');
		appendStringInfoString(out, ev->rel->names_json);
	}
	if (opts->include_xids && TransactionIdIsValid(ev->xid))
	{
		appendStringInfoString(out, ",\"txId\":");
		es_json_uint64(out, ev->xid);
	}
	if (opts->include_lsn && !XLogRecPtrIsInvalid(ev->lsn))
	{
		appendStringInfoString(out, ",\"lsn\":");
		es_json_uint64(out, ev->lsn);
	}
	appendStringInfoString(out, ",\"xmin\":null}");
}

/* "op" and the processing time "ts_ms" that end every change event */
static void
write_op_and_time(StringInfo out, EsDecodingData *data, char op)
{
	appendStringInfo(out, ",\"op\":\"%c\"", op);
	if (data->opts.include_timestamp)
	{
		appendStringInfoString(out, ",\"ts_ms\":");
		es_json_int64(out, epoch_ms(GetCurrentTimestamp()));
	}
}

static void
write_transaction_block(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	if (!data->opts.include_transaction || ev->seq == 0 ||
		XLogRecPtrIsInvalid(ev->commit_lsn))
	{
		appendStringInfoString(out, ",\"transaction\":null");
		return;
	}
	appendStringInfoString(out, ",\"transaction\":{\"id\":");
	write_txn_id(out, ev);
	appendStringInfoString(out, ",\"total_order\":");
	es_json_int64(out, ev->seq);
	appendStringInfoCharMacro(out, '}');
}

static void
write_row_change(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	EsRelInfo  *rel = ev->rel;
	bool		full = rel->identity == REPLICA_IDENTITY_FULL;
	char		op;

	resetStringInfo(&data->oversized);
	appendStringInfoString(out, "{\"before\":");
	if (ev->oldtuple != NULL)
		es_write_row(out, data, rel, ev->oldtuple, !full, ES_TOAST_PLACEHOLDER);
	else
		appendStringInfoString(out, "null");

	appendStringInfoString(out, ",\"after\":");
	if (ev->newtuple != NULL)
		es_write_row(out, data, rel, ev->newtuple, false, ES_TOAST_PLACEHOLDER);
	else
		appendStringInfoString(out, "null");

	es_warn_oversized(data, ev);	/* (Debezium's shape has no place to list them) */

	write_source(out, data, ev);
	op = ev->kind == ES_EV_INSERT ? 'c' : ev->kind == ES_EV_UPDATE ? 'u' : 'd';
	write_op_and_time(out, data, op);
	write_transaction_block(out, data, ev);
	appendStringInfoCharMacro(out, '}');
}

/* es_format_debezium writes one event in the Debezium format */
void
es_format_debezium(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	switch (ev->kind)
	{
		case ES_EV_INSERT:
		case ES_EV_UPDATE:
		case ES_EV_DELETE:
			write_row_change(out, data, ev);
			break;
		case ES_EV_TRUNCATE:
			appendStringInfoString(out, "{\"before\":null,\"after\":null");
			write_source(out, data, ev);
			write_op_and_time(out, data, 't');
			write_transaction_block(out, data, ev);
			appendStringInfoCharMacro(out, '}');
			break;
		case ES_EV_MESSAGE:
			appendStringInfoString(out, "{\"op\":\"m\"");
			if (data->opts.include_timestamp)
			{
				appendStringInfoString(out, ",\"ts_ms\":");
				es_json_int64(out, epoch_ms(GetCurrentTimestamp()));
			}
			write_source(out, data, ev);
			appendStringInfoString(out, ",\"message\":{\"prefix\":");
			es_json_cstring(out, ev->prefix);
			appendStringInfoString(out, ",\"content\":");
			es_json_base64(out, ev->content, ev->content_size);
			appendStringInfoString(out, "}}");
			break;
		case ES_EV_BEGIN:
		case ES_EV_COMMIT:
			appendStringInfo(out, "{\"status\":\"%s\",\"id\":",
							 ev->kind == ES_EV_BEGIN ? "BEGIN" : "END");
			write_txn_id(out, ev);
			if (data->opts.include_timestamp && ev->commit_time != 0)
			{
				appendStringInfoString(out, ",\"ts_ms\":");
				es_json_int64(out, epoch_ms(ev->commit_time));
			}
			if (ev->kind == ES_EV_BEGIN)
				appendStringInfoString(out, ",\"event_count\":null}");
			else
			{
				appendStringInfoString(out, ",\"event_count\":");
				es_json_int64(out, ev->event_count);
				appendStringInfoCharMacro(out, '}');
			}
			break;
		default:
			es_write_event_body(out, data, ev, true);
			break;
	}
}
