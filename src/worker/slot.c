/*-------------------------------------------------------------------------
 *
 * slot.c
 *	  A database's logical replication slot and replication origin, both
 *	  named eventstream_<database oid>: making and dropping them.
 *
 * The capture worker (capture.c) decodes through the slot and records in
 * the origin, with each apply transaction, how far it has applied.  A new
 * slot starts afresh -- it decodes from the moment it is made -- so an old
 * origin is dropped with it, once its position is noted: a slot that
 * replaces another (a failover, a dropped slot) may leave changes nobody
 * decoded, which gap.c looks for.  The worker holds no transaction when it
 * calls these; each opens what it needs.
 *
 * src/worker/slot.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlogutils.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"

#include "worker.h"

/*
 * es_slot_create makes the slot, persistent, decoding from now on, and
 * drops the origin of an earlier slot; *info says where the slot starts
 * and how far that origin had got.
 */
void
es_slot_create(const char *name, EsNewSlot *info)
{
	LogicalDecodingContext *ctx;

	CheckLogicalDecodingRequirements();
	StartTransactionCommand();
	info->origin_reached = InvalidXLogRecPtr;
	info->old_origin = replorigin_by_name(name, true);
	if (info->old_origin != InvalidRepOriginId)
		info->origin_reached = replorigin_get_progress(info->old_origin, false);
	replorigin_drop_by_name(name, true, false);
	info->drop_xid = GetCurrentTransactionIdIfAny();
	CommitTransactionCommand();

	ReplicationSlotCreate(name, true, RS_EPHEMERAL, false);
	ctx = CreateInitDecodingContext("pg_eventstream", NIL, false,
									InvalidXLogRecPtr,
									XL_ROUTINE(.page_read = read_local_xlog_page,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									NULL, NULL, NULL);
	DecodingContextFindStartpoint(ctx);
	info->start = MyReplicationSlot->data.confirmed_flush;
	FreeDecodingContext(ctx);
	ReplicationSlotPersist();
	ReplicationSlotRelease();
	ereport(LOG,
			(errmsg("pg_eventstream created replication slot \"%s\"", name)));
}

/*
 * es_origin_setup makes the origin if it is missing and sets it up for
 * this session: the worker's transactions carry it
 */
RepOriginId
es_origin_setup(const char *name)
{
	RepOriginId origin;

	StartTransactionCommand();
	origin = replorigin_by_name(name, true);
	if (origin == InvalidRepOriginId)
		origin = replorigin_create(name);
	CommitTransactionCommand();
	replorigin_session_setup(origin);
	replorigin_session_origin = origin;
	return origin;
}

/*
 * es_slot_drop ends decoding (*ctx, if any), and drops the slot and the
 * origin, if there are any
 */
void
es_slot_drop(const char *name, LogicalDecodingContext **ctx)
{
	if (*ctx != NULL)
	{
		FreeDecodingContext(*ctx);
		*ctx = NULL;
	}
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
	if (SearchNamedReplicationSlot(name, true) != NULL)
		ReplicationSlotDrop(name, true);
	if (replorigin_session_origin != InvalidRepOriginId)
	{
		replorigin_session_reset();
		replorigin_session_origin = InvalidRepOriginId;
	}
	StartTransactionCommand();
	replorigin_drop_by_name(name, true, false);
	CommitTransactionCommand();
}
