/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The extension's catalog tables, by OID, and activating definitions.
 *
 * src/common/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_CATALOG_H
#define ES_CATALOG_H

#include "nodes/pg_list.h"

extern Oid	es_catalog_relid(const char *name);
extern bool es_catalog_has_column(const char *catalog, const char *column);
extern void es_catalog_activate(const char *catalog, List *ids);

#endif							/* ES_CATALOG_H */
