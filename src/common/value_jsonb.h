/*-------------------------------------------------------------------------
 *
 * value_jsonb.h
 *	  A SQL datum's jsonb value built directly, equal to jsonb_in of the
 *	  JSON that value_encode.h writes (see value_jsonb.c).
 *
 * src/common/value_jsonb.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_VALUE_JSONB_H
#define ES_VALUE_JSONB_H

#include "utils/jsonb.h"

#include "value_encode.h"

extern bool es_type_builds_jsonb(const EsTypeInfo *info);
extern void es_push_value_jsonb(JsonbParseState **state, JsonbIteratorToken tok,
								const EsTypeInfo *info, Datum value,
								const EsEncodeOptions *opts);

#endif							/* ES_VALUE_JSONB_H */
