/*-------------------------------------------------------------------------
 *
 * hub.h
 *	  The capture worker's hub: the receiver of decoded changes that feeds
 *	  every capture target (decoder/target.h), and the calls the worker's
 *	  loop makes on them.
 *
 * src/worker/hub.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_HUB_H
#define ES_HUB_H

#include "../decoder/decoder.h"

#define ES_HUB_MAX_TARGETS 4

typedef struct EsHubTarget
{
	const struct EsTargetRoutine *routine;
	void	   *state;
	Oid			catalog;		/* its catalog's OID, as of the last load */
	AttrNumber	id_att;			/* the catalog's "id" column */
	List	   *created;		/* ids of definitions the batch created */
} EsHubTarget;

typedef struct EsHub
{
	EsCaptureReceiver receiver; /* must be first */
	MemoryContext cxt;
	MemoryContext batch_cxt;	/* reset with the batch */
	int			ntargets;
	EsHubTarget targets[ES_HUB_MAX_TARGETS];
	bool		defs_changed;	/* a transaction changed a catalog */
	int64		nchanges;		/* changes a target kept */
	TimestampTz last_commit_time;	/* of the last change kept */
} EsHub;

extern EsHub *es_hub_create(MemoryContext cxt, RepOriginId origin);
extern void es_hub_load(EsHub *hub, char **tables_option,
						char **prefixes_option);
extern bool es_hub_pending(EsHub *hub);
extern void es_hub_prepare(EsHub *hub);
extern int64 es_hub_apply(EsHub *hub, bool careful);
extern void es_hub_activate_all(EsHub *hub);
extern void es_hub_reset(EsHub *hub);
extern bool es_hub_idle(EsHub *hub, EsDecodingData *data);

#endif							/* ES_HUB_H */
