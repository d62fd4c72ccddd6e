/*-------------------------------------------------------------------------
 *
 * try.h
 *	  Run a piece of work in a subtransaction of its own, and get its error
 *	  back instead of losing the whole transaction.
 *
 * The worker does this wherever one role's input or code may fail -- an
 * aggregate's batch, a backfill chunk, an event that cannot be stored --
 * so that the failure costs that piece only.  The subtransaction's abort
 * releases what the work took (locks, buffers, memory of the
 * subtransaction) and restores the user, security context and settings.
 *
 * src/common/try.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_TRY_H
#define ES_TRY_H

#include "utils/elog.h"

extern ErrorData *es_try(void (*work) (void *arg), void *arg);

#endif							/* ES_TRY_H */
