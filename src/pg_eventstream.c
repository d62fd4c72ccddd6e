/*-------------------------------------------------------------------------
 *
 * pg_eventstream.c
 *	  Module entry points of the pg_eventstream library.
 *
 * One shared library is both the logical decoding output plugin (its
 * _PG_output_plugin_init is in decoder/plugin.c) and the extension's
 * SQL-callable library.  _PG_init runs whenever the library is loaded:
 * as an output plugin, by CREATE EXTENSION, or from
 * shared_preload_libraries.  It reserves the "eventstream." prefix for the
 * extension's settings; the background worker that a later release starts
 * from here needs the library preloaded.
 *
 * src/pg_eventstream.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pg_eventstream.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(eventstream_version);

void		_PG_init(void);

/* _PG_init reserves the eventstream.* settings namespace */
void
_PG_init(void)
{
	MarkGUCPrefixReserved("eventstream");
}

/* eventstream_version returns the version of the loaded library */
Datum
eventstream_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(PG_EVENTSTREAM_VERSION));
}
