/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Streams and the event log, as the capture worker sees them.
 *
 *	  streams.c		stream definitions: loading, matching tables to streams
 *	  batch.c		the sink that gathers decoded events into a batch
 *	  apply.c		writing a batch into the log segments, exactly once
 *
 * The log is eventstream.event_log, partitioned by range on (stream_id,
 * id); each partition is a segment of a stream holding a fixed range of
 * ids.  Ids are dense per stream and assigned in commit order when a batch
 * is applied; the apply transaction also moves the worker's replication
 * origin, so a batch is in the log exactly once however the worker dies.
 *
 * src/stream/stream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_STREAM_H
#define ES_STREAM_H

#include "nodes/bitmapset.h"
#include "utils/tuplestore.h"

#include "../decoder/decoder.h"

/* one stream's definition, as of the WAL position being decoded */
typedef struct EsStreamDef
{
	int32		id;
	char	   *name;
	List	   *patterns;		/* EsTablePattern list */
	int			opmask;			/* ES_OP_* */
	int64		segment_size;
} EsStreamDef;

/* all streams of the database */
typedef struct EsStreamSet
{
	MemoryContext cxt;
	int			nstreams;
	EsStreamDef *streams;
	char	   *tables_option;	/* union of the patterns, plugin syntax */
	HTAB	   *matches;		/* relid -> streams that take its changes */
} EsStreamSet;

/* the sink: decoded events of whole transactions, waiting to be applied */
typedef struct EsBatch
{
	EsSink		sink;			/* must be first */
	MemoryContext cxt;
	TupleDesc	desc;			/* of the buffered events */
	Tuplestorestate *store;
	int64		nevents;
	bool		defs_changed;	/* a transaction changed the stream catalog */
	TimestampTz last_commit_time;
	StringInfoData key;
	StringInfoData old;
	StringInfoData new;
	TransactionId last_xid;		/* cache for the xid's epoch */
	FullTransactionId last_fxid;
} EsBatch;

/* columns of a buffered event */
enum
{
	ES_BUF_KIND,
	ES_BUF_RELID,
	ES_BUF_SCHEMA,
	ES_BUF_TABLE,
	ES_BUF_KEY,
	ES_BUF_OLD,
	ES_BUF_NEW,
	ES_BUF_LSN,
	ES_BUF_COMMIT_LSN,
	ES_BUF_XID,
	ES_BUF_COMMIT_TIME,
	ES_BUF_SEQ,
	ES_BUF_NCOLS
};

/* streams.c */
extern EsStreamSet *es_streams_load(MemoryContext parent);
extern void es_streams_free(EsStreamSet *set);
extern Bitmapset *es_streams_matching(EsStreamSet *set, Oid relid,
									  const char *schema, const char *table,
									  int opmask);
extern int	es_streams_find(EsStreamSet *set, const char *name);

/* batch.c */
extern EsBatch *es_batch_create(MemoryContext parent, RepOriginId origin);
extern void es_batch_reset(EsBatch *batch);

/* apply.c */
extern int64 es_apply_batch(EsBatch *batch, EsStreamSet *set);

#endif							/* ES_STREAM_H */
