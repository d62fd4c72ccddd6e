/*-------------------------------------------------------------------------
 *
 * hub.c
 *	  The capture worker as a hub: one decoding feeds every capture target.
 *
 * The hub is the capture receiver (decoder.h) the worker installs in its
 * decoding context.  For each decoded change it first asks whether the
 * change is one of the targets' catalogs -- a definition created, altered
 * or dropped -- and otherwise hands it to every target (decoder/target.h),
 * which keep what they need.  The batch ends after a transaction that
 * changed definitions, so that decoding restarts with the new ones.
 *
 * The targets are listed in hub_targets below: the streams' event log and
 * the continuous aggregates.  A new kind of target is one more entry; the
 * hub and the worker's loop do not change.
 *
 * src/worker/hub.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "../aggregate/aggregate.h"
#include "../common/catalog.h"
#include "../decoder/target.h"
#include "../stream/stream.h"
#include "hub.h"

/* what the capture worker feeds, in the order they apply */
static const EsTargetRoutine *const hub_targets[] = {
	&es_stream_target,
	&es_aggregate_target,
};

StaticAssertDecl(lengthof(hub_targets) <= ES_HUB_MAX_TARGETS,
				 "raise ES_HUB_MAX_TARGETS");

/*
 * A decoded insert into a target's catalog creates a definition: it takes
 * the changes that commit after this transaction, so the apply transaction
 * that moves the origin past it activates it.  So does an update: the one
 * by which finish_restore() starts a definition restored from a dump (the
 * activation leaves active and restored rows alone, catalog.c).
 */
static void
note_creation(EsHub *hub, EsHubTarget *t, const EsEvent *ev)
{
	bool		isnull;
	Datum		id;
	MemoryContext oldcxt;

	id = heap_getattr(ev->newtuple, t->id_att, ev->rel->desc, &isnull);
	if (isnull)
		return;
	oldcxt = MemoryContextSwitchTo(hub->batch_cxt);
	t->created = lappend_int(t->created, DatumGetInt32(id));
	MemoryContextSwitchTo(oldcxt);
}

/* the receiver's callback: one event of a committed transaction */
static void
hub_event(EsCaptureReceiver *receiver, EsDecodingData *data, const EsEvent *ev)
{
	EsHub	   *hub = (EsHub *) receiver;
	bool		kept = false;
	int			i;

	if (ev->rel != NULL && ev->kind <= ES_EV_TRUNCATE)
	{
		for (i = 0; i < hub->ntargets; i++)
		{
			EsHubTarget *t = &hub->targets[i];

			if (ev->rel->report_relid != t->catalog)
				continue;
			hub->defs_changed = true;
			if (ev->kind == ES_EV_INSERT || ev->kind == ES_EV_UPDATE)
				note_creation(hub, t, ev);
			return;
		}
	}

	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];

		if (t->routine->change(t->state, data, ev))
			kept = true;
	}
	if (kept)
	{
		hub->nchanges++;
		hub->last_commit_time = ev->commit_time;
	}
}

/* es_hub_create makes the hub and its targets' state; in a transaction */
EsHub *
es_hub_create(MemoryContext cxt, RepOriginId origin)
{
	EsHub	   *hub = MemoryContextAllocZero(cxt, sizeof(EsHub));
	int			i;

	hub->receiver.event = hub_event;
	hub->receiver.origin = origin;
	hub->cxt = cxt;
	hub->batch_cxt = AllocSetContextCreate(cxt, "pg_eventstream hub batch",
										   ALLOCSET_SMALL_SIZES);
	hub->ntargets = lengthof(hub_targets);
	for (i = 0; i < hub->ntargets; i++)
	{
		hub->targets[i].routine = hub_targets[i];
		hub->targets[i].state = hub_targets[i]->create(cxt);
	}
	return hub;
}

/*
 * es_hub_load reads every target's definitions and sets the "tables" and
 * "message-prefixes" options that decode what they need: their tables,
 * their catalogs, their messages.  In a transaction.
 */
void
es_hub_load(EsHub *hub, char **tables_option, char **prefixes_option)
{
	StringInfoData tables;
	StringInfoData prefixes;
	int			i;

	initStringInfo(&tables);
	initStringInfo(&prefixes);
	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];
		const char *more;

		t->catalog = es_catalog_relid(t->routine->catalog);
		t->id_att = get_attnum(t->catalog, "id");
		if (t->id_att == InvalidAttrNumber)
			elog(ERROR, "pg_eventstream catalog \"%s\" has no id", t->routine->catalog);
		t->routine->load(t->state);

		/* the catalog itself: its changes mark where definitions change */
		if (tables.len > 0)
			appendStringInfoChar(&tables, ',');
		es_append_pattern_escaped(&tables, ES_SCHEMA);
		appendStringInfoChar(&tables, '.');
		es_append_pattern_escaped(&tables, t->routine->catalog);
		more = t->routine->tables(t->state);
		if (more[0] != '\0')
			appendStringInfo(&tables, ",%s", more);
		if (t->routine->message_prefixes != NULL)
			appendStringInfo(&prefixes, "%s%s", prefixes.len > 0 ? "," : "",
							 t->routine->message_prefixes);
	}
	*tables_option = tables.data;
	*prefixes_option = prefixes.data;
}

/* es_hub_pending: has the batch anything for an apply transaction? */
bool
es_hub_pending(EsHub *hub)
{
	int			i;

	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];

		if (t->created != NIL || t->routine->pending(t->state))
			return true;
	}
	return false;
}

/* es_hub_prepare: what the apply transaction will need; in a transaction */
void
es_hub_prepare(EsHub *hub)
{
	int			i;

	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];

		if (t->routine->prepare != NULL)
			t->routine->prepare(t->state);
	}
}

/*
 * es_hub_apply applies the batch to every target, then activates the
 * definitions it created; in the apply transaction.  Returns the events
 * written.
 */
int64
es_hub_apply(EsHub *hub, bool careful)
{
	int64		written = 0;
	int			i;

	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];

		written += t->routine->apply(t->state, careful);
	}
	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];

		if (t->created != NIL)
			t->routine->activate(t->created);
	}
	return written;
}

/*
 * es_hub_activate_all activates every definition: a new slot decodes from
 * now on, and the creations before it will never be decoded.
 */
void
es_hub_activate_all(EsHub *hub)
{
	int			i;

	for (i = 0; i < hub->ntargets; i++)
		hub->targets[i].routine->activate(NIL);
}

/* es_hub_reset forgets the batch, once its apply transaction committed */
void
es_hub_reset(EsHub *hub)
{
	int			i;

	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];

		t->routine->reset(t->state);
		t->created = NIL;
	}
	MemoryContextReset(hub->batch_cxt);
	hub->nchanges = 0;
	hub->defs_changed = false;
}

/*
 * es_hub_idle lets the targets start work that needs decoding, once
 * caught up; true if one did.  In a transaction.
 */
bool
es_hub_idle(EsHub *hub, EsDecodingData *data)
{
	bool		started = false;
	int			i;

	for (i = 0; i < hub->ntargets; i++)
	{
		EsHubTarget *t = &hub->targets[i];

		if (t->routine->idle != NULL && t->routine->idle(t->state, data))
			started = true;
	}
	return started;
}
