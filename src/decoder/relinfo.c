/*-------------------------------------------------------------------------
 *
 * relinfo.c
 *	  Per-relation cache of the output plugin.
 *
 * Everything the plugin needs to know about a relation to write its
 * changes -- reported schema and table names (pre-escaped as JSON),
 * whether it passes the table filter, the columns with their names
 * pre-escaped as JSON keys and their type encodings, the replica identity
 * key, the conversion to the partition root for publish-via-root -- is
 * worked out once, the first time a change of that relation is seen, and
 * kept in a hash keyed by relation OID.  So no catalog lookup happens per
 * row.
 *
 * A relcache invalidation of the relation (ALTER TABLE, a new index, a
 * replica identity change...) only marks the entry invalid; it is rebuilt
 * at its next use, under the historic snapshot of the change being decoded,
 * so it always describes the relation as it was when the change was made.
 * Renaming a schema sends no relcache invalidation, so a pg_namespace
 * syscache invalidation marks every entry invalid.
 *
 * The callbacks cannot be unregistered, so they are registered once per
 * backend and do nothing while no decoding session has a cache.  There is
 * one decoding session per backend at a time.
 *
 * src/decoder/relinfo.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/sysattr.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "../common/json_write.h"
#include "../common/value_jsonb.h"
#include "decoder.h"

static HTAB *RelInfoCache = NULL;

/*
 * The schema each reported relation was last announced with (include-schema),
 * keyed by the reported relation: with publish-via-root all partitions share
 * one announcement.  Survives invalidations, so only real changes re-announce.
 */
typedef struct SchemaAnnounced
{
	Oid			report_relid;
	uint32		schema_hash;
} SchemaAnnounced;

static HTAB *SchemaAnnouncedCache = NULL;

/* does any entry report its changes under another relation (a root)? */
static bool RelInfoCacheRerouted = false;

/* invalidate one entry, or all of them for InvalidOid */
static void
relinfo_invalidate_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	EsRelInfo  *entry;

	if (RelInfoCache == NULL)
		return;

	if (OidIsValid(relid) && !RelInfoCacheRerouted)
	{
		entry = hash_search(RelInfoCache, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		return;
	}

	/* all entries, or those that report under the invalidated relation */
	hash_seq_init(&status, RelInfoCache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (!OidIsValid(relid) || entry->relid == relid ||
			entry->report_relid == relid)
			entry->valid = false;
	}
}

static void
relinfo_namespace_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	relinfo_invalidate_cb(arg, InvalidOid);
}

/*
 * es_relinfo_init makes the relation cache of a decoding session, in
 * data->cache_cxt.
 */
void
es_relinfo_init(EsDecodingData *data)
{
	static bool callbacks_registered = false;
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(EsRelInfo);
	ctl.hcxt = data->cache_cxt;
	RelInfoCache = hash_create("pg_eventstream relation cache", 128, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	RelInfoCacheRerouted = false;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SchemaAnnounced);
	ctl.hcxt = data->cache_cxt;
	SchemaAnnouncedCache = hash_create("pg_eventstream announced schemas", 128,
									   &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relinfo_invalidate_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, relinfo_namespace_cb,
									  (Datum) 0);
		callbacks_registered = true;
	}
}

/* es_relinfo_shutdown forgets the cache; its memory goes with cache_cxt */
void
es_relinfo_shutdown(void)
{
	RelInfoCache = NULL;
	SchemaAnnouncedCache = NULL;
}

/*
 * es_relinfo_schema_announced tells whether the relation's current schema
 * was announced already, and records it as announced.
 */
bool
es_relinfo_schema_announced(EsRelInfo *rel)
{
	SchemaAnnounced *entry;
	bool		found;

	entry = hash_search(SchemaAnnouncedCache, &rel->report_relid, HASH_ENTER,
						&found);
	if (found && entry->schema_hash == rel->schema_hash)
		return true;
	entry->schema_hash = rel->schema_hash;
	return false;
}

/* does the relation, or any of its partition ancestors, match patterns? */
static bool
matches_any(List *patterns, Oid relid, List *ancestors)
{
	ListCell   *lc;

	if (es_table_patterns_match(patterns,
								get_namespace_name(get_rel_namespace(relid)),
								get_rel_name(relid)))
		return true;
	foreach(lc, ancestors)
	{
		Oid			anc = lfirst_oid(lc);

		if (es_table_patterns_match(patterns,
									get_namespace_name(get_rel_namespace(anc)),
									get_rel_name(anc)))
			return true;
	}
	return false;
}

/*
 * Is the relation in the extension's own schema (its catalogs, its log),
 * which a slot leaves out unless the "tables" option names that schema
 * without a wildcard?  The capture worker asks for its catalogs so; other
 * clients never see the extension's own writes.
 */
static bool
own_schema_hidden(EsDecodingData *data, Oid relid)
{
	char	   *schema = get_namespace_name(get_rel_namespace(relid));

	return schema != NULL && strcmp(schema, ES_SCHEMA) == 0 &&
		!es_table_patterns_name_schema(data->opts.tables, ES_SCHEMA);
}

/*
 * The key columns of a relation: its replica identity index, or for
 * REPLICA IDENTITY FULL its primary key.  Returned as a set of names so
 * that they can be found in the root's descriptor with publish-via-root.
 */
static List *
key_column_names(Relation rel)
{
	Bitmapset  *attrs;
	List	   *names = NIL;
	int			x = -1;

	attrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	if (bms_is_empty(attrs) &&
		rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		attrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);

	while ((x = bms_next_member(attrs, x)) >= 0)
	{
		AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;

		if (attnum > 0)
			names = lappend(names,
							NameStr(TupleDescAttr(RelationGetDescr(rel),
												  attnum - 1)->attname));
	}
	return names;
}

static bool
name_in_list(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	}
	return false;
}

/* fill the column array and the schema description from entry->desc */
/* jsonb's order of object keys: shorter first, then bytewise */
static int
jsonb_key_cmp(const void *a, const void *b, void *arg)
{
	EsColumn   *columns = arg;
	const char *x = columns[*(const int *) a].name;
	const char *y = columns[*(const int *) b].name;
	size_t		xl = strlen(x);
	size_t		yl = strlen(y);

	if (xl != yl)
		return xl < yl ? -1 : 1;
	return memcmp(x, y, xl);
}

/*
 * The live columns in the order jsonb keeps object keys, so that an event
 * built as jsonb (stream/batch.c) is pushed in order and never sorted
 */
static void
build_jsonb_order(EsRelInfo *entry)
{
	int			i;

	entry->jsonb_order = palloc(sizeof(int) * Max(entry->natts, 1));
	entry->njsonb_order = 0;
	entry->builds_jsonb = true;
	for (i = 0; i < entry->natts; i++)
	{
		if (entry->columns[i].name == NULL)
			continue;
		entry->jsonb_order[entry->njsonb_order++] = i;
		if (!es_type_builds_jsonb(&entry->columns[i].type))
			entry->builds_jsonb = false;
	}
	qsort_arg(entry->jsonb_order, entry->njsonb_order, sizeof(int),
			  jsonb_key_cmp, entry->columns);
}

static void
build_columns(EsRelInfo *entry, List *key_names)
{
	StringInfoData types;
	int			i;

	entry->natts = entry->desc->natts;
	entry->columns = palloc0(sizeof(EsColumn) * Max(entry->natts, 1));
	entry->nkeys = 0;

	initStringInfo(&types);
	appendStringInfoChar(&types, '[');
	for (i = 0; i < entry->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(entry->desc, i);
		EsColumn   *col = &entry->columns[i];
		StringInfoData key;

		if (att->attisdropped)
			continue;

		col->name = pstrdup(NameStr(att->attname));
		initStringInfo(&key);
		es_json_cstring(&key, col->name);
		appendStringInfoChar(&key, ':');
		col->json_key = key.data;
		col->json_key_len = key.len;
		col->is_key = name_in_list(key_names, col->name);
		col->not_null = att->attnotnull;
		if (col->is_key)
			entry->nkeys++;
		es_typeinfo_init(&col->type, att->atttypid, att->atttypmod, entry->mcxt);

		if (types.len > 1)
			appendStringInfoChar(&types, ',');
		appendStringInfoString(&types, "{\"name\":");
		es_json_cstring(&types, col->name);
		appendStringInfoString(&types, ",\"type\":");
		es_json_cstring(&types, format_type_with_typemod(att->atttypid,
														 att->atttypmod));
		appendStringInfo(&types, ",\"key\":%s,\"nullable\":%s}",
						 col->is_key ? "true" : "false",
						 col->not_null ? "false" : "true");
	}
	appendStringInfoChar(&types, ']');
	entry->type_names_json = types.data;
	build_jsonb_order(entry);
}

/* (re)build an entry for relation, in the entry's own memory context */
static void
build_entry(EsDecodingData *data, EsRelInfo *entry, Relation relation)
{
	Oid			relid = RelationGetRelid(relation);
	List	   *ancestors = NIL;
	Relation	report;
	MemoryContext oldcxt;
	StringInfoData buf;

	if (entry->mcxt == NULL)
		entry->mcxt = AllocSetContextCreate(data->cache_cxt,
											"pg_eventstream relation",
											ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(entry->mcxt);
	oldcxt = MemoryContextSwitchTo(entry->mcxt);

	if (relation->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);

	entry->publish =
		(data->opts.tables == NIL ||
		 matches_any(data->opts.tables, relid, ancestors)) &&
		!matches_any(data->opts.exclude_tables, relid, ancestors) &&
		!own_schema_hidden(data, relid);

	/* publish-via-root reports a partition's changes under its top root */
	entry->report_relid = relid;
	if (data->opts.publish_via_root && ancestors != NIL)
	{
		entry->report_relid = llast_oid(ancestors);
		RelInfoCacheRerouted = true;
	}
	report = (entry->report_relid == relid) ? relation :
		relation_open(entry->report_relid, AccessShareLock);

	entry->identity = relation->rd_rel->relreplident;
	entry->schema_name = get_namespace_name(RelationGetNamespace(report));
	entry->table_name = pstrdup(RelationGetRelationName(report));
	entry->desc = CreateTupleDescCopyConstr(RelationGetDescr(report));
	entry->map = (report == relation) ? NULL :
		convert_tuples_by_name(RelationGetDescr(relation), entry->desc);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "\"schema\":");
	es_json_cstring(&buf, entry->schema_name);
	appendStringInfoString(&buf, ",\"table\":");
	es_json_cstring(&buf, entry->table_name);
	entry->names_json = buf.data;

	initStringInfo(&buf);
	es_json_cstring(&buf, psprintf("%s.%s", entry->schema_name,
								   entry->table_name));
	entry->subject_json = buf.data;

	build_columns(entry, key_column_names(relation));
	for (int i = 0; i < 2; i++)
	{
		entry->values[i] = palloc(sizeof(Datum) * Max(entry->natts, 1));
		entry->nulls[i] = palloc(sizeof(bool) * Max(entry->natts, 1));
	}
	entry->schema_hash =
		hash_combine(hash_bytes((const unsigned char *) entry->names_json,
								strlen(entry->names_json)),
					 hash_bytes((const unsigned char *) entry->type_names_json,
								strlen(entry->type_names_json))) ^
		(uint32) entry->identity;

	if (report != relation)
		relation_close(report, AccessShareLock);

	MemoryContextSwitchTo(oldcxt);
	entry->valid = true;
}

/*
 * es_relinfo_get returns the cache entry of relation, building it if it
 * is new or was invalidated.
 */
EsRelInfo *
es_relinfo_get(EsDecodingData *data, Relation relation)
{
	Oid			relid = RelationGetRelid(relation);
	EsRelInfo  *entry;
	bool		found;

	entry = hash_search(RelInfoCache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->valid = false;
		entry->mcxt = NULL;
	}
	if (!entry->valid)
		build_entry(data, entry, relation);
	return entry;
}
