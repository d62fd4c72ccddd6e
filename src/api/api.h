/*-------------------------------------------------------------------------
 *
 * api.h
 *	  Helpers shared by the SQL-callable functions of src/api, the top
 *	  layer: nothing below includes this header.
 *
 * src/api/api.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_API_H
#define ES_API_H

#include "access/xlogdefs.h"
#include "fmgr.h"
#include "lib/stringinfo.h"

/* api_util.c */
extern void es_require_arg(FunctionCallInfo fcinfo, int n, const char *name);
extern void es_become_catalog_owner(Oid *save_user, int *save_sec);
extern uint64 es_catalog_exec(const char *sql, int nargs, Oid *types, Datum *args,
							  const char *nulls, int expected);
struct RangeVar;
extern char *es_new_view_name(struct RangeVar *rv, Oid *view_nsp);

/* aggregate_api.c: an aggregate's catalog row (aggregates, windows) */
typedef struct EsAggregateRow
{
	Oid			view;
	int32		id;
	Oid			mat;
	Oid			source;
	Oid			owner;
	bool		grouped;
	char	   *query;
	char	   *populate_sql;
	char	   *empty_sql;
	struct ArrayType *settings; /* pinned date/time settings, or NULL */
} EsAggregateRow;
extern EsAggregateRow es_lookup_aggregate(Oid view);

/* worker_api.c: waiting for the capture worker */
extern void es_wait_for_capture(void);
extern XLogRecPtr es_wait_applied(int64 timeout_ms);

#endif							/* ES_API_H */
