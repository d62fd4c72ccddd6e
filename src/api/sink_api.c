/*-------------------------------------------------------------------------
 *
 * sink_api.c
 *	  create_sink, alter_sink, pause_sink, resume_sink, drop_sink and
 *	  replay_dead_letters.
 *
 * Arguments and rights are checked as the caller: create_sink is not
 * executable by PUBLIC, the caller must be able to read the stream (every
 * table it names, all their rows), and only a sink's owners may change
 * it.  The catalogs are written as their owner, since they hold secrets
 * no other role may read.  Each function wakes the sink worker, or asks
 * the launcher for one.
 *
 * src/api/sink_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "../pg_eventstream.h"
#include "../sink/sink.h"
#include "../worker/worker.h"
#include "api.h"

PG_FUNCTION_INFO_V1(eventstream_create_sink);
PG_FUNCTION_INFO_V1(eventstream_alter_sink);
PG_FUNCTION_INFO_V1(eventstream_pause_sink);
PG_FUNCTION_INFO_V1(eventstream_resume_sink);
PG_FUNCTION_INFO_V1(eventstream_drop_sink);
PG_FUNCTION_INFO_V1(eventstream_replay_dead_letters);
PG_FUNCTION_INFO_V1(eventstream_webhook_signature);

/*
 * The id of the sink of this name, for a caller who owns it; an error
 * otherwise.  SPI connected.
 */
static int32
lookup_own_sink(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	int32		id;
	Oid			owner;

	es_catalog_exec("SELECT id, owner FROM " ES_SCHEMA ".sink_catalog WHERE name = $1",
					1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sink \"%s\" does not exist", name),
				 errhint("The sinks are listed in eventstream.sinks.")));
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of sink \"%s\"", name)));
	return id;
}

static void
check_sink_name(const char *name)
{
	const char *c;

	if (name[0] == '\0' || strlen(name) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid sink name \"%s\"", name),
				 errdetail("A sink name is 1 to 63 letters, digits, \"_\", \".\" or \"-\".")));
	for (c = name; *c; c++)
	{
		if (!isalnum((unsigned char) *c) && *c != '_' && *c != '.' && *c != '-')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid sink name \"%s\"", name),
					 errdetail("A sink name is 1 to 63 letters, digits, \"_\", \".\" or \"-\".")));
	}
}

/* eventstream.create_sink(name, stream, kind, options) */
Datum
eventstream_create_sink(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *stream;
	char	   *kind;
	Jsonb	   *options;
	EsSinkOptions opts;
	Oid			types[6] = {TEXTOID, TEXTOID, JSONBOID, OIDOID, INT4OID, TEXTOID};
	Datum		args[6];
	int32		id;
	bool		isnull;

	es_require_arg(fcinfo, 0, "name");
	es_require_arg(fcinfo, 1, "stream");
	es_require_arg(fcinfo, 2, "kind");
	es_require_arg(fcinfo, 3, "options");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	stream = text_to_cstring(PG_GETARG_TEXT_PP(1));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	options = PG_GETARG_JSONB_P(3);

	check_sink_name(name);
	es_sink_parse_options(es_sink_kind(kind), options, &opts, GetUserId(), true);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the stream must exist and the caller read all of it */
	args[0] = CStringGetTextDatum(stream);
	if (SPI_execute_with_args("SELECT " ES_SCHEMA "._check_read($1, " ES_SCHEMA "._stream_id($1))",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not check the stream");

	args[0] = CStringGetTextDatum(name);
	args[1] = CStringGetTextDatum(stream);
	args[2] = JsonbPGetDatum(options);
	args[3] = ObjectIdGetDatum(GetUserId());
	args[4] = Int32GetDatum(opts.concurrency);
	args[5] = CStringGetTextDatum(kind);
	if (es_catalog_exec("SELECT 1 FROM " ES_SCHEMA ".sink_catalog WHERE name = $1",
					 1, types, args, NULL, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("sink \"%s\" already exists", name)));
	es_catalog_exec("INSERT INTO " ES_SCHEMA ".sink_catalog (name, stream_id, kind, options, owner) "
				 "SELECT $1, s.id, $6, $3, $4 FROM " ES_SCHEMA ".stream_catalog s "
				 "WHERE s.name = $2 RETURNING id",
				 6, types, args, NULL, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/* it delivers the events written from now on */
	args[0] = Int32GetDatum(id);
	types[0] = INT4OID;
	es_catalog_exec("INSERT INTO " ES_SCHEMA ".sink_partitions (sink_id, partition, position) "
				 "SELECT $1, g, coalesce((SELECT max(l.id) FROM " ES_SCHEMA ".event_log l "
				 "  WHERE l.stream_id = (SELECT stream_id FROM " ES_SCHEMA ".sink_catalog WHERE id = $1)), 0) "
				 "FROM generate_series(0, $5 - 1) g",
				 5, types, args, NULL, SPI_OK_INSERT);
	SPI_finish();
	es_want_sink_worker_at_commit();
	PG_RETURN_VOID();
}

/* eventstream.alter_sink(name, options): the options given replace those */
Datum
eventstream_alter_sink(PG_FUNCTION_ARGS)
{
	char	   *name;
	Jsonb	   *changes;
	Jsonb	   *merged;
	EsSinkOptions opts;
	int32		id;
	Oid			types[3] = {INT4OID, JSONBOID, INT4OID};
	Datum		args[3];
	bool		isnull;

	es_require_arg(fcinfo, 0, "name");
	es_require_arg(fcinfo, 1, "options");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	changes = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(changes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink options must be a JSON object")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	id = lookup_own_sink(name);
	args[0] = Int32GetDatum(id);
	args[1] = JsonbPGetDatum(changes);
	/* (a null removes an option: {"previous_secret": null} ends a rotation) */
	es_catalog_exec("SELECT pg_catalog.jsonb_strip_nulls(options || $2), kind, owner "
					"FROM " ES_SCHEMA ".sink_catalog WHERE id = $1",
				 2, types, args, NULL, SPI_OK_SELECT);
	merged = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	es_sink_parse_options(es_sink_kind(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
						  merged, &opts,
						  DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)),
						  true);

	args[1] = JsonbPGetDatum(merged);
	args[2] = Int32GetDatum(opts.concurrency);
	es_catalog_exec("UPDATE " ES_SCHEMA ".sink_catalog SET options = $2, last_error = NULL, "
				 "  state = CASE WHEN state = 'disabled' THEN 'running' ELSE state END WHERE id = $1",
				 2, types, args, NULL, SPI_OK_UPDATE);
	/*
	 * Another concurrency maps keys to other partitions: start them all at
	 * the lowest position (at least once: some events again), batches anew.
	 */
	es_catalog_exec("SELECT count(*)::int4, min(position) FROM " ES_SCHEMA ".sink_partitions "
				 "WHERE sink_id = $1", 1, types, args, NULL, SPI_OK_SELECT);
	if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) !=
		opts.concurrency)
	{
		Oid			ptypes[3] = {INT4OID, INT8OID, INT4OID};
		Datum		pargs[3] = {args[0],
			SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull),
		Int32GetDatum(opts.concurrency)};

		es_catalog_exec("DELETE FROM " ES_SCHEMA ".sink_partitions WHERE sink_id = $1",
					 1, ptypes, pargs, NULL, SPI_OK_DELETE);
		es_catalog_exec("INSERT INTO " ES_SCHEMA ".sink_partitions (sink_id, partition, position) "
					 "SELECT $1, g, $2 FROM generate_series(0, $3 - 1) g",
					 3, ptypes, pargs, NULL, SPI_OK_INSERT);
	}
	/* the same batches under new options: resent whole */
	es_catalog_exec("UPDATE " ES_SCHEMA ".sink_partitions SET next_attempt_at = NULL WHERE sink_id = $1",
				 1, types, args, NULL, SPI_OK_UPDATE);
	SPI_finish();
	es_want_sink_worker_at_commit();
	PG_RETURN_VOID();
}

/* set a sink's state (pause, resume); resume also retries at once */
static void
set_state(FunctionCallInfo fcinfo, const char *state)
{
	char	   *name;
	int32		id;
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2];

	es_require_arg(fcinfo, 0, "name");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	id = lookup_own_sink(name);
	args[0] = Int32GetDatum(id);
	args[1] = CStringGetTextDatum(state);
	es_catalog_exec("UPDATE " ES_SCHEMA ".sink_catalog SET state = $2, "
				 "  last_error = CASE WHEN $2 = 'running' THEN NULL ELSE last_error END WHERE id = $1",
				 2, types, args, NULL, SPI_OK_UPDATE);
	if (strcmp(state, "running") == 0)
		es_catalog_exec("UPDATE " ES_SCHEMA ".sink_partitions SET next_attempt_at = NULL WHERE sink_id = $1",
					 1, types, args, NULL, SPI_OK_UPDATE);
	SPI_finish();
	es_want_sink_worker_at_commit();
}

/* eventstream.pause_sink(name) */
Datum
eventstream_pause_sink(PG_FUNCTION_ARGS)
{
	set_state(fcinfo, "paused");
	PG_RETURN_VOID();
}

/* eventstream.resume_sink(name): also after it was disabled */
Datum
eventstream_resume_sink(PG_FUNCTION_ARGS)
{
	set_state(fcinfo, "running");
	PG_RETURN_VOID();
}

/* eventstream.drop_sink(name) */
Datum
eventstream_drop_sink(PG_FUNCTION_ARGS)
{
	char	   *name;
	Oid			types[1] = {INT4OID};
	Datum		args[1];

	es_require_arg(fcinfo, 0, "name");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = Int32GetDatum(lookup_own_sink(name));
	es_catalog_exec("DELETE FROM " ES_SCHEMA ".sink_catalog WHERE id = $1",
				 1, types, args, NULL, SPI_OK_DELETE);
	SPI_finish();
	es_want_sink_worker_at_commit();
	PG_RETURN_VOID();
}

/*
 * eventstream.replay_dead_letters(sink, ids): queue the sink's dead letters
 * (all, or these) to be sent again; returns how many
 */
Datum
eventstream_replay_dead_letters(PG_FUNCTION_ARGS)
{
	char	   *name;
	Oid			types[2] = {INT4OID, INT8ARRAYOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	uint64		n;

	es_require_arg(fcinfo, 0, "sink");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = Int32GetDatum(lookup_own_sink(name));
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	n = es_catalog_exec("UPDATE " ES_SCHEMA ".dead_letter_catalog SET replay = true "
						"WHERE sink_id = $1 AND NOT replay AND ($2 IS NULL OR id = ANY ($2))",
						2, types, args, nulls, SPI_OK_UPDATE);
	SPI_finish();
	es_want_sink_worker_at_commit();
	PG_RETURN_INT64((int64) n);
}

/*
 * eventstream.webhook_signature(secret, msg_id, timestamp, body): the
 * webhook-signature header a sink sends, to check a receiver against
 */
Datum
eventstream_webhook_signature(PG_FUNCTION_ARGS)
{
	uint8		secret[64];
	int			len;
	text	   *body = PG_GETARG_TEXT_PP(3);
	StringInfoData sig;

	len = es_sink_decode_secret(text_to_cstring(PG_GETARG_TEXT_PP(0)), secret);
	initStringInfo(&sig);
	es_sink_sign(&sig, secret, len, text_to_cstring(PG_GETARG_TEXT_PP(1)),
				 PG_GETARG_INT64(2), VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	PG_RETURN_TEXT_P(cstring_to_text(sig.data));
}
