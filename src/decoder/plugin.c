/*-------------------------------------------------------------------------
 *
 * plugin.c
 *	  The logical decoding callbacks of the pg_eventstream output plugin.
 *
 * Logical decoding calls these as it replays each committed transaction
 * (or, with stream-changes, blocks of a transaction still in progress, and
 * with two-phase, a prepared transaction at PREPARE).  Each callback builds
 * an EsEvent and hands it to the session's format; every event is one
 * write, so a transaction of any size never becomes one huge document.
 *
 * Per-transaction state (has a begin event been written, how many events
 * so far) hangs off ReorderBufferTXN.output_plugin_private; everything
 * else allocated while writing an event lives in data->change_cxt, which
 * is reset after each event.
 *
 * Event order inside a transaction: begin (include-transaction, deferred
 * to the first emitted event with skip-empty-xacts), then for each change
 * an optional schema event and the change itself numbered by seq, then
 * commit with event_count.  Streamed transactions are framed by
 * stream_start / stream_stop blocks and end in stream_commit or
 * stream_abort; prepared ones end in prepare and are later followed by
 * commit_prepared or rollback_prepared.  These framing events are written
 * whenever streaming or two-phase decoding is on, because a consumer
 * cannot use streamed or prepared changes without them.
 *
 * src/decoder/plugin.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "../common/json_write.h"
#include "decoder.h"

/* report progress to the walsender after this many skipped changes */
#define ES_SKIPPED_PROGRESS_INTERVAL 100

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/* set by the capture worker before it creates its decoding context */
EsCaptureReceiver	   *es_capture_receiver = NULL;

/* per-transaction state, in ReorderBufferTXN.output_plugin_private */
typedef struct EsTxnState
{
	int64		seq;			/* events written so far */
	bool		begin_sent;		/* begin event written */
	bool		start_sent;		/* stream_start of the current block written */
	bool		any_sent;		/* anything written for this transaction */
	int			skipped;		/* changes filtered out since last progress */
	EsCollections collections;	/* with include-transaction: per relation */
} EsTxnState;

static EsTxnState *
txn_state(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	if (txn->output_plugin_private == NULL)
		txn->output_plugin_private =
			MemoryContextAllocZero(ctx->context, sizeof(EsTxnState));
	return (EsTxnState *) txn->output_plugin_private;
}

static void
txn_state_free(ReorderBufferTXN *txn)
{
	EsTxnState *st = txn->output_plugin_private;

	if (st != NULL)
	{
		for (int i = 0; i < st->collections.n; i++)
			pfree(st->collections.items[i].name);
		if (st->collections.items != NULL)
			pfree(st->collections.items);
		pfree(st);
	}
	txn->output_plugin_private = NULL;
}

/*
 * Count a change of rel in its transaction; returns its position among
 * the transaction's changes of rel.  Transactions touch few relations: a
 * list searched in order is enough.
 */
static int64
count_collection(LogicalDecodingContext *ctx, EsTxnState *st, EsRelInfo *rel)
{
	EsCollections *c = &st->collections;
	int			i;

	for (i = 0; i < c->n; i++)
	{
		if (c->items[i].relid == rel->report_relid)
			return ++c->items[i].count;
	}
	if (c->n == c->size)
	{
		c->size = Max(8, c->size * 2);
		c->items = c->items == NULL ?
			MemoryContextAlloc(ctx->context, sizeof(EsCollection) * c->size) :
			repalloc(c->items, sizeof(EsCollection) * c->size);
	}
	c->items[c->n].relid = rel->report_relid;
	c->items[c->n].name = MemoryContextStrdup(ctx->context,
											  psprintf("%s.%s", rel->schema_name, rel->table_name));
	c->items[c->n].count = 1;
	return c->items[c->n++].count;
}

/* the top-level transaction of a (sub)transaction */
static inline ReorderBufferTXN *
top_txn(ReorderBufferTXN *txn)
{
	return txn->toptxn ? txn->toptxn : txn;
}

/* initialize ev for an event of txn; streamed changes have no commit yet */
static void
event_init(EsEvent *ev, EsEventKind kind, ReorderBufferTXN *txn, bool streamed)
{
	memset(ev, 0, sizeof(EsEvent));
	ev->kind = kind;
	if (txn != NULL)
	{
		ev->xid = txn->xid;
		if (!streamed)
		{
			ev->commit_lsn = txn->final_lsn;
			ev->commit_time = txn->xact_time.commit_time;
		}
		ev->gid = txn->gid;	/* NULL unless prepared */
	}
}

/* end the output message begun at data->message_start (pretty-printed if asked) */
static void
finish_message(LogicalDecodingContext *ctx, bool last)
{
	EsDecodingData *data = ctx->output_plugin_private;

	if (data->opts.pretty)
	{
		int			start = data->message_start;
		int			len = ctx->out->len - start;
		char	   *compact = palloc(len);

		memcpy(compact, ctx->out->data + start, len);
		ctx->out->len = start;
		es_json_pretty(ctx->out, compact, len);
	}
	OutputPluginWrite(ctx, last);
}

/*
 * es_output_next ends the current output message and begins another, for
 * a format that writes one event as several documents (Debezium's delete
 * and create for a key change)
 */
StringInfo
es_output_next(EsDecodingData *data)
{
	LogicalDecodingContext *ctx = data->ctx;

	finish_message(ctx, false);
	OutputPluginPrepareWrite(ctx, true);
	data->message_start = ctx->out->len;
	return ctx->out;
}

/* write one event, in the session's format, as one output message */
static void
emit(LogicalDecodingContext *ctx, const EsEvent *ev)
{
	EsDecodingData *data = ctx->output_plugin_private;
	MemoryContext oldcxt = MemoryContextSwitchTo(data->change_cxt);

	if (data->receiver != NULL)
	{
		data->receiver->event(data->receiver, data, ev);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(data->change_cxt);
		return;
	}

	OutputPluginPrepareWrite(ctx, true);
	data->message_start = ctx->out->len;
	data->opts.format->write(ctx->out, data, ev);
	finish_message(ctx, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(data->change_cxt);
}

/* emit a control event that carries only the transaction's identity */
static void
emit_txn_event(LogicalDecodingContext *ctx, EsEventKind kind,
			   ReorderBufferTXN *txn, bool streamed)
{
	EsEvent		ev;

	event_init(&ev, kind, txn, streamed);
	emit(ctx, &ev);
}

/*
 * Called before every event written inside a transaction's block: writes
 * the deferred begin (or stream_start) first.
 */
static void
open_block(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, bool streamed)
{
	EsDecodingData *data = ctx->output_plugin_private;
	EsTxnState *st = txn_state(ctx, txn);

	if (streamed)
	{
		if (!st->start_sent)
		{
			emit_txn_event(ctx, ES_EV_STREAM_START, txn, true);
			st->start_sent = true;
		}
	}
	else if (data->opts.include_transaction && !st->begin_sent)
	{
		emit_txn_event(ctx, ES_EV_BEGIN, txn, false);
		st->begin_sent = true;
	}
}

/* open the block if needed and number the next change of the transaction */
static int64
next_seq(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, bool streamed)
{
	EsTxnState *st = txn_state(ctx, txn);

	open_block(ctx, txn, streamed);
	st->any_sent = true;
	return ++st->seq;
}

/* let the walsender know we are alive while filtering out many changes */
static void
note_skipped(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	EsTxnState *st = txn_state(ctx, txn);

	if (++st->skipped >= ES_SKIPPED_PROGRESS_INTERVAL)
	{
		st->skipped = 0;
		OutputPluginUpdateProgress(ctx, false);
	}
}

/* the schema event before a relation's first change, and after it changes */
static void
maybe_emit_schema(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  EsRelInfo *rel, XLogRecPtr lsn, bool streamed)
{
	EsDecodingData *data = ctx->output_plugin_private;
	EsEvent		ev;

	if (!data->opts.include_schema || es_relinfo_schema_announced(rel))
		return;

	/* inside the transaction's block, before the change it describes */
	open_block(ctx, txn, streamed);
	event_init(&ev, ES_EV_SCHEMA, txn, streamed);
	ev.rel = rel;
	ev.lsn = lsn;
	emit(ctx, &ev);
}

/* convert a tuple to the reported (root) layout when needed */
static HeapTuple
report_tuple(EsRelInfo *rel, ReorderBufferTupleBuf *buf)
{
	if (buf == NULL)
		return NULL;
	if (rel->map == NULL)
		return &buf->tuple;
	return execute_attr_map_tuple(&buf->tuple, rel->map);
}

/* ---------------------------------------------------------------------
 * Startup and shutdown
 * ---------------------------------------------------------------------
 */

/*
 * The current database's name, in mcxt.  Catalog access needs a
 * transaction, which a walsender starting to decode does not have.
 */
static char *
database_name(MemoryContext mcxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	char	   *name;

	if (IsTransactionState())
		return MemoryContextStrdup(mcxt, get_database_name(MyDatabaseId));

	StartTransactionCommand();
	name = MemoryContextStrdup(mcxt, get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	return name;
}

static void
es_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	EsDecodingData *data = palloc0(sizeof(EsDecodingData));

	data->change_cxt = AllocSetContextCreate(ctx->context,
											 "pg_eventstream change",
											 ALLOCSET_DEFAULT_SIZES);
	data->cache_cxt = AllocSetContextCreate(ctx->context,
											"pg_eventstream cache",
											ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&data->scratch);
	initStringInfo(&data->oversized);
	initStringInfo(&data->json_nulls_buf[0]);
	initStringInfo(&data->json_nulls_buf[1]);
	initStringInfo(&data->commit_meta);
	data->meta_commit_lsn = InvalidXLogRecPtr;
	data->meta_commit_time = 0;

	es_parse_options(&data->opts, ctx->output_plugin_options);

	data->database_name = database_name(ctx->context);
	data->slot_name = pstrdup(NameStr(ctx->slot->data.name));

	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;

	/* the capture worker wants whole committed transactions only */
	data->receiver = es_capture_receiver;
	data->max_event_size = data->receiver ? ES_MAX_LOG_PART_SIZE : ES_MAX_EVENT_SIZE;
	if (data->receiver != NULL)
	{
		data->opts.stream_changes = false;
		data->opts.two_phase = false;
		data->opts.include_transaction = false;
		data->opts.include_schema = false;
	}

	ctx->streaming &= data->opts.stream_changes;
	if (data->opts.two_phase)
		ctx->twophase_opt_given = true;
	else
		ctx->twophase = false;

	if (data->opts.format->startup != NULL)
		data->opts.format->startup(data);

	ctx->output_plugin_private = data;
	data->ctx = ctx;
	es_relinfo_init(data);
}

static void
es_shutdown(LogicalDecodingContext *ctx)
{
	/* the memory goes with ctx->context */
	es_relinfo_shutdown();
}

static bool
es_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	EsDecodingData *data = ctx->output_plugin_private;

	if (data->receiver != NULL && origin_id == data->receiver->origin)
		return true;
	return data->opts.only_local && origin_id != InvalidRepOriginId;
}

/* ---------------------------------------------------------------------
 * Transactions
 * ---------------------------------------------------------------------
 */

static void
es_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	EsDecodingData *data = ctx->output_plugin_private;
	EsTxnState *st = txn_state(ctx, txn);

	if (data->opts.include_transaction && !data->opts.skip_empty_xacts)
	{
		emit_txn_event(ctx, ES_EV_BEGIN, txn, false);
		st->begin_sent = true;
	}
}

/*
 * End a committed transaction: report progress (so a walsender can confirm
 * past transactions that wrote nothing), write the closing event with the
 * event count if wanted, and free the transaction's state.
 */
static void
finish_txn(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		   EsEventKind kind, XLogRecPtr commit_lsn, bool write_event)
{
	EsTxnState *st = txn_state(ctx, txn);

	OutputPluginUpdateProgress(ctx, st->seq == 0);
	if (write_event)
	{
		EsEvent		ev;

		event_init(&ev, kind, txn, false);
		ev.commit_lsn = commit_lsn;
		ev.event_count = st->seq;
		ev.collections = &st->collections;
		emit(ctx, &ev);
	}
	txn_state_free(txn);
}

static void
es_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		  XLogRecPtr commit_lsn)
{
	EsDecodingData *data = ctx->output_plugin_private;
	EsTxnState *st = txn_state(ctx, txn);

	finish_txn(ctx, txn, ES_EV_COMMIT, commit_lsn,
			   data->opts.include_transaction && st->begin_sent);
}

/* ---------------------------------------------------------------------
 * Changes
 * ---------------------------------------------------------------------
 */

static void
decode_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			  Relation relation, ReorderBufferChange *change, bool streamed)
{
	EsDecodingData *data = ctx->output_plugin_private;
	EsRelInfo  *rel;
	EsEvent		ev;
	MemoryContext oldcxt;
	EsEventKind kind;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			kind = ES_EV_INSERT;
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			kind = ES_EV_UPDATE;
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			kind = ES_EV_DELETE;
			break;
		default:
			elog(ERROR, "unexpected change action %d", (int) change->action);
	}

	rel = es_relinfo_get(data, relation);
	if (!rel->publish || (data->opts.operations & es_event_kinds[kind].opmask) == 0)
	{
		note_skipped(ctx, txn);
		return;
	}

	maybe_emit_schema(ctx, txn, rel, change->lsn, streamed);

	oldcxt = MemoryContextSwitchTo(data->change_cxt);
	event_init(&ev, kind, txn, streamed);
	ev.rel = rel;
	ev.lsn = change->lsn;
	if (streamed)
		ev.subxid = change->txn->xid;
	ev.oldtuple = report_tuple(rel, change->data.tp.oldtuple);
	ev.newtuple = report_tuple(rel, change->data.tp.newtuple);
	MemoryContextSwitchTo(oldcxt);

	ev.seq = next_seq(ctx, txn, streamed);
	if (data->opts.include_transaction && !streamed)
		ev.rel_seq = count_collection(ctx, txn_state(ctx, txn), rel);
	emit(ctx, &ev);
}

static void
decode_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				int nrelations, Relation relations[],
				ReorderBufferChange *change, bool streamed)
{
	EsDecodingData *data = ctx->output_plugin_private;
	Oid		   *reported = palloc(sizeof(Oid) * nrelations);
	int			nreported = 0;
	int			i;

	if ((data->opts.operations & ES_OP_TRUNCATE) == 0)
		return;

	for (i = 0; i < nrelations; i++)
	{
		EsRelInfo  *rel = es_relinfo_get(data, relations[i]);
		EsEvent		ev;
		int			j;

		/*
		 * A partitioned table has no rows of its own: without
		 * publish-via-root its partitions report the truncate.
		 */
		if (!rel->publish ||
			(!data->opts.publish_via_root &&
			 relations[i]->rd_rel->relkind == RELKIND_PARTITIONED_TABLE))
			continue;

		/* with publish-via-root, one event per root, not per partition */
		for (j = 0; j < nreported; j++)
		{
			if (reported[j] == rel->report_relid)
				break;
		}
		if (j < nreported)
			continue;
		reported[nreported++] = rel->report_relid;

		event_init(&ev, ES_EV_TRUNCATE, txn, streamed);
		ev.rel = rel;
		ev.lsn = change->lsn;
		if (streamed)
			ev.subxid = change->txn->xid;
		ev.cascade = change->data.truncate.cascade;
		ev.restart_seqs = change->data.truncate.restart_seqs;
		ev.seq = next_seq(ctx, txn, streamed);
		if (data->opts.include_transaction && !streamed)
			ev.rel_seq = count_collection(ctx, txn_state(ctx, txn), rel);
		emit(ctx, &ev);
	}
	pfree(reported);
}

static void
decode_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			   XLogRecPtr lsn, bool transactional, const char *prefix,
			   Size size, const char *message, bool streamed)
{
	EsDecodingData *data = ctx->output_plugin_private;
	EsEvent		ev;

	if (!data->opts.messages)
		return;
	if (data->opts.message_prefixes != NIL)
	{
		ListCell   *lc;
		bool		wanted = false;

		foreach(lc, data->opts.message_prefixes)
		{
			if (strcmp(lfirst(lc), prefix) == 0)
			{
				wanted = true;
				break;
			}
		}
		if (!wanted)
			return;
	}

	event_init(&ev, ES_EV_MESSAGE, transactional ? txn : NULL, streamed);
	if (!transactional && txn != NULL)
		ev.xid = txn->xid;
	ev.lsn = lsn;
	ev.transactional = transactional;
	ev.prefix = prefix;
	ev.content = message;
	ev.content_size = size;
	if (transactional)
		ev.seq = next_seq(ctx, txn, streamed);
	emit(ctx, &ev);
}

static void
es_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		  Relation relation, ReorderBufferChange *change)
{
	decode_change(ctx, txn, relation, change, false);
}

static void
es_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			int nrelations, Relation relations[], ReorderBufferChange *change)
{
	decode_truncate(ctx, txn, nrelations, relations, change, false);
}

static void
es_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		   XLogRecPtr lsn, bool transactional, const char *prefix,
		   Size size, const char *message)
{
	decode_message(ctx, txn, lsn, transactional, prefix, size, message, false);
}

/* ---------------------------------------------------------------------
 * Two-phase: a prepared transaction decoded at PREPARE
 * ---------------------------------------------------------------------
 */

static void
es_begin_prepare(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	es_begin(ctx, txn);
}

static void
es_prepare(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		   XLogRecPtr prepare_lsn)
{
	EsTxnState *st = txn_state(ctx, txn);
	EsEvent		ev;

	event_init(&ev, ES_EV_PREPARE, txn, false);
	ev.lsn = prepare_lsn;
	ev.commit_lsn = InvalidXLogRecPtr;
	ev.event_count = st->seq;
	emit(ctx, &ev);
	txn_state_free(txn);
}

static void
es_commit_prepared(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   XLogRecPtr commit_lsn)
{
	EsEvent		ev;

	event_init(&ev, ES_EV_COMMIT_PREPARED, txn, false);
	ev.commit_lsn = commit_lsn;
	emit(ctx, &ev);
	txn_state_free(txn);
}

static void
es_rollback_prepared(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					 XLogRecPtr prepare_end_lsn, TimestampTz prepare_time)
{
	EsEvent		ev;

	event_init(&ev, ES_EV_ROLLBACK_PREPARED, txn, false);
	ev.lsn = txn->final_lsn;
	ev.commit_lsn = InvalidXLogRecPtr;
	ev.commit_time = 0;
	emit(ctx, &ev);
	txn_state_free(txn);
}

/* ---------------------------------------------------------------------
 * Streaming of in-progress transactions
 * ---------------------------------------------------------------------
 */

static void
es_stream_start(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	EsTxnState *st = txn_state(ctx, txn);

	st->start_sent = false;	/* written with the block's first event */
}

static void
es_stream_stop(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	EsTxnState *st = txn_state(ctx, txn);

	if (st->start_sent)
		emit_txn_event(ctx, ES_EV_STREAM_STOP, txn, true);
	st->start_sent = false;
}

static void
es_stream_abort(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				XLogRecPtr abort_lsn)
{
	ReorderBufferTXN *top = top_txn(txn);
	EsTxnState *st = txn_state(ctx, top);

	if (st->any_sent)
	{
		EsEvent		ev;

		event_init(&ev, ES_EV_STREAM_ABORT, top, true);
		ev.subxid = txn->xid;
		ev.lsn = abort_lsn;
		emit(ctx, &ev);
	}
	if (top == txn)
		txn_state_free(txn);
}

static void
es_stream_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				 XLogRecPtr commit_lsn)
{
	EsDecodingData *data = ctx->output_plugin_private;
	EsTxnState *st = txn_state(ctx, txn);

	finish_txn(ctx, txn, ES_EV_STREAM_COMMIT, commit_lsn,
			   st->any_sent || !data->opts.skip_empty_xacts);
}

static void
es_stream_prepare(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  XLogRecPtr prepare_lsn)
{
	es_prepare(ctx, txn, prepare_lsn);
}

static void
es_stream_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				 Relation relation, ReorderBufferChange *change)
{
	decode_change(ctx, txn, relation, change, true);
}

static void
es_stream_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   int nrelations, Relation relations[],
				   ReorderBufferChange *change)
{
	decode_truncate(ctx, txn, nrelations, relations, change, true);
}

static void
es_stream_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  XLogRecPtr lsn, bool transactional, const char *prefix,
				  Size size, const char *message)
{
	decode_message(ctx, txn, lsn, transactional, prefix, size, message, true);
}

/* _PG_output_plugin_init registers the callbacks of the plugin */
void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = es_startup;
	cb->begin_cb = es_begin;
	cb->change_cb = es_change;
	cb->truncate_cb = es_truncate;
	cb->commit_cb = es_commit;
	cb->message_cb = es_message;
	cb->filter_by_origin_cb = es_filter_by_origin;
	cb->shutdown_cb = es_shutdown;

	cb->begin_prepare_cb = es_begin_prepare;
	cb->prepare_cb = es_prepare;
	cb->commit_prepared_cb = es_commit_prepared;
	cb->rollback_prepared_cb = es_rollback_prepared;

	cb->stream_start_cb = es_stream_start;
	cb->stream_stop_cb = es_stream_stop;
	cb->stream_abort_cb = es_stream_abort;
	cb->stream_prepare_cb = es_stream_prepare;
	cb->stream_commit_cb = es_stream_commit;
	cb->stream_change_cb = es_stream_change;
	cb->stream_message_cb = es_stream_message;
	cb->stream_truncate_cb = es_stream_truncate;
}
