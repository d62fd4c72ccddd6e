/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Streams and the event log, as the capture worker sees them.
 *
 *	  streams.c		stream definitions: loading, matching tables to streams
 *	  target.c		the streams as one of the capture worker's targets
 *	  batch.c		decoded events gathered into a batch
 *	  apply.c		writing a batch into the log segments, exactly once
 *	  backfill.c	existing rows as snapshot events, in watermarked chunks
 *	  message.c		emit()'s signed logical message
 *	  segments.c	the log's segments: names, creation, a stream's last id
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

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "utils/tuplestore.h"

#include "../decoder/decoder.h"

/* the length of emit()'s signing key (message.c) */
#define ES_MESSAGE_KEY_LEN 32

/* one stream's definition, as of the WAL position being decoded */
typedef struct EsStreamDef
{
	int32		id;
	char	   *name;
	List	   *patterns;		/* EsTablePattern list */
	int			opmask;			/* ES_OP_* */
	int64		segment_size;
	int64		last_segno;		/* where the worker found its last id, -1:
								 * not yet (es_stream_last_id) */
	bool		woken;			/* got events in the batch: wake its readers */
} EsStreamDef;

/* all streams of the database */
typedef struct EsStreamSet
{
	MemoryContext cxt;
	int			nstreams;
	EsStreamDef *streams;
	char	   *tables_option;	/* union of the patterns, plugin syntax */
	HTAB	   *matches;		/* relid -> streams that take its changes */
	bool		have_message_key;
	uint8		message_key[ES_MESSAGE_KEY_LEN];	/* checks emit()'s messages */
} EsStreamSet;

/*
 * A chunk of a backfill in flight: rows read between a low and a high
 * watermark; changes decoded between the two drop the rows they touch.
 */
typedef struct EsBackfillChunk
{
	MemoryContext cxt;
	uint64		token;			/* names the chunk's watermarks */
	int32		stream_id;
	Oid			relid;
	char	   *schema_name;
	char	   *table_name;
	int64		chunk_no;
	bool		window_open;	/* low watermark decoded, high not yet */
	bool		complete;		/* high watermark decoded: rows are in the batch */
	int			nrows;
	char	  **keys;			/* key JSON of each row */
	char	  **rows;			/* row JSON */
	bool	   *dropped;
	HTAB	   *by_key;			/* key JSON -> row index */
	int			keysize;
	Datum		last_key;		/* text[] of the last row's key columns */
	int64		kept;			/* rows that became events */
} EsBackfillChunk;

/* decoded events of whole transactions, waiting to be applied */
typedef struct EsBatch
{
	MemoryContext parent;		/* the worker's, for what outlives a batch */
	MemoryContext cxt;
	TupleDesc	desc;			/* of the buffered events */
	Tuplestorestate *store;
	int64		nevents;
	StringInfoData key;
	StringInfoData old;
	StringInfoData new;
	TransactionId last_xid;		/* cache for the xid's epoch */
	FullTransactionId last_fxid;
	EsBackfillChunk *chunk;		/* backfill chunk in flight, or NULL */
	bool		backfills_done; /* none unfinished at the last look, and no
								 * definition changed since */
	EsStreamSet *streams;		/* the definitions decoding uses */
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
	ES_BUF_STREAM,				/* target stream id, or 0: by table */
	ES_BUF_JSONB,				/* key, old and new are jsonb, not JSON text */
	ES_BUF_NCOLS
};

/* streams.c */
extern EsStreamSet *es_streams_load(MemoryContext parent);
extern void es_streams_free(EsStreamSet *set);
extern void es_streams_existing(EsStreamSet *set, bool *exists);
extern Bitmapset *es_streams_matching(EsStreamSet *set, Oid relid,
									  const char *schema, const char *table,
									  EsEventKind kind);
extern int	es_streams_find(EsStreamSet *set, const char *name);

/* batch.c */
extern EsBatch *es_batch_create(MemoryContext parent);
extern bool es_batch_add(EsBatch *batch, EsDecodingData *data, const EsEvent *ev);
extern void es_batch_reset(EsBatch *batch);

/* target.c: the streams as a capture target (decoder/target.h) */
extern PGDLLIMPORT const struct EsTargetRoutine es_stream_target;

/* apply.c */
extern void es_prepare_segments(EsBatch *batch, EsStreamSet *set);
extern int64 es_apply_batch(EsBatch *batch, EsStreamSet *set, bool careful);

/* wake.c: waking the readers of a stream */
extern Size es_wake_shmem_size(void);
extern void es_wake_shmem_init(void);
extern uint64 es_stream_wake_seq(int32 stream_id);
extern void es_stream_wake(int32 stream_id);
extern bool es_stream_wait(int32 stream_id, uint64 seq, TimestampTz deadline);

/* segments.c */
extern void es_segment_name(char *name, int32 stream_id, int64 segno);
extern bool es_segment_parse(const char *name, int32 *stream_id, int64 *segno);
extern Oid	es_segment_relid(int32 stream_id, int64 segno);
extern Oid	es_segment_create(int32 stream_id, int64 segno, int64 segment_size);
extern int64 es_stream_last_id(int32 stream_id, int64 *segno);

/* message.c */
extern bool es_message_key(uint8 *key);
extern void es_message_sign(StringInfo out, const uint8 *key, TransactionId xid,
							const char *json, Size len);
extern bool es_message_verify(const uint8 *key, TransactionId xid, const char *content,
							  Size size, const char **json, Size *len);

/* backfill.c */
#define ES_WATERMARK_PREFIX "eventstream-watermark"
extern bool es_backfill_start(EsBatch *batch, EsDecodingData *data,
							  MemoryContext parent);
extern void es_backfill_message(EsBatch *batch, const EsEvent *ev);
extern void es_backfill_change(EsBatch *batch, EsDecodingData *data,
							   const EsEvent *ev);
extern void es_backfill_record(EsBatch *batch, EsStreamSet *set);

#endif							/* ES_STREAM_H */
