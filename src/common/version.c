/*-------------------------------------------------------------------------
 *
 * version.c
 *	  Which versions of the extension's SQL objects this library knows.
 *
 * The library and the SQL objects are upgraded separately: a new package
 * replaces the library (loaded at the next server start) while each
 * database keeps its catalog until someone runs ALTER EXTENSION
 * pg_eventstream UPDATE, and a newer package's script may even be applied
 * while an older library is still loaded.  So whatever reads or writes the
 * catalogs first asks for the installed version (pg_extension.extversion)
 * and goes on only with one listed here: the capture and sink workers wait,
 * the SQL functions raise an error that says what to run.  A library knows
 * its own version and every earlier one it can still work with.
 *
 * src/common/version.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "../pg_eventstream.h"
#include "version.h"

/* the catalog versions this library works with, oldest first */
static const char *const known_versions[] = {"0.1.0", "0.2.0", "0.3.0", "0.4.0", PG_EVENTSTREAM_VERSION};

/*
 * es_catalog_version returns the installed version of the extension in the
 * current database (palloc'd), or NULL when it is not installed.  In a
 * transaction.
 */
char *
es_catalog_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pg_eventstream"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/* es_catalog_version_known says whether this library works with version */
bool
es_catalog_version_known(const char *version)
{
	int			i;

	for (i = 0; i < lengthof(known_versions); i++)
		if (strcmp(version, known_versions[i]) == 0)
			return true;
	return false;
}

/*
 * es_catalog_at_least says whether the installed catalog is version or a
 * later one this library knows: for features whose SQL objects came with
 * a later version than the oldest known.  In a transaction.
 */
bool
es_catalog_at_least(const char *version)
{
	char	   *installed = es_catalog_version();
	int			have = -1;
	int			need = -1;
	int			i;

	for (i = 0; i < lengthof(known_versions); i++)
	{
		if (installed != NULL && strcmp(installed, known_versions[i]) == 0)
			have = i;
		if (strcmp(version, known_versions[i]) == 0)
			need = i;
	}
	Assert(need >= 0);
	return have >= need;
}

/* the hint of both refusals: what makes library and catalog agree */
static int
errhint_matching_version(const char *version)
{
	return errhint("Install the pg_eventstream package of version %s and restart the server, "
				   "or run ALTER EXTENSION pg_eventstream UPDATE if the version is older.",
				   version);
}

/*
 * es_require_known_catalog raises an error unless the installed catalog is
 * one this library knows.  In a transaction; the extension is installed.
 * The SQL functions call it before each catalog write, so a transaction
 * looks once: the version changes only by ALTER EXTENSION, in a
 * transaction of its own.
 */
void
es_require_known_catalog(void)
{
	static LocalTransactionId checked_in = InvalidLocalTransactionId;
	char	   *version;

	if (checked_in == MyProc->lxid)
		return;
	version = es_catalog_version();
	if (version != NULL && !es_catalog_version_known(version))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_eventstream library %s does not know version %s of the extension",
						PG_EVENTSTREAM_VERSION, version),
				 errhint_matching_version(version)));
	checked_in = MyProc->lxid;
}

/*
 * es_catalog_usable says whether a worker may go on with the installed
 * catalog; when not, it warns -- once per process, naming the worker --
 * and the worker waits and asks again.  In a transaction.
 */
bool
es_catalog_usable(const char *worker)
{
	static bool warned = false;
	char	   *version = es_catalog_version();

	if (version == NULL || es_catalog_version_known(version))
	{
		warned = false;
		return true;
	}
	if (!warned)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_eventstream %s waits: library %s does not know version %s of the extension",
						worker, PG_EVENTSTREAM_VERSION, version),
				 errhint_matching_version(version)));
	warned = true;
	return false;
}
