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

#include "fmgr.h"
#include "miscadmin.h"

PG_FUNCTION_INFO_V1(eventstream_writing_as_api);

/*
 * eventstream._writing_as_api(): is this catalog write one of the SQL
 * functions'?  (For the catalogs' insert trigger.)
 */
Datum
eventstream_writing_as_api(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(InSecurityRestrictedOperation());
}
