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

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timeout.h"

#include "as_owner.h"
#include "try.h"

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

/* the settings through which stable date/time functions are what they are */
static const char *const time_settings[] = {"TimeZone", "DateStyle", "IntervalStyle"};

/*
 * es_time_settings returns the session's values of the date/time settings
 * as a text[] of "name=value", to be pinned for later evaluations of an
 * expression that depends on them (a continuous aggregate's date_trunc)
 */
ArrayType *
es_time_settings(void)
{
	Datum		values[lengthof(time_settings)];
	int			i;

	for (i = 0; i < lengthof(time_settings); i++)
		values[i] = CStringGetTextDatum(psprintf("%s=%s", time_settings[i],
												 GetConfigOption(time_settings[i], false, false)));
	return construct_array(values, lengthof(time_settings), TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * es_pin_settings sets the "name=value" entries of settings (NULL: none)
 * in the current GUC nest level -- es_become_owner's, which es_end_owner
 * (or the abort of the transaction) closes
 */
void
es_pin_settings(ArrayType *settings)
{
	Datum	   *items;
	int			n;
	int			i;

	if (settings == NULL)
		return;
	deconstruct_array(settings, TEXTOID, -1, false, TYPALIGN_INT, &items, NULL, &n);
	for (i = 0; i < n; i++)
	{
		char	   *item = TextDatumGetCString(items[i]);
		char	   *eq = strchr(item, '=');

		if (eq == NULL)
			elog(ERROR, "malformed pinned setting \"%s\"", item);
		*eq = '\0';
		(void) set_config_option(item, eq + 1, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
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

/* disarm the worker's statement timeout, if es_become_owner armed it */
static void
disarm_timeout(EsOwnerContext *cx)
{
	if (!cx->timeout_armed)
		return;
	/* a timeout that fired with no check for interrupts since: forget it */
	if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
		QueryCancelPending = false;
	disable_timeout(STATEMENT_TIMEOUT, false);
	cx->timeout_armed = false;
}

/* es_end_owner goes back to the user, context and settings of before */
void
es_end_owner(EsOwnerContext *cx)
{
	disarm_timeout(cx);
	AtEOXact_GUC(false, cx->guc_nest);
	SetUserIdAndSecContext(cx->save_user, cx->save_sec);
}

/* work of es_try_as_owner, run inside its subtransaction */
typedef struct OwnerWork
{
	Oid			owner;
	int			timeout_ms;
	void		(*work) (void *arg);
	void	   *arg;
	EsOwnerContext cx;
} OwnerWork;

static void
owner_work(void *arg)
{
	OwnerWork  *w = arg;

	es_become_owner(&w->cx, w->owner, w->timeout_ms);
	w->work(w->arg);
	es_end_owner(&w->cx);
}

/*
 * es_try_as_owner runs work(arg) as owner (es_become_owner) in a
 * subtransaction of its own (es_try): NULL if it succeeded, else its
 * error.  The rollback restores user, context and settings; the timeout
 * is disarmed here.
 */
ErrorData *
es_try_as_owner(Oid owner, int timeout_ms, void (*work) (void *arg), void *arg)
{
	OwnerWork	w = {owner, timeout_ms, work, arg};
	ErrorData  *edata = es_try(owner_work, &w);

	if (edata != NULL)
		disarm_timeout(&w.cx);
	return edata;
}
