/*-------------------------------------------------------------------------
 *
 * streams.c
 *	  Stream definitions as the capture worker uses them.
 *
 * The worker loads every active stream of eventstream.stream_catalog when
 * it (re)creates its decoding context, and keeps them until a decoded
 * transaction changes that catalog: then the batch ends right after that
 * transaction, the batch's apply transaction -- the one that moves the
 * origin past it -- marks the streams it created active, and the
 * definitions are loaded again.  So a stream takes exactly the changes
 * that commit after the transaction that created it, whatever the worker's
 * lag and however often it restarts, and patterns match tables created
 * later because matching is by name at decoding time.  (The worker's hub,
 * src/worker/hub.c, notes the creations; src/common/catalog.c marks them.)
 *
 * Matching a relation against all streams is done once per relation and
 * remembered in a hash keyed by relid (with the names, since a rename
 * changes what matches).
 *
 * Each apply asks which of the loaded streams still exist
 * (es_streams_existing): by a scan of the catalog, not a query, which the
 * worker would plan again after each of its cache resets.
 *
 * src/stream/streams.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "stream.h"

typedef struct EsMatch
{
	Oid			relid;			/* hash key */
	char	   *schema;
	char	   *table;
	Bitmapset  *streams[ES_NUM_ROW_OPS];	/* per row operation (EsEventKind) */
} EsMatch;

/* the ES_OP_* mask of an operations array */
static int
parse_operations(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			mask = 0;
	int			i;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		mask |= es_operation_mask(TextDatumGetCString(elems[i]));
	return mask;
}

/*
 * es_streams_load reads the stream catalog; it needs a transaction and a
 * snapshot.  The patterns of all streams, joined, become the "tables"
 * option of the decoding context, so the plugin skips other tables before
 * doing any work on their rows.
 */
EsStreamSet *
es_streams_load(MemoryContext parent)
{
	EsStreamSet *set;
	MemoryContext oldcxt;
	StringInfoData tables;
	HASHCTL		hctl;
	uint64		i;

	set = MemoryContextAllocZero(parent, sizeof(EsStreamSet));
	set->cxt = AllocSetContextCreate(parent, "pg_eventstream streams",
									 ALLOCSET_SMALL_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT id, name, tables, operations, segment_size "
					"FROM " ES_SCHEMA ".stream_catalog WHERE active ORDER BY id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the stream catalog");

	oldcxt = MemoryContextSwitchTo(set->cxt);
	set->nstreams = (int) SPI_processed;
	set->streams = palloc0(sizeof(EsStreamDef) * Max(set->nstreams, 1));
	initStringInfo(&tables);

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		EsStreamDef *def = &set->streams[i];
		bool		isnull;
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			j;

		def->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		def->name = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (j = 0; j < n; j++)
		{
			char	   *pattern = TextDatumGetCString(elems[j]);

			def->patterns = list_concat(def->patterns,
										es_parse_table_patterns("tables", pattern));
			if (tables.len > 0)
				appendStringInfoChar(&tables, ',');
			appendStringInfoString(&tables, pattern);
		}
		def->opmask = parse_operations(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull)));
		def->segment_size = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		def->last_segno = -1;
	}
	set->tables_option = tables.data;
	MemoryContextSwitchTo(oldcxt);
	SPI_finish();
	set->have_message_key = es_message_key(set->message_key);

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(Oid);
	hctl.entrysize = sizeof(EsMatch);
	hctl.hcxt = set->cxt;
	set->matches = hash_create("pg_eventstream stream matches", 64, &hctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return set;
}

/* es_streams_free releases a stream set */
void
es_streams_free(EsStreamSet *set)
{
	MemoryContextDelete(set->cxt);
	pfree(set);
}

/*
 * es_streams_matching returns the indexes of the streams that take a row
 * operation (an EsEventKind) on schema.table; the set belongs to the stream set.  The
 * extension's own tables never match: the worker's writes must not
 * re-enter a stream.
 */
Bitmapset *
es_streams_matching(EsStreamSet *set, Oid relid, const char *schema,
					const char *table, EsEventKind kind)
{
	EsMatch    *m;
	bool		found;

	m = hash_search(set->matches, &relid, HASH_ENTER, &found);
	if (found && (strcmp(m->schema, schema) != 0 || strcmp(m->table, table) != 0))
	{
		/* renamed since: match again */
		int			k;

		for (k = 0; k < ES_NUM_ROW_OPS; k++)
			bms_free(m->streams[k]);
		pfree(m->schema);
		pfree(m->table);
		found = false;
	}
	if (!found)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(set->cxt);
		int			i;

		m->schema = pstrdup(schema);
		m->table = pstrdup(table);
		memset(m->streams, 0, sizeof(m->streams));
		if (strcmp(schema, ES_SCHEMA) != 0)
		{
			for (i = 0; i < set->nstreams; i++)
			{
				EsStreamDef *def = &set->streams[i];
				int			k;

				if (!es_table_patterns_match(def->patterns, schema, table))
					continue;
				for (k = 0; k < ES_NUM_ROW_OPS; k++)
				{
					if (def->opmask & es_event_kinds[k].opmask)
						m->streams[k] = bms_add_member(m->streams[k], i);
				}
			}
		}
		MemoryContextSwitchTo(oldcxt);
	}
	Assert(kind < ES_NUM_ROW_OPS);
	return m->streams[kind];
}

/* es_streams_find returns the index of the named stream, or -1 */
int
es_streams_find(EsStreamSet *set, const char *name)
{
	int			i;

	for (i = 0; i < set->nstreams; i++)
	{
		if (strcmp(set->streams[i].name, name) == 0)
			return i;
	}
	return -1;
}

/*
 * es_streams_existing sets exists[i] for each stream of set still in the
 * catalog, under a snapshot taken now (a stream dropped since the batch
 * was decoded gets nothing).  In a transaction.
 */
void
es_streams_existing(EsStreamSet *set, bool *exists)
{
	Oid			relid = get_relname_relid("stream_catalog", get_namespace_oid(ES_SCHEMA, false));
	Relation	rel = table_open(relid, AccessShareLock);
	AttrNumber	id_att = get_attnum(relid, "id");
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	int			i;

	if (id_att == InvalidAttrNumber)
		elog(ERROR, "the stream catalog has no column \"id\"");
	for (i = 0; i < set->nstreams; i++)
		exists[i] = false;
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		id = slot_getattr(slot, id_att, &isnull);

		for (i = 0; !isnull && i < set->nstreams; i++)
			if (set->streams[i].id == DatumGetInt32(id))
				exists[i] = true;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}
