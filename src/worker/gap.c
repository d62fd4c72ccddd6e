/*-------------------------------------------------------------------------
 *
 * gap.c
 *	  Changes capture can never decode: the WAL between what the worker
 *	  last applied and where a new slot starts.
 *
 * PostgreSQL 15 does not keep logical slots on a physical standby.  After
 * a failover the promoted server's worker makes a new slot, which decodes
 * from now on, while the worker's replication origin -- replicated with
 * the commits of its batches -- says how far the old primary's worker had
 * got.  (A slot dropped by hand leaves the same hole.)  What committed in
 * between is in the tables but will never be in the streams.  The worker
 * reads that WAL for commit records other than its own: none, and nothing
 * was missed (a promotion of a standby that had caught up); some, or WAL
 * it cannot read any more, and the range is recorded as a gap
 * (eventstream._record_gap: a row of eventstream.gap_catalog and a "gap"
 * event in every stream) for the streams' readers to see and for
 * backfill() to close; under a catalog of 0.1.0, which has no place for
 * it, only in the server log.
 *
 * src/worker/gap.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "../common/try.h"
#include "../common/version.h"
#include "../pg_eventstream.h"
#include "worker.h"

typedef struct CommitScan
{
	XLogRecPtr	from;
	XLogRecPtr	to;
	RepOriginId own;
	TransactionId own_xid;
	bool		found;
} CommitScan;

/* read records from scan->from, stopping before one that starts at scan->to */
static void
scan_commits(void *arg)
{
	CommitScan *scan = arg;
	XLogReaderState *reader;
	XLogRecPtr	first;
	char	   *errormsg;

	reader = XLogReaderAllocate(wal_segment_size, NULL,
								XL_ROUTINE(.page_read = read_local_xlog_page,
										   .segment_open = wal_segment_open,
										   .segment_close = wal_segment_close),
								NULL);
	if (reader == NULL)
		elog(ERROR, "out of memory allocating a WAL reader");
	first = XLogFindNextRecord(reader, scan->from);
	if (XLogRecPtrIsInvalid(first))
		elog(ERROR, "no WAL record at or after %X/%X", LSN_FORMAT_ARGS(scan->from));
	if (first >= scan->to)
	{
		XLogReaderFree(reader);
		return;
	}
	XLogBeginRead(reader, first);
	for (;;)
	{
		if (XLogReadRecord(reader, &errormsg) == NULL)
			elog(ERROR, "could not read WAL at %X/%X: %s",
				 LSN_FORMAT_ARGS(reader->EndRecPtr), errormsg ? errormsg : "no record");
		if (XLogRecGetRmid(reader) == RM_XACT_ID)
		{
			uint8		info = XLogRecGetInfo(reader) & XLOG_XACT_OPMASK;

			if ((info == XLOG_XACT_COMMIT || info == XLOG_XACT_COMMIT_PREPARED) &&
				XLogRecGetOrigin(reader) != scan->own &&
				XLogRecGetXid(reader) != scan->own_xid)
			{
				scan->found = true;
				break;
			}
		}
		/* (never wait for WAL past the end: the next record may not exist) */
		if (reader->EndRecPtr >= scan->to)
			break;
	}
	XLogReaderFree(reader);
}

/*
 * es_wal_has_commits says whether a transaction other than the worker's
 * (those of origin own, and own_xid) committed in the WAL [from, to); also
 * true when that WAL cannot be read.  In a transaction.
 */
bool
es_wal_has_commits(XLogRecPtr from, XLogRecPtr to, RepOriginId own, TransactionId own_xid)
{
	CommitScan	scan = {from, to, own, own_xid, false};
	ErrorData  *error;

	if (from >= to)
		return false;
	error = es_try(scan_commits, &scan);
	if (error != NULL)
	{
		ereport(LOG,
				(errmsg("pg_eventstream could not read the WAL from %X/%X to %X/%X: %s",
						LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(to), error->message)));
		return true;
	}
	return scan.found;
}

/*
 * es_record_gap records that capture missed the WAL [from, to): a row of
 * eventstream.gap_catalog and a "gap" event in every active stream,
 * written by the worker (its origin: never decoded).  In a transaction,
 * SPI not connected.
 */
void
es_record_gap(XLogRecPtr from, XLogRecPtr to, const char *reason)
{
	Oid			types[3] = {LSNOID, LSNOID, TEXTOID};
	Datum		args[3] = {LSNGetDatum(from), LSNGetDatum(to), CStringGetTextDatum(reason)};
	char	   *version = es_catalog_version();

	/* a catalog of 0.1.0 has nowhere to record it: say it in the log only */
	if (version != NULL && strcmp(version, "0.1.0") == 0)
	{
		ereport(WARNING,
				(errmsg("pg_eventstream capture missed the changes committed from %X/%X to %X/%X",
						LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(to)),
				 errdetail("The extension's catalog is of version 0.1.0, which cannot record the gap in the streams."),
				 errhint("Run ALTER EXTENSION pg_eventstream UPDATE, then eventstream.backfill() the streams.")));
		return;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT " ES_SCHEMA "._record_gap($1, $2, $3)",
							  3, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not record a gap of capture");
	SPI_finish();
	ereport(WARNING,
			(errmsg("pg_eventstream capture missed the changes committed from %X/%X to %X/%X",
					LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(to)),
			 errdetail("The worker starts from a new replication slot (after a failover, or a dropped slot); "
					   "its origin had applied up to %X/%X.", LSN_FORMAT_ARGS(from)),
			 errhint("Each stream has a \"gap\" event; eventstream.backfill(stream) sends its tables' rows again.")));
}
