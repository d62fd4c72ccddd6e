/*-------------------------------------------------------------------------
 *
 * target.c
 *	  The streams as a capture target: how the capture worker feeds the
 *	  event log (decoder/target.h describes the routine).
 *
 * The target's state is the batch (batch.c), which holds the stream
 * definitions decoding uses and the backfill chunk in flight; the rest is
 * done by streams.c, apply.c and backfill.c.
 *
 * src/stream/target.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "../common/catalog.h"
#include "../decoder/target.h"
#include "stream.h"

static void *
stream_create(MemoryContext cxt)
{
	return es_batch_create(cxt);
}

static void
stream_load(void *state)
{
	EsBatch    *batch = state;

	if (batch->streams != NULL)
		es_streams_free(batch->streams);
	batch->streams = NULL;
	batch->streams = es_streams_load(batch->parent);
	batch->backfills_done = false;	/* a new stream may want one */
}

static const char *
stream_tables(void *state)
{
	return ((EsBatch *) state)->streams->tables_option;
}

static bool
stream_change(void *state, EsDecodingData *data, const EsEvent *ev)
{
	return es_batch_add((EsBatch *) state, data, ev);
}

/* events to write, or a backfill chunk to record (all its rows dropped, maybe) */
static bool
stream_pending(void *state)
{
	EsBatch    *batch = state;

	return batch->nevents > 0 || (batch->chunk != NULL && batch->chunk->complete);
}

static void
stream_prepare(void *state)
{
	EsBatch    *batch = state;

	es_prepare_segments(batch, batch->streams);
}

static int64
stream_apply(void *state, bool careful)
{
	EsBatch    *batch = state;

	return es_apply_batch(batch, batch->streams, careful);
}

static void
stream_activate(List *ids)
{
	es_catalog_activate("stream_catalog", ids);
}

/*
 * after the commit: the batch is in the log, and so is a complete chunk;
 * the readers waiting for the streams that got events may look
 */
static void
stream_reset(void *state)
{
	EsBatch    *batch = state;
	int			i;

	for (i = 0; batch->streams != NULL && i < batch->streams->nstreams; i++)
	{
		if (batch->streams->streams[i].woken)
			es_stream_wake(batch->streams->streams[i].id);
		batch->streams->streams[i].woken = false;
	}
	es_batch_reset(batch);
	if (batch->chunk != NULL && batch->chunk->complete)
	{
		MemoryContextDelete(batch->chunk->cxt);
		pfree(batch->chunk);
		batch->chunk = NULL;
	}
}

/*
 * caught up, no chunk in flight: read the next backfill chunk.  Once none
 * is left the catalog is not read again until the definitions change
 * (backfill() touches its stream's row for that): this runs after every
 * batch.
 */
static bool
stream_idle(void *state, EsDecodingData *data)
{
	EsBatch    *batch = state;

	if (batch->chunk != NULL || batch->backfills_done)
		return false;
	if (es_backfill_start(batch, data, batch->parent))
		return true;
	batch->backfills_done = true;
	return false;
}

const EsTargetRoutine es_stream_target = {
	.name = "streams",
	.catalog = "stream_catalog",
	.message_prefixes = ES_MESSAGE_PREFIX "," ES_WATERMARK_PREFIX,
	.create = stream_create,
	.load = stream_load,
	.tables = stream_tables,
	.change = stream_change,
	.pending = stream_pending,
	.prepare = stream_prepare,
	.apply = stream_apply,
	.activate = stream_activate,
	.reset = stream_reset,
	.idle = stream_idle,
};
