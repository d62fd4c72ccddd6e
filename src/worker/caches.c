/*-------------------------------------------------------------------------
 *
 * caches.c
 *	  Which view of the catalogs the capture worker's caches hold.
 *
 * Decoding fills the catalog caches (and the relation caches of the
 * decoder, which follow their invalidations) under historic snapshots:
 * entries as of the change being decoded.  The worker's own transactions
 * (apply, checks, retention) fill them with the present.  Neither may
 * serve the other, so the caches are reset where the worker crosses from
 * one to the other, as pg_logical_slot_get_changes resets them after its
 * decoding -- once per crossing, not around every transaction: a batch's
 * prepare and apply transactions share the present's entries, and rounds
 * of decoding with nothing in between share the past's.  (Resetting them
 * around each transaction cost 3-4 ms a batch, most of the time from a
 * commit to a waiting poll.)
 *
 * capture.c calls es_caches_for_work in each transaction it opens for its
 * own work, and es_caches_for_decoding / es_caches_decoded around reading
 * records.  Any other transaction of the process (slot and origin set-up,
 * the decoder's start) counts as the present through a transaction
 * callback.
 *
 * src/worker/caches.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/inval.h"

#include "worker.h"

static bool holds_past = false; /* decoding may have filled the caches */
static bool holds_present = true;	/* a transaction of ours may have */
static bool decoding = false;	/* between es_caches_for_decoding and
								 * es_caches_decoded */

/* a transaction outside decoding ended: the present may be cached */
static void
caches_xact_callback(XactEvent event, void *arg)
{
	if (!decoding &&
		(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT))
		holds_present = true;
}

/* es_caches_init: at the worker's start */
void
es_caches_init(void)
{
	RegisterXactCallback(caches_xact_callback, NULL);
}

/*
 * es_caches_for_work: in a transaction just started for the worker's own
 * work; forget what decoding cached
 */
void
es_caches_for_work(void)
{
	Assert(IsTransactionState() && !decoding);
	if (holds_past)
		InvalidateSystemCaches();
	holds_past = false;
	holds_present = true;
}

/*
 * es_caches_for_decoding: outside a transaction, before records are
 * decoded; forget what the present cached (in a transaction of its own:
 * rebuilding nailed entries reads the catalogs)
 */
void
es_caches_for_decoding(void)
{
	Assert(!IsTransactionState());
	if (holds_present)
	{
		StartTransactionCommand();
		InvalidateSystemCaches();
		CommitTransactionCommand();
	}
	holds_present = false;
	holds_past = true;
	decoding = true;
}

/* es_caches_decoded: after the records of a round are decoded */
void
es_caches_decoded(void)
{
	decoding = false;
}
