/*-------------------------------------------------------------------------
 *
 * value_encode.h
 *	  The value encoding of SPEC.md section 1: how one SQL datum becomes
 *	  JSON, independent of session settings.
 *
 * A caller resolves an EsTypeInfo once per column (at relation-cache build
 * time) and then encodes values with no catalog access: the type's kind
 * picks a fast path, and only types without one call their output
 * function.  The plugin uses it today; the worker that fills the event log
 * must use the very same code so that both agree on every value.
 *
 * src/common/value_encode.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_VALUE_ENCODE_H
#define ES_VALUE_ENCODE_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

typedef enum EsValueKind
{
	ES_KIND_INT2,
	ES_KIND_INT4,
	ES_KIND_INT8,
	ES_KIND_OID,
	ES_KIND_FLOAT4,
	ES_KIND_FLOAT8,
	ES_KIND_NUMERIC,
	ES_KIND_BOOL,
	ES_KIND_JSON,
	ES_KIND_JSONB,
	ES_KIND_TIMESTAMPTZ,
	ES_KIND_TIMESTAMP,
	ES_KIND_DATE,
	ES_KIND_TIME,
	ES_KIND_TIMETZ,
	ES_KIND_INTERVAL,
	ES_KIND_BYTEA,
	ES_KIND_UUID,
	ES_KIND_TEXT,				/* varlena whose bytes are its text: text,
								 * varchar, bpchar, xml */
	ES_KIND_NAME,
	ES_KIND_ARRAY,
	ES_KIND_OUTPUT,				/* output function, known not to depend on
								 * settings */
	ES_KIND_OUTPUT_FIXED		/* output function, run under fixed settings */
} EsValueKind;

typedef struct EsTypeInfo
{
	Oid			typid;			/* the column's type (maybe a domain) */
	Oid			basetype;		/* typid, or a domain's base type */
	int32		typmod;			/* of the column (or the domain), or -1 */
	EsValueKind kind;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	outfunc;		/* for the ES_KIND_OUTPUT* kinds */
	struct EsTypeInfo *elem;	/* element type, for ES_KIND_ARRAY */
} EsTypeInfo;

/* Debezium's time.precision.mode, decimal/binary.handling.mode */
typedef enum EsDbzTimePrecision
{
	ES_DBZ_TIME_ADAPTIVE,
	ES_DBZ_TIME_ADAPTIVE_MICROS,	/* adaptive_time_microseconds */
	ES_DBZ_TIME_CONNECT
} EsDbzTimePrecision;

typedef enum EsDbzDecimal
{
	ES_DBZ_DECIMAL_PRECISE,
	ES_DBZ_DECIMAL_DOUBLE,
	ES_DBZ_DECIMAL_STRING
} EsDbzDecimal;

typedef enum EsDbzBinary
{
	ES_DBZ_BINARY_BASE64,		/* "bytes" and "base64" alike in JSON */
	ES_DBZ_BINARY_BASE64_URL,
	ES_DBZ_BINARY_HEX
} EsDbzBinary;

/* encoding switches that come from output plugin options */
typedef struct EsEncodeOptions
{
	bool		numeric_as_string;
	/* format=debezium only (src/decoder/debezium_values.c) */
	EsDbzTimePrecision dbz_time_precision;
	EsDbzDecimal dbz_decimal;
	bool		dbz_interval_string;
	EsDbzBinary dbz_binary;
} EsEncodeOptions;

/* writes a non-NULL value as JSON (es_encode_value, or a format's own) */
typedef void (*EsValueEncoder) (StringInfo out, const EsTypeInfo *info,
								Datum value, const EsEncodeOptions *opts);

extern void es_typeinfo_init(EsTypeInfo *info, Oid typid, int32 typmod,
							 MemoryContext mcxt);
extern void es_encode_value(StringInfo out, const EsTypeInfo *info,
							Datum value, const EsEncodeOptions *opts);
extern bool es_array_has_bounds(ArrayType *arr);
extern StringInfo es_encode_value_scratch(const EsTypeInfo *info, Datum value,
										  const EsEncodeOptions *opts);
extern void es_encode_array_elements(StringInfo out, const EsTypeInfo *info,
									 Datum value, const EsEncodeOptions *opts,
									 EsValueEncoder encode);
extern char *es_output_fixed(const EsTypeInfo *info, Datum value);
extern bool es_value_is_json_null(const EsTypeInfo *info, Datum value);
extern bool es_value_fits(const EsTypeInfo *info, Datum value, Size room);
extern bool es_datum_is_unchanged_toast(const EsTypeInfo *info, Datum value);

#endif							/* ES_VALUE_ENCODE_H */
