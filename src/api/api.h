/*-------------------------------------------------------------------------
 *
 * api.h
 *	  Helpers shared by the SQL functions of src/api and src/aggregate.
 *
 * src/api/api.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_API_H
#define ES_API_H

#include "fmgr.h"
#include "lib/stringinfo.h"

extern void es_require_arg(FunctionCallInfo fcinfo, int n, const char *name);
extern void es_append_pattern_escaped(StringInfo buf, const char *name);
extern void es_become_catalog_owner(Oid *save_user, int *save_sec);

#endif							/* ES_API_H */
