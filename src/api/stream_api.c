/*-------------------------------------------------------------------------
 *
 * stream_api.c
 *	  create_stream, drop_stream and emit: the SQL functions that change
 *	  streams.
 *
 * They run as the caller, so privileges are checked against the caller:
 * a stream's tables must be owned by the caller (patterns: the schema must
 * be, and a wildcard schema needs a superuser).  Only the catalog writes
 * then run as the owner of the stream catalog, with the caller's security
 * context restricted.  Every argument is checked before anything is
 * written, so a bad call leaves nothing behind.
 *
 * src/api/stream_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "../common/json_write.h"
#include "../decoder/decoder.h"
#include "../stream/stream.h"
#include "../pg_eventstream.h"
#include "api.h"
#include "../worker/worker.h"

PG_FUNCTION_INFO_V1(eventstream_create_stream);
PG_FUNCTION_INFO_V1(eventstream_drop_stream);
PG_FUNCTION_INFO_V1(eventstream_emit);
PG_FUNCTION_INFO_V1(eventstream_segments);
PG_FUNCTION_INFO_V1(eventstream_backfill);
PG_FUNCTION_INFO_V1(eventstream_make_segment);

#define ES_OPERATIONS_HINT "The operations are insert, update, delete and truncate."

/* a stream name: letters, digits, '_', '.', '-'; 1 to 63 characters */
static void
check_stream_name(const char *name)
{
	const char *p;
	bool		ok = name[0] != '\0' && strlen(name) < NAMEDATALEN;

	for (p = name; ok && *p; p++)
		ok = isalnum((unsigned char) *p) || *p == '_' || *p == '.' || *p == '-';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid stream name \"%s\"", name),
				 errdetail("A stream name is 1 to 63 letters, digits, \"_\", \".\" or \"-\".")));
}

static bool
has_wildcard(const bool *wild, const char *part)
{
	size_t		i;

	for (i = 0; i < strlen(part); i++)
		if (wild[i])
			return true;
	return false;
}

/* does the text contain an unescaped '*'? */
static bool
is_pattern(const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '*')
			return true;
	}
	return false;
}

/*
 * Check one element of create_stream's tables and return it as a pattern;
 * a table named without wildcards is also added to named.
 */
static char *
check_table(const char *elem, List **named)
{
	StringInfoData pattern;

	if (!is_pattern(elem))
	{
		/* an ordinary, possibly quoted and unqualified, table name */
		RangeVar   *rv = makeRangeVarFromNameList(stringToQualifiedNameList(elem));
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);
		char		relkind;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"%s\" does not exist", elem),
					 errhint("Name a table, or use a pattern such as \"myschema.*\".")));
		relkind = get_rel_relkind(relid);
		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a table", elem)));
		if (get_rel_persistence(relid) != RELPERSISTENCE_PERMANENT)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot capture unlogged or temporary table \"%s\"", elem),
					 errdetail("Its changes are not written to the WAL, which capture reads."),
					 errhint("ALTER TABLE ... SET LOGGED.")));
		if (strcmp(get_namespace_name(get_rel_namespace(relid)), ES_SCHEMA) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the tables of pg_eventstream cannot be in a stream")));
		if (!pg_class_ownercheck(relid, GetUserId()))
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));
		*named = lappend_oid(*named, relid);

		initStringInfo(&pattern);
		es_append_pattern_escaped(&pattern, get_namespace_name(get_rel_namespace(relid)));
		appendStringInfoChar(&pattern, '.');
		es_append_pattern_escaped(&pattern, get_rel_name(relid));
		return pattern.data;
	}
	else
	{
		List	   *parsed = es_parse_table_patterns("tables", elem);
		ListCell   *lc;

		foreach(lc, parsed)
		{
			EsTablePattern *pat = lfirst(lc);
			Oid			nspoid;

			if (has_wildcard(pat->schema_wild, pat->schema))
			{
				if (!superuser())
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("only superusers can create streams with a wildcard in the schema name"),
							 errhint("Name the schema: \"myschema.*\".")));
				continue;
			}
			if (strcmp(pat->schema, ES_SCHEMA) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the tables of pg_eventstream cannot be in a stream")));
			nspoid = get_namespace_oid(pat->schema, false);
			if (!pg_namespace_ownercheck(nspoid, GetUserId()))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("must be owner of schema %s to capture its tables by pattern",
								pat->schema),
						 errhint("Name the tables you own instead.")));
		}
		return pstrdup(elem);
	}
}

/* the operations array, checked */
static void
check_operations(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operations must name at least one operation"),
				 errhint(ES_OPERATIONS_HINT)));
	for (i = 0; i < n; i++)
	{
		char	   *op;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("operations must not contain null")));
		op = TextDatumGetCString(elems[i]);
		if (es_operation_mask(op) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown operation \"%s\"", op),
					 errhint(ES_OPERATIONS_HINT)));
	}
}

/* the stream's id and owner; an error if there is no such stream */
static int32
lookup_stream(const char *name, Oid *owner)
{
	Datum		arg = CStringGetTextDatum(name);
	Oid			argtype = TEXTOID;
	bool		isnull;
	int32		id;

	if (SPI_execute_with_args("SELECT id, owner FROM " ES_SCHEMA ".stream_catalog WHERE name = $1",
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the stream catalog");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", name),
				 errhint("The streams are listed in eventstream.streams.")));
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return id;
}

static void
require_stream_owner(const char *name, Oid owner)
{
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of stream \"%s\"", name)));
}

/* a table a new stream backfills */
typedef struct BackfillTable
{
	Oid			relid;
	char	   *schema;
	char	   *table;
	int64		rows;			/* estimate, from reltuples */
} BackfillTable;

/*
 * The tables the stream's patterns match now, to backfill; each needs a
 * primary key, the order the worker reads it in.  (SPI connected.)
 */
static List *
backfill_tables(Datum *patterns, int npatterns)
{
	List	   *parsed = NIL;
	List	   *result = NIL;
	uint64		i;
	int			j;

	for (j = 0; j < npatterns; j++)
		parsed = list_concat(parsed,
							 es_parse_table_patterns("tables", TextDatumGetCString(patterns[j])));

	if (SPI_execute("SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::bigint, "
					"  EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
					"          WHERE i.indrelid = c.oid AND i.indisprimary) "
					"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
					"WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
					"  AND n.nspname NOT IN ('pg_catalog', 'information_schema', '" ES_SCHEMA "') "
					"  AND n.nspname !~ '^pg_toast' ORDER BY c.oid",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list tables");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		BackfillTable *t;
		char	   *schema = SPI_getvalue(tup, desc, 2);
		char	   *table = SPI_getvalue(tup, desc, 3);

		if (!es_table_patterns_match(parsed, schema, table))
			continue;
		if (!DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot backfill table %s.%s: it has no primary key", schema, table),
					 errhint("Backfill reads a table in primary key order: add a primary key, or create the stream without backfill.")));
		t = palloc(sizeof(BackfillTable));
		t->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		t->schema = schema;
		t->table = table;
		t->rows = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		result = lappend(result, t);
	}
	return result;
}

/* the patterns of the tables argument, checked; the tables it names go to *named */
static Datum *
checked_patterns(ArrayType *tables, int *n, List **named)
{
	Datum	   *elems;
	bool	   *nulls;
	Datum	   *patterns;
	int			i;

	deconstruct_array(tables, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tables must name at least one table or pattern")));
	patterns = palloc(sizeof(Datum) * *n);
	for (i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tables must not contain null")));
		patterns[i] = CStringGetTextDatum(check_table(TextDatumGetCString(elems[i]), named));
	}
	return patterns;
}

/* retention is NULL (forever) or positive */
static void
check_retention(Datum retention)
{
	Interval	zero;

	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_le, retention, IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention must be a positive interval"),
				 errhint("Leave retention null to keep events forever.")));
}

/* an error if a stream of this name exists (SPI connected) */
static void
check_stream_free(const char *name)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);

	if (SPI_execute_with_args("SELECT 1 FROM " ES_SCHEMA ".stream_catalog WHERE name = $1",
							  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the stream catalog");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("stream \"%s\" already exists", name)));
}

/*
 * The backfill catalog's rows of a new stream (SPI connected, as the
 * catalog's owner).
 */
static void
insert_backfills(int32 id, List *backfill)
{
	ListCell   *lc;

	foreach(lc, backfill)
	{
		BackfillTable *t = lfirst(lc);
		Datum		bargs[5] = {Int32GetDatum(id), ObjectIdGetDatum(t->relid),
			CStringGetTextDatum(t->schema), CStringGetTextDatum(t->table),
		Int64GetDatum(t->rows)};
		Oid			btypes[5] = {INT4OID, OIDOID, TEXTOID, TEXTOID, INT8OID};

		if (SPI_execute_with_args("INSERT INTO " ES_SCHEMA ".backfill_catalog "
								  "(stream_id, relid, schema_name, table_name, rows_estimated) "
								  "VALUES ($1, $2, $3, $4, $5)",
								  5, btypes, bargs, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into the backfill catalog");
	}
}

/*
 * eventstream.create_stream(name, tables, operations, retention, backfill)
 */
Datum
eventstream_create_stream(PG_FUNCTION_ARGS)
{
	char	   *name;
	int			n;
	int			i;
	Datum	   *patterns;
	List	   *named = NIL;
	Datum	   *named_datums;
	ListCell   *lc;
	Datum		args[7];
	char		argnulls[7] = "       ";
	Oid			argtypes[7] = {TEXTOID, OIDOID, TEXTARRAYOID, OIDARRAYOID,
	TEXTARRAYOID, INTERVALOID, INT8OID};
	Oid			save_user;
	int			save_sec;
	List	   *backfill = NIL;
	bool		isnull;
	int32		id;

	es_require_arg(fcinfo, 0, "name");
	es_require_arg(fcinfo, 1, "tables");
	es_require_arg(fcinfo, 2, "operations");
	es_require_arg(fcinfo, 4, "backfill");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_stream_name(name);
	patterns = checked_patterns(PG_GETARG_ARRAYTYPE_P(1), &n, &named);
	check_operations(PG_GETARG_ARRAYTYPE_P(2));
	if (!PG_ARGISNULL(3))
		check_retention(PG_GETARG_DATUM(3));
	es_wait_for_capture();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_stream_free(name);

	named_datums = palloc(sizeof(Datum) * Max(list_length(named), 1));
	i = 0;
	foreach(lc, named)
		named_datums[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(GetUserId());
	args[2] = PointerGetDatum(construct_array(patterns, n, TEXTOID,
											  -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(named_datums, list_length(named),
											  OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	args[4] = PG_GETARG_DATUM(2);
	args[5] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	if (PG_ARGISNULL(3))
		argnulls[5] = 'n';
	args[6] = Int64GetDatum((int64) es_segment_size);

	if (PG_GETARG_BOOL(4))
		backfill = backfill_tables(patterns, n);

	es_become_catalog_owner(&save_user, &save_sec);
	if (SPI_execute_with_args("INSERT INTO " ES_SCHEMA ".stream_catalog "
							  "(name, owner, tables, named_tables, operations, retention, "
							  " segment_size, created_lsn) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, pg_catalog.pg_current_wal_insert_lsn()) "
							  "RETURNING id",
							  7, argtypes, args, argnulls, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert into the stream catalog");
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/*
	 * The first segment is made now rather than by the worker, so that a
	 * poll already waiting when the first event arrives has the partition in
	 * its plans.
	 */
	(void) es_segment_create(id, 0, es_segment_size);
	insert_backfills(id, backfill);
	SetUserIdAndSecContext(save_user, save_sec);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * eventstream.backfill(stream): the rows of the stream's tables enter it
 * again, as create_stream(..., backfill => true) puts them there -- to
 * close a gap (a failover, a restore) or to give new readers a full copy.
 * Not while a backfill of the stream is still running.
 */
Datum
eventstream_backfill(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		id;
	Oid			owner;
	Oid			types[1] = {INT4OID};
	Datum		args[1];
	bool		isnull;
	ArrayType  *tables;
	Datum	   *patterns;
	int			n;
	List	   *backfill;
	Oid			save_user;
	int			save_sec;

	es_require_arg(fcinfo, 0, "stream");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	id = lookup_stream(name, &owner);
	require_stream_owner(name, owner);

	args[0] = Int32GetDatum(id);
	es_catalog_exec("SELECT EXISTS (SELECT 1 FROM " ES_SCHEMA ".backfill_catalog b "
					"  WHERE b.stream_id = $1 AND NOT EXISTS (SELECT 1 FROM " ES_SCHEMA ".backfill_progress p "
					"    WHERE p.stream_id = b.stream_id AND p.relid = b.relid AND (p.done OR p.error IS NOT NULL)))",
					1, types, args, NULL, SPI_OK_SELECT);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("a backfill of stream \"%s\" is still running", name),
				 errhint("Wait until eventstream.backfills shows it done.")));
	es_catalog_exec("SELECT tables FROM " ES_SCHEMA ".stream_catalog WHERE id = $1",
					1, types, args, NULL, SPI_OK_SELECT);
	tables = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	deconstruct_array(tables, TEXTOID, -1, false, TYPALIGN_INT, &patterns, NULL, &n);
	backfill = backfill_tables(patterns, n);

	es_become_catalog_owner(&save_user, &save_sec);
	if (SPI_execute_with_args("DELETE FROM " ES_SCHEMA ".backfill_progress WHERE stream_id = $1",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM " ES_SCHEMA ".backfill_catalog WHERE stream_id = $1",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not reset the backfills of stream \"%s\"", name);
	insert_backfills(id, backfill);
	/* a change of the stream's definition: the worker looks for backfills again */
	if (SPI_execute_with_args("UPDATE " ES_SCHEMA ".stream_catalog SET tables = tables WHERE id = $1",
							  1, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not touch the catalog row of stream \"%s\"", name);
	SetUserIdAndSecContext(save_user, save_sec);
	SPI_finish();
	PG_RETURN_INT32(list_length(backfill));
}

/*
 * eventstream._make_segment(stream_id, id): make the segment that holds
 * event id of a stream, if it is missing, and return it.  For events that
 * are written outside the worker's batches (gap events, src/stream/gaps.sql).
 */
Datum
eventstream_make_segment(PG_FUNCTION_ARGS)
{
	int32		stream_id = PG_GETARG_INT32(0);
	int64		id = PG_GETARG_INT64(1);
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(stream_id)};
	int64		size;
	bool		isnull;
	Oid			save_user;
	int			save_sec;
	Oid			relid;

	if (id < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event ids start at 1")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (es_catalog_exec("SELECT segment_size FROM " ES_SCHEMA ".stream_catalog WHERE id = $1",
						1, types, args, NULL, SPI_OK_SELECT) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream %d does not exist", stream_id)));
	size = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	es_become_catalog_owner(&save_user, &save_sec);
	relid = es_segment_create(stream_id, (id - 1) / size, size);
	SetUserIdAndSecContext(save_user, save_sec);
	SPI_finish();
	PG_RETURN_OID(relid);
}

/* eventstream.drop_stream(name) */
Datum
eventstream_drop_stream(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		id;
	Oid			owner;
	Oid			argtype = INT4OID;
	Datum		arg;
	Oid			save_user;
	int			save_sec;

	es_require_arg(fcinfo, 0, "name");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	id = lookup_stream(name, &owner);
	require_stream_owner(name, owner);

	arg = Int32GetDatum(id);
	es_become_catalog_owner(&save_user, &save_sec);
	if (SPI_execute_with_args("SELECT " ES_SCHEMA "._drop_stream($1)",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not drop stream \"%s\"", name);
	SetUserIdAndSecContext(save_user, save_sec);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * eventstream.emit(stream, payload, key) writes a transactional logical
 * message {"stream":..,"key":..,"payload":..} with prefix "eventstream",
 * signed (src/stream/message.c);
 * the worker puts it into the stream when it decodes the commit.
 */
Datum
eventstream_emit(PG_FUNCTION_ARGS)
{
	char	   *name;
	Oid			owner;
	Jsonb	   *payload;
	StringInfoData msg;
	StringInfoData signed_msg;
	uint8		key[ES_MESSAGE_KEY_LEN];
	XLogRecPtr	lsn;

	es_require_arg(fcinfo, 0, "stream");
	es_require_arg(fcinfo, 1, "payload");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	payload = PG_GETARG_JSONB_P(1);
	if ((int64) VARSIZE(payload) > (int64) es_max_message_size_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload of %d kB is larger than eventstream.max_message_size (%d kB)",
						(int) (VARSIZE(payload) / 1024), es_max_message_size_kb),
				 errhint("Put large data in a table and emit its key.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) lookup_stream(name, &owner);
	SPI_finish();
	require_stream_owner(name, owner);
	if (!es_message_key(key))
		elog(ERROR, "the extension's message key is missing");

	initStringInfo(&msg);
	appendStringInfoString(&msg, "{\"stream\":");
	es_json_cstring(&msg, name);
	appendStringInfoString(&msg, ",\"key\":");
	if (PG_ARGISNULL(2))
		appendStringInfoString(&msg, "null");
	else
		es_json_cstring(&msg, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	appendStringInfoString(&msg, ",\"payload\":");
	appendStringInfoString(&msg, JsonbToCString(NULL, &payload->root, VARSIZE(payload)));
	appendStringInfoChar(&msg, '}');

	/* signed for the worker, bound to this transaction: see message.c */
	initStringInfo(&signed_msg);
	es_message_sign(&signed_msg, key, GetTopTransactionId(), msg.data, msg.len);
	lsn = LogLogicalMessage(ES_MESSAGE_PREFIX, signed_msg.data, signed_msg.len, true);
	PG_RETURN_LSN(lsn);
}

/*
 * eventstream_segments lists the log's segments -- relation, stream id,
 * number -- as segments.c names them: eventstream._segments()
 */
Datum
eventstream_segments(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			log = get_relname_relid("event_log", get_namespace_oid(ES_SCHEMA, false));
	List	   *children;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	if (!OidIsValid(log))
		PG_RETURN_VOID();
	children = find_inheritance_children(log, NoLock);
	foreach(lc, children)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *name = get_rel_name(relid);
		int32		stream_id;
		int64		segno;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (name == NULL || !es_segment_parse(name, &stream_id, &segno))
			continue;
		values[0] = ObjectIdGetDatum(relid);
		values[1] = Int32GetDatum(stream_id);
		values[2] = Int64GetDatum(segno);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
