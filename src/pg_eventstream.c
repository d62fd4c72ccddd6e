/*-------------------------------------------------------------------------
 *
 * pg_eventstream.c
 *	  Module entry points of the pg_eventstream library.
 *
 * One shared library is both the logical decoding output plugin (its
 * _PG_output_plugin_init is in decoder/plugin.c) and the extension's
 * SQL-callable library.  _PG_init runs whenever the library is loaded:
 * as an output plugin, by CREATE EXTENSION, or from
 * shared_preload_libraries.  It defines the eventstream.* settings; when
 * preloaded it also sets up the shared memory, registers the launcher of
 * the capture workers, and installs the DROP DATABASE hook (src/worker/).
 *
 * src/pg_eventstream.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pg_eventstream.h"
#include "worker/worker.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(eventstream_version);

void		_PG_init(void);

/* _PG_init defines the settings and, when preloaded, starts the launcher */
void
_PG_init(void)
{
	es_define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;
	es_shmem_init();
	es_hooks_init();
	es_launcher_register();
}

/* eventstream_version returns the version of the loaded library */
Datum
eventstream_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(PG_EVENTSTREAM_VERSION));
}
