/*-------------------------------------------------------------------------
 *
 * api_util.c
 *	  Helpers shared by the SQL functions: argument checks and running
 *	  catalog writes as the catalog's owner.
 *
 * src/api/api_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "../common/version.h"
#include "../pg_eventstream.h"
#include "api.h"

/* es_require_arg refuses a NULL argument n, naming it */
void
es_require_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/*
 * es_become_catalog_owner makes the following SPI statements run as the
 * owner of the extension's catalogs, with the security context restricted;
 * SetUserIdAndSecContext(*save_user, *save_sec) goes back.  Every catalog
 * write of the SQL functions comes here, so here they refuse a catalog
 * version this library does not know (common/version.c).
 */
void
es_become_catalog_owner(Oid *save_user, int *save_sec)
{
	Oid			catalog = get_relname_relid("stream_catalog",
											get_namespace_oid(ES_SCHEMA, false));
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(catalog));
	Oid			owner;

	es_require_known_catalog();
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", catalog);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(save_user, save_sec);
	SetUserIdAndSecContext(owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/*
 * es_catalog_exec runs a statement on the extension's catalogs as their
 * owner (SPI connected) and returns the rows it processed; an error unless
 * SPI answers expected
 */
uint64
es_catalog_exec(const char *sql, int nargs, Oid *types, Datum *args,
				const char *nulls, int expected)
{
	Oid			save_user;
	int			save_sec;
	int			rc;

	es_become_catalog_owner(&save_user, &save_sec);
	rc = SPI_execute_with_args(sql, nargs, types, args, nulls, false, 0);
	SetUserIdAndSecContext(save_user, save_sec);
	if (rc != expected)
		elog(ERROR, "could not access the catalog of pg_eventstream: %s",
			 SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * es_new_view_name is the name of a view to create, quoted and qualified:
 * its schema must exist and the name be free
 */
char *
es_new_view_name(RangeVar *rv, Oid *view_nsp)
{
	Oid			existing;

	*view_nsp = RangeVarGetAndCheckCreationNamespace(rv, NoLock, &existing);
	if (OidIsValid(existing))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", rv->relname)));
	return quote_qualified_identifier(get_namespace_name(*view_nsp), rv->relname);
}
