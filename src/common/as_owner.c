/*-------------------------------------------------------------------------
 *
 * as_owner.c
 *	  Run code that a role defined as that role; see as_owner.h.
 *
 * src/common/as_owner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/timeout.h"

#include "as_owner.h"

/*
 * es_pin_search_path opens a GUC nest level with search_path pinned to
 * ES_SAFE_SEARCH_PATH; AtEOXact_GUC(false, level) closes it.
 */
int
es_pin_search_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", ES_SAFE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * es_become_owner runs what follows as owner, security-restricted, with
 * the search_path pinned; with timeout_ms > 0 (the worker) also under a
 * statement and lock timeout of that length.
 */
void
es_become_owner(EsOwnerContext *cx, Oid owner, int timeout_ms)
{
	GetUserIdAndSecContext(&cx->save_user, &cx->save_sec);
	SetUserIdAndSecContext(owner, cx->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	cx->guc_nest = es_pin_search_path();
	cx->timeout_armed = timeout_ms > 0;
	if (cx->timeout_armed)
	{
		char		ms[32];

		snprintf(ms, sizeof(ms), "%d", timeout_ms);
		(void) set_config_option("lock_timeout", ms, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		/* SPI arms no statement_timeout: do it here */
		enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms);
	}
}

/* es_end_owner goes back to the user, context and settings of before */
void
es_end_owner(EsOwnerContext *cx)
{
	if (cx->timeout_armed)
	{
		/* a timeout that fired with no check for interrupts since: forget it */
		if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
			QueryCancelPending = false;
		disable_timeout(STATEMENT_TIMEOUT, false);
	}
	AtEOXact_GUC(false, cx->guc_nest);
	SetUserIdAndSecContext(cx->save_user, cx->save_sec);
}

/*
 * es_owner_abort, in the handler of an error that escaped between
 * es_become_owner and es_end_owner, disarms the timeout; the abort of the
 * enclosing subtransaction restores user, context and settings.
 */
void
es_owner_abort(EsOwnerContext *cx)
{
	if (cx->timeout_armed)
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		QueryCancelPending = false;
		cx->timeout_armed = false;
	}
}
