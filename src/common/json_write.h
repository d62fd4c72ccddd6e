/*-------------------------------------------------------------------------
 *
 * json_write.h
 *	  Low-level JSON text writing shared by every pg_eventstream component.
 *
 * The output plugin, and later the worker and the sinks, write JSON
 * straight into a StringInfo instead of building jsonb values: these
 * helpers are the only place that knows how a string, a timestamp, an LSN
 * or binary data is spelled in JSON, so every component agrees on it.
 *
 * src/common/json_write.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_JSON_WRITE_H
#define ES_JSON_WRITE_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/date.h"
#include "utils/jsonb.h"

extern void es_json_string(StringInfo out, const char *s, int len);
extern Size es_json_string_size(const char *s, Size len);
extern void es_json_cstring(StringInfo out, const char *s);
extern void es_json_embed(StringInfo out, const char *json, int len);
extern void es_json_base64(StringInfo out, const char *data, int len);
extern void es_json_lsn(StringInfo out, XLogRecPtr lsn);
extern void es_json_lsn_text(StringInfo out, XLogRecPtr lsn);
extern void es_json_int64(StringInfo out, int64 value);
extern void es_json_uint64(StringInfo out, uint64 value);
extern void es_json_timestamp(StringInfo out, Timestamp ts, bool utc);
extern void es_json_date(StringInfo out, DateADT date);
extern bool es_json_is_valid(const char *s, int len);
extern void es_json_pretty(StringInfo out, const char *json, int len);
extern void es_json_jsonb(StringInfo out, Jsonb *jb);

#endif							/* ES_JSON_WRITE_H */
