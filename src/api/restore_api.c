/*-------------------------------------------------------------------------
 *
 * restore_api.c
 *	  The C half of restoring from pg_dump (src/api/restore.sql).
 *
 * pg_dump keeps the definitions (they are configuration tables of the
 * extension) and the event log (its segments are tables of their own).
 * A definition that comes back must not start by itself: the restore is
 * still loading the tables it reads.  Its catalog's insert trigger tells
 * a restored row from one the SQL functions write by the security
 * context: the functions write their catalogs only as the catalogs' owner
 * in a security-restricted operation (es_catalog_exec), which a restore
 * never is.  finish_restore() then starts them.
 *
 * src/api/restore_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "../pg_eventstream.h"
#include "../stream/stream.h"
#include "api.h"

PG_FUNCTION_INFO_V1(eventstream_writing_as_api);
PG_FUNCTION_INFO_V1(eventstream_make_segment);

/*
 * eventstream._writing_as_api(): is this catalog write one of the SQL
 * functions'?  (For the catalogs' insert trigger.)
 */
Datum
eventstream_writing_as_api(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(InSecurityRestrictedOperation());
}

/*
 * eventstream._make_segment(stream_id, id): make the segment that holds
 * event id of a stream, if it is missing, and return it.  For events that
 * are written outside the worker (finish_restore's gap events).
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
