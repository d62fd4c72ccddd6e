/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  The capture worker's own WAL flushes.
 *
 * Logical decoding reads only flushed WAL.  With asynchronous commits the
 * WAL writer flushes late (whole pages first, the rest up to
 * wal_writer_delay later), and a committed change would wait that long to
 * reach the streams.  So the worker flushes by itself: between records,
 * when it has read all that is flushed and more is written
 * (es_flush_async_commits, from capture.c's decoding loop), and inside a
 * record that straddles the flushed end (es_read_page_flushing, the
 * decoding context's page reader).  Never past what is written
 * (written_end).
 *
 * src/worker/flush.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogutils.h"
#include "utils/timestamp.h"

#include "worker.h"

/*
 * The end of the WAL written so far, as XLogFlush takes it.  At the start
 * of a page, GetXLogInsertRecPtr gives the position after the page's
 * header, which is not written until a record goes there: flushing up to
 * it fails ("xlog flush request ... is not satisfied"), an ERROR that
 * restarted the worker.  There the end is the page boundary.
 */
static XLogRecPtr
written_end(void)
{
	XLogRecPtr	ptr = GetXLogInsertRecPtr();
	uint32		off = ptr % XLOG_BLCKSZ;
	uint32		header = XLogSegmentOffset(ptr, wal_segment_size) < XLOG_BLCKSZ ?
		SizeOfXLogLongPHD : SizeOfXLogShortPHD;

	if (off != 0 && off <= header)
		ptr -= off;
	return ptr;
}

/*
 * es_read_page_flushing is the decoder's page reader.  Decoding reads only
 * flushed WAL, and
 * read_local_xlog_page waits until what it needs is flushed.  The WAL
 * writer flushes asynchronous commits by whole pages first and the rest up
 * to wal_writer_delay later, so the flushed end can fall inside a record:
 * a worker reaching that record would wait for the WAL writer's next round
 * (and es_flush_async_commits, which runs between records, would never get
 * its turn).  The rest of the record is written already -- its beginning
 * is -- so the worker flushes up to what it needs itself, which is what
 * the next commit, or the WAL writer, would do anyway.  A worker that is
 * behind never gets here with unflushed WAL to read.
 */
int
es_read_page_flushing(XLogReaderState *state, XLogRecPtr targetPagePtr,
					  int reqLen, XLogRecPtr targetRecPtr, char *cur_page)
{
	XLogRecPtr	need = targetPagePtr + reqLen;

	if (!RecoveryInProgress() && need > GetFlushRecPtr(NULL))
	{
		XLogRecPtr	upto = Min(need, written_end());

		if (upto > GetFlushRecPtr(NULL))
			XLogFlush(upto);
	}
	return read_local_xlog_page(state, targetPagePtr, reqLen, targetRecPtr,
								cur_page);
}

/*
 * es_flush_async_commits: asynchronous commits (synchronous_commit = off) reach the disk when the
 * WAL writer gets to them, up to wal_writer_delay later -- or three times
 * that -- and decoding reads only flushed WAL: their events would wait that
 * long.  A worker that has caught up with the flushed WAL and sees more
 * written flushes it itself, at most every ES_SELF_FLUSH_MS, so that a
 * commit is in the streams within milliseconds either way.  A worker that
 * is behind never flushes: it has flushed WAL to read.  Returns the new end
 * of the flushed WAL; *last_self_flush is the worker's time of its last.
 */
XLogRecPtr
es_flush_async_commits(TimestampTz *last_self_flush, XLogRecPtr flushed)
{
	XLogRecPtr	written = written_end();
	TimestampTz now;

	if (written <= flushed)
		return flushed;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(*last_self_flush, now, ES_SELF_FLUSH_MS))
		return flushed;
	*last_self_flush = now;
	XLogFlush(written);
	return GetFlushRecPtr(NULL);
}

/*
 * es_unflushed_wal: true if WAL is written but not flushed, so the worker's
 * next round should come soon
 */
bool
es_unflushed_wal(void)
{
	return written_end() > GetFlushRecPtr(NULL);
}
