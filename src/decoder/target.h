/*-------------------------------------------------------------------------
 *
 * target.h
 *	  A capture target: what the capture worker feeds with decoded changes.
 *
 * The capture worker decodes the database's WAL once and hands every row
 * change, truncate and message of a committed transaction to each of its
 * targets -- the streams' event log (src/stream) and the continuous
 * aggregates (src/aggregate).  A target is a routine table, in the manner
 * of PostgreSQL's TableAmRoutine; the worker (src/worker/hub.c) knows the
 * targets only through it, and a target knows nothing of the others.
 *
 * The worker calls, for each target:
 *	  create	once, in a transaction: the target's state, in cxt
 *	  load		in a transaction, whenever decoding (re)starts: read the
 *				definitions (in effect from the WAL position decoding starts)
 *	  tables	the tables whose changes it needs, in the syntax of the
 *				plugin's "tables" option
 *	  change	a decoded change or message; true if it kept something
 *	  pending	true if apply has work, even without kept changes
 *	  prepare	in a transaction of its own before the apply transaction:
 *				create what apply will need (no DDL in the apply transaction)
 *	  apply		in the apply transaction, which also moves the worker's
 *				replication origin; careful after a failed first attempt,
 *				when one bad change must not fail the rest.  Returns the
 *				events it wrote to the log
 *	  activate	in the apply transaction: the definitions whose creation
 *				the batch decoded (ids of the catalog rows) take the changes
 *				that commit after it; NIL means all (a new slot)
 *	  reset		after the apply transaction commits: forget the batch
 *	  idle		caught up, between batches, in a transaction: start work
 *				that needs decoding (a backfill chunk); true if it did
 *
 * A target names the prefixes of the logical messages it reads, if any.
 * Each target has a catalog in the extension's schema whose rows define it;
 * the worker recognises decoded changes of that table (by OID) as changes
 * of definitions, and notes the "id" of inserted rows for activate.
 * Optional callbacks may be NULL.
 *
 * src/decoder/target.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_TARGET_H
#define ES_TARGET_H

#include "decoder.h"

typedef struct EsTargetRoutine
{
	const char *name;			/* for messages */
	const char *catalog;		/* table in the extension's schema */
	const char *message_prefixes;	/* logical messages it reads, or NULL */

	void	   *(*create) (MemoryContext cxt);
	void		(*load) (void *state);
	const char *(*tables) (void *state);
	bool		(*change) (void *state, EsDecodingData *data, const EsEvent *ev);
	bool		(*pending) (void *state);
	void		(*prepare) (void *state);	/* optional */
	int64		(*apply) (void *state, bool careful);
	void		(*activate) (List *ids);
	void		(*reset) (void *state);
	bool		(*idle) (void *state, EsDecodingData *data);	/* optional */
} EsTargetRoutine;

#endif							/* ES_TARGET_H */
