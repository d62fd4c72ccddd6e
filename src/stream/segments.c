/*-------------------------------------------------------------------------
 *
 * segments.c
 *	  The segments of the event log: their names, and making one.
 *
 * A segment is the partition of eventstream.event_log that holds the ids
 * (segno * size, (segno + 1) * size] of one stream; it is named
 * event_log_<stream id>_<segno>, here and nowhere else: SQL lists the
 * segments through eventstream._segments(), which reads the names back
 * with es_segment_parse (src/api/stream_api.c).  It is made as a table of its
 * own and then attached: ATTACH PARTITION takes only a SHARE UPDATE
 * EXCLUSIVE lock on the log, which readers -- a poll waiting for events,
 * a transaction left open -- do not block, where CREATE TABLE ... PARTITION
 * OF would queue behind them, and every reader and writer behind it.
 * Each segment is made with its own primary key: since 0.2.0 the log has
 * none (pg_dump could not restore a partition's key under an extension's
 * partitioned table that has one); under a log of 0.1.0, which has one,
 * ATTACH adopts the segment's key as the partition of the log's.
 *
 * The last id of a stream is the greatest id in its newest segments
 * (es_stream_last_id): read through their keys, not by a query over the
 * whole log, which the worker would plan again after each of its cache
 * resets, at a cost that grows with the number of segments.
 *
 * src/stream/segments.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "../pg_eventstream.h"
#include "stream.h"

/* es_segment_name writes the name of segment segno of stream stream_id */
void
es_segment_name(char *name, int32 stream_id, int64 segno)
{
	snprintf(name, NAMEDATALEN, "event_log_%d_" INT64_FORMAT, stream_id, segno);
}

/*
 * es_segment_parse reads a segment's stream and number back from its
 * name; false if the name is not one es_segment_name writes
 */
bool
es_segment_parse(const char *name, int32 *stream_id, int64 *segno)
{
	char		again[NAMEDATALEN];
	int			sid;
	long long	n;
	int			len;

	if (sscanf(name, "event_log_%d_%lld%n", &sid, &n, &len) != 2 ||
		name[len] != '\0' || sid < 0 || n < 0)
		return false;
	/* the exact spelling only: no signs, blanks or leading zeros */
	es_segment_name(again, sid, (int64) n);
	if (strcmp(again, name) != 0)
		return false;
	*stream_id = sid;
	*segno = (int64) n;
	return true;
}

/* es_segment_relid is the relid of a segment, or InvalidOid if it is missing */
Oid
es_segment_relid(int32 stream_id, int64 segno)
{
	char		name[NAMEDATALEN];

	es_segment_name(name, stream_id, segno);
	return get_relname_relid(name, get_namespace_oid(ES_SCHEMA, false));
}

/*
 * es_segment_create makes a segment if it is missing (SPI connected) and
 * returns its relid.
 */
Oid
es_segment_create(int32 stream_id, int64 segno, int64 segment_size)
{
	char		name[NAMEDATALEN];
	Oid			relid = es_segment_relid(stream_id, segno);

	if (OidIsValid(relid))
		return relid;
	es_segment_name(name, stream_id, segno);
	if (SPI_execute(psprintf("CREATE TABLE " ES_SCHEMA ".%s (LIKE " ES_SCHEMA ".event_log, "
							 "PRIMARY KEY (stream_id, id))", name),
					false, 0) != SPI_OK_UTILITY ||
		SPI_execute(psprintf("ALTER TABLE " ES_SCHEMA ".event_log ATTACH PARTITION " ES_SCHEMA ".%s "
							 "FOR VALUES FROM (%d, " INT64_FORMAT ") TO (%d, " INT64_FORMAT ")",
							 name, stream_id, segno * segment_size + 1,
							 stream_id, (segno + 1) * segment_size + 1),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create segment %s", name);
	return es_segment_relid(stream_id, segno);
}

/*
 * The greatest id in a segment through its primary key (stream_id, id): 0
 * if it is empty, -1 if it has no such key.
 */
static int64
segment_max_id(Oid relid)
{
	Relation	heap = table_open(relid, AccessShareLock);
	Oid			pkey = RelationGetPrimaryKeyIndex(heap);
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	id_att;
	int64		last = 0;

	if (!OidIsValid(pkey))
	{
		table_close(heap, AccessShareLock);
		return -1;
	}
	index = index_open(pkey, AccessShareLock);
	if (index->rd_index->indnkeyatts != 2)
	{
		index_close(index, AccessShareLock);
		table_close(heap, AccessShareLock);
		return -1;
	}
	id_att = index->rd_index->indkey.values[1];
	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, index, GetActiveSnapshot(), 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;
		Datum		id = slot_getattr(slot, id_att, &isnull);

		if (!isnull)
			last = DatumGetInt64(id);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return last;
}

/*
 * es_stream_last_id reads the last id of a stream from its newest
 * segments, starting at *segno, the segment where it was found before
 * (updated).  Segments are made ahead of their events, so the newest may
 * be empty; ids are dense and retention keeps the segment of the newest
 * event, so the one found before still holds an event -- unless it is
 * segment 0 of a stream without any.  Returns -1, and the caller asks the
 * whole log, when the segments cannot tell: no *segno (-1), or that
 * segment gone, empty or without its key.  In a transaction with a
 * snapshot.
 */
int64
es_stream_last_id(int32 stream_id, int64 *segno)
{
	int64		top;
	int64		s;

	if (*segno < 0 || !OidIsValid(es_segment_relid(stream_id, *segno)))
		return -1;
	for (top = *segno; OidIsValid(es_segment_relid(stream_id, top + 1)); top++)
		;
	for (s = top; s >= *segno; s--)
	{
		Oid			relid = es_segment_relid(stream_id, s);
		int64		last = OidIsValid(relid) ? segment_max_id(relid) : -1;

		if (last < 0)
			return -1;
		if (last > 0)
		{
			*segno = s;
			return last;
		}
	}
	return *segno == 0 ? 0 : -1;
}
