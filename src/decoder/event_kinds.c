/*-------------------------------------------------------------------------
 *
 * event_kinds.c
 *	  The one table of event kinds: each kind's "op" and, for the row
 *	  operations, its bit in an operations mask.
 *
 * The output plugin's formats, the stream matching of the capture worker
 * and the event log all name and filter operations through this table,
 * so an operation is spelled in one place.
 *
 * src/decoder/event_kinds.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "decoder.h"

/* indexed by EsEventKind */
const EsEventKindInfo es_event_kinds[] = {
	[ES_EV_INSERT] = {"insert", ES_OP_INSERT},
	[ES_EV_UPDATE] = {"update", ES_OP_UPDATE},
	[ES_EV_DELETE] = {"delete", ES_OP_DELETE},
	[ES_EV_TRUNCATE] = {"truncate", ES_OP_TRUNCATE},
	[ES_EV_MESSAGE] = {"message", 0},
	[ES_EV_SCHEMA] = {"schema", 0},
	[ES_EV_BEGIN] = {"begin", 0},
	[ES_EV_COMMIT] = {"commit", 0},
	[ES_EV_PREPARE] = {"prepare", 0},
	[ES_EV_COMMIT_PREPARED] = {"commit_prepared", 0},
	[ES_EV_ROLLBACK_PREPARED] = {"rollback_prepared", 0},
	[ES_EV_STREAM_START] = {"stream_start", 0},
	[ES_EV_STREAM_STOP] = {"stream_stop", 0},
	[ES_EV_STREAM_ABORT] = {"stream_abort", 0},
	[ES_EV_STREAM_COMMIT] = {"stream_commit", 0},
	[ES_EV_SNAPSHOT] = {"snapshot", 0},
	[ES_EV_ERROR] = {"error", 0},
};

StaticAssertDecl(lengthof(es_event_kinds) == ES_EV_ERROR + 1,
				 "es_event_kinds must name every EsEventKind");

/*
 * es_operation_mask returns the ES_OP_* bit of a row operation's name
 * (insert, update, delete, truncate; any case), or 0 for anything else.
 * The plugin's "operations" option and streams' operations use it.
 */
int
es_operation_mask(const char *name)
{
	int			kind;

	for (kind = 0; kind < ES_NUM_ROW_OPS; kind++)
	{
		if (pg_strcasecmp(name, es_event_kinds[kind].op) == 0)
			return es_event_kinds[kind].opmask;
	}
	return 0;
}
