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
 * Values are Debezium's (debezium_values.c), under its default settings
 * or the options named as Debezium names them (time.precision.mode,
 * decimal.handling.mode, interval.handling.mode, binary.handling.mode);
 * unchanged TOAST values are its placeholder in the column's shape.  An
 * update that changes the key is a delete and a create, each delete
 * followed by a tombstone (null) with tombstones.on.delete.  With
 * include-transaction, begin and commit become Debezium's transaction
 * metadata events ({"status":"BEGIN",...}, the END one with its
 * data_collections) and every change carries a "transaction" block with
 * total_order and data_collection_order.  Events Debezium has no shape for
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
	appendStringInfoCharMacro(out, '"');
	es_json_uint64(out, ev->xid);
	appendStringInfoCharMacro(out, ':');
	es_json_uint64(out, (uint64) ev->commit_lsn);
	appendStringInfoCharMacro(out, '"');
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
	appendBinaryStringInfo(out, ",\"op\":\"", 7);
	appendStringInfoCharMacro(out, op);
	appendStringInfoCharMacro(out, '"');
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
	appendStringInfoString(out, ",\"data_collection_order\":");
	es_json_int64(out, ev->rel_seq);
	appendStringInfoCharMacro(out, '}');
}

/* one change event: before, after, source, op, ts_ms, transaction */
static void
write_change_doc(StringInfo out, EsDecodingData *data, const EsEvent *ev,
				 HeapTuple before, HeapTuple after, char op)
{
	EsRelInfo  *rel = ev->rel;
	bool		full = rel->identity == REPLICA_IDENTITY_FULL;

	resetStringInfo(&data->oversized);
	appendStringInfoString(out, "{\"before\":");
	if (before != NULL)
		es_write_row(out, data, rel, before, !full, ES_TOAST_PLACEHOLDER);
	else
		appendStringInfoString(out, "null");

	appendStringInfoString(out, ",\"after\":");
	if (after != NULL)
		es_write_row(out, data, rel, after, false, ES_TOAST_PLACEHOLDER);
	else
		appendStringInfoString(out, "null");

	es_warn_oversized(data, ev);	/* (Debezium's shape has no place to list them) */

	write_source(out, data, ev);
	write_op_and_time(out, data, op);
	write_transaction_block(out, data, ev);
	appendStringInfoCharMacro(out, '}');
}

/*
 * A row change.  As Debezium does, an update that changes the key is a
 * delete of the old key and a create of the new one; with
 * tombstones.on.delete, a delete is followed by a tombstone (null).
 */
static void
write_row_change(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	if (ev->kind == ES_EV_UPDATE && es_key_changed(ev->rel, ev->oldtuple, ev->newtuple))
	{
		write_change_doc(out, data, ev, ev->oldtuple, NULL, 'd');
		if (data->opts.dbz_tombstones)
			appendStringInfoString(es_output_next(data), "null");
		write_change_doc(es_output_next(data), data, ev, NULL, ev->newtuple, 'c');
		return;
	}
	write_change_doc(out, data, ev, ev->oldtuple, ev->newtuple,
					 ev->kind == ES_EV_INSERT ? 'c' : ev->kind == ES_EV_UPDATE ? 'u' : 'd');
	if (ev->kind == ES_EV_DELETE && data->opts.dbz_tombstones)
		appendStringInfoString(es_output_next(data), "null");
}

/* an END event's ,"data_collections":[{"data_collection":..,"event_count":..}] */
static void
write_data_collections(StringInfo out, const EsCollections *c)
{
	appendStringInfoString(out, ",\"data_collections\":[");
	for (int i = 0; c != NULL && i < c->n; i++)
	{
		appendStringInfoString(out, i ? ",{\"data_collection\":" : "{\"data_collection\":");
		es_json_cstring(out, c->items[i].name);
		appendStringInfoString(out, ",\"event_count\":");
		es_json_int64(out, c->items[i].count);
		appendStringInfoCharMacro(out, '}');
	}
	appendStringInfoCharMacro(out, ']');
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
				appendStringInfoString(out, ",\"event_count\":null,\"data_collections\":null}");
			else
			{
				appendStringInfoString(out, ",\"event_count\":");
				es_json_int64(out, ev->event_count);
				write_data_collections(out, ev->collections);
				appendStringInfoCharMacro(out, '}');
			}
			break;
		default:
			es_write_event_body(out, data, ev, true);
			break;
	}
}
