/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The extension's own catalogs, found by OID, and the "active" flag
 *	  their definitions share.
 *
 * Streams and aggregates are rows of a catalog table in the extension's
 * schema (stream_catalog, aggregate_catalog), each with an int "id" and a
 * boolean "active".  A definition is created inactive; the capture worker
 * activates it in the apply transaction that moves its origin past the
 * commit that created it, so it takes exactly the changes committed after.
 *
 * src/common/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "../pg_eventstream.h"
#include "catalog.h"

/* es_catalog_relid returns the OID of a table of the extension's schema */
Oid
es_catalog_relid(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid(ES_SCHEMA, false));

	if (!OidIsValid(relid))
		elog(ERROR, "pg_eventstream catalog \"%s\" is missing", name);
	return relid;
}

/*
 * es_catalog_has_column says whether a catalog has a column: code that
 * also serves an older version's catalog (common/version.c) asks before
 * it reads a newer column
 */
bool
es_catalog_has_column(const char *catalog, const char *column)
{
	return get_attnum(es_catalog_relid(catalog), column) != InvalidAttrNumber;
}

/*
 * es_catalog_activate marks active the rows of a catalog with these ids;
 * with ids NIL, every inactive row -- a new slot decodes from now on, so
 * what was defined before it takes everything it decodes (their creations
 * are behind it and will never be decoded).  A row restored from a dump
 * (column "restored", from version 0.2.0 on) stays inactive: it waits for
 * finish_restore().  SPI must not be connected.
 */
void
es_catalog_activate(const char *catalog, List *ids)
{
	bool		has_restored = es_catalog_has_column(catalog, "restored");
	char	   *sql = psprintf("UPDATE %s.%s SET active = true WHERE NOT active%s%s",
							   quote_identifier(ES_SCHEMA), quote_identifier(catalog),
							   has_restored ? " AND NOT restored" : "",
							   ids ? " AND id = $1" : "");
	Oid			types[1] = {INT4OID};
	ListCell   *lc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ids == NIL && SPI_execute(sql, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not activate the definitions of %s", catalog);
	foreach(lc, ids)
	{
		Datum		args[1] = {Int32GetDatum(lfirst_int(lc))};

		if (SPI_execute_with_args(sql, 1, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not activate a definition of %s", catalog);
	}
	SPI_finish();
	pfree(sql);
}
