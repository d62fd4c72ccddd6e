/*-------------------------------------------------------------------------
 *
 * as_owner.h
 *	  Run code that a role defined as that role, the way PostgreSQL's own
 *	  maintenance commands do (REFRESH MATERIALIZED VIEW, VACUUM, CREATE
 *	  INDEX): never with the worker's or the caller's rights.
 *
 * es_become_owner switches to the owner with a security-restricted
 * context (no SET ROLE, no temporary objects, no deferred code), and in a
 * new GUC nest level pins search_path to "pg_catalog, pg_temp" -- stored
 * statements are written fully qualified, so they resolve the same way
 * whoever runs them and whatever path the session had.  In the worker,
 * where no statement_timeout is armed for SPI, it also arms one (and a
 * lock_timeout), so that one owner's slow function, trigger or lock cannot
 * hold the shared worker for long.  es_end_owner goes back.  If an error
 * escapes in between, the abort of the enclosing (sub)transaction restores
 * the user, the security context and the settings; es_try_as_owner does
 * all of it in a subtransaction of its own (try.h) and hands back the
 * error.
 *
 * src/common/as_owner.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_AS_OWNER_H
#define ES_AS_OWNER_H

#include "utils/array.h"
#include "utils/elog.h"

typedef struct EsOwnerContext
{
	Oid			save_user;
	int			save_sec;
	int			guc_nest;
	bool		timeout_armed;
} EsOwnerContext;

/* the search_path every stored statement is written for and runs under */
#define ES_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

extern void es_become_owner(EsOwnerContext *cx, Oid owner, int timeout_ms);
extern void es_end_owner(EsOwnerContext *cx);
extern ErrorData *es_try_as_owner(Oid owner, int timeout_ms,
								  void (*work) (void *arg), void *arg);
extern int	es_pin_search_path(void);
extern ArrayType *es_time_settings(void);
extern void es_pin_settings(ArrayType *settings);

#endif							/* ES_AS_OWNER_H */
