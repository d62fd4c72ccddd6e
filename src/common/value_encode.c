/*-------------------------------------------------------------------------
 *
 * value_encode.c
 *	  Encode SQL datums as JSON, independent of session settings.
 *
 * es_typeinfo_init classifies a type once (domains resolve to their base
 * type, arrays to their element type); es_encode_value then writes a datum
 * with no catalog access.  The common types have fast paths that format
 * the value directly: integers and floats as JSON numbers (shortest exact
 * floats, whatever extra_float_digits says), timestamps in ISO 8601 (UTC
 * with "Z" for timestamptz, whatever TimeZone and DateStyle say), bytea in
 * base64, json and jsonb embedded as JSON, arrays as JSON arrays (an
 * array whose lower bounds are not 1 as its text form, which keeps them).
 *
 * Every other type is written as a JSON string holding its text output.
 * Types whose output could depend on DateStyle, IntervalStyle, TimeZone,
 * extra_float_digits or bytea_output (composites, ranges, geometric types,
 * anything unknown) have their output function called with those settings
 * pinned to fixed values, restored afterwards even on error.
 *
 * src/common/value_encode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/bytea.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "json_write.h"
#include "value_encode.h"

static void encode_array(StringInfo out, const EsTypeInfo *info, Datum value,
						 const EsEncodeOptions *opts);
static void encode_jsonb(StringInfo out, Jsonb *jb);

/*
 * Classify a base (non-domain) type: the fast paths by OID, then the types
 * whose text output is known to ignore session settings.
 */
static EsValueKind
kind_of(Oid basetype, char typtype, Oid elemtype, int16 typlen)
{
	switch (basetype)
	{
		case INT2OID:
			return ES_KIND_INT2;
		case INT4OID:
			return ES_KIND_INT4;
		case INT8OID:
			return ES_KIND_INT8;
		case OIDOID:
		case XIDOID:
		case CIDOID:
			return ES_KIND_OID;
		case FLOAT4OID:
			return ES_KIND_FLOAT4;
		case FLOAT8OID:
			return ES_KIND_FLOAT8;
		case NUMERICOID:
			return ES_KIND_NUMERIC;
		case BOOLOID:
			return ES_KIND_BOOL;
		case JSONOID:
			return ES_KIND_JSON;
		case JSONBOID:
			return ES_KIND_JSONB;
		case TIMESTAMPTZOID:
			return ES_KIND_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return ES_KIND_TIMESTAMP;
		case DATEOID:
			return ES_KIND_DATE;
		case TIMEOID:
			return ES_KIND_TIME;
		case TIMETZOID:
			return ES_KIND_TIMETZ;
		case INTERVALOID:
			return ES_KIND_INTERVAL;
		case BYTEAOID:
			return ES_KIND_BYTEA;
		case UUIDOID:
			return ES_KIND_UUID;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case XMLOID:
			return ES_KIND_TEXT;
		case NAMEOID:
			return ES_KIND_NAME;
		case CHAROID:
		case INETOID:
		case CIDROID:
		case MACADDROID:
		case MACADDR8OID:
		case BITOID:
		case VARBITOID:
		case TSVECTOROID:
		case TSQUERYOID:
		case PG_LSNOID:
		case XID8OID:
			return ES_KIND_OUTPUT;
	}

	/* a true array type (not a fixed-length pseudo-array like point) */
	if (OidIsValid(elemtype) && typlen == -1)
		return ES_KIND_ARRAY;
	if (typtype == TYPTYPE_ENUM)
		return ES_KIND_OUTPUT;
	return ES_KIND_OUTPUT_FIXED;
}

/*
 * es_typeinfo_init fills info for a column of type typid; the element
 * info of an array type is allocated in mcxt, which must live as long as
 * info itself.
 */
void
es_typeinfo_init(EsTypeInfo *info, Oid typid, int32 typmod, MemoryContext mcxt)
{
	int32		basetypmod = typmod;
	Oid			basetype = getBaseTypeAndTypmod(typid, &basetypmod);
	HeapTuple	tup;
	Form_pg_type typ;

	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(basetype));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", basetype);
	typ = (Form_pg_type) GETSTRUCT(tup);

	memset(info, 0, sizeof(EsTypeInfo));
	info->typid = typid;
	info->basetype = basetype;
	/* a domain's own typmod when it has one, else the column's */
	info->typmod = basetype != typid && basetypmod >= 0 ? basetypmod : typmod;
	info->typlen = typ->typlen;
	info->typbyval = typ->typbyval;
	info->typalign = typ->typalign;
	info->kind = kind_of(basetype, typ->typtype, typ->typelem, typ->typlen);

	if (info->kind == ES_KIND_ARRAY)
	{
		info->elem = MemoryContextAlloc(mcxt, sizeof(EsTypeInfo));
		es_typeinfo_init(info->elem, typ->typelem, info->typmod, mcxt);
		/* for arrays whose bounds a JSON array would lose */
		fmgr_info_cxt(typ->typoutput, &info->outfunc, mcxt);
	}
	else if (info->kind == ES_KIND_OUTPUT || info->kind == ES_KIND_OUTPUT_FIXED)
		fmgr_info_cxt(typ->typoutput, &info->outfunc, mcxt);

	ReleaseSysCache(tup);
}

/*
 * es_datum_is_unchanged_toast tells whether a value of an update's new
 * tuple is a pointer to TOAST data the update did not change, which
 * logical decoding does not carry.
 */
bool
es_datum_is_unchanged_toast(const EsTypeInfo *info, Datum value)
{
	return info->typlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value));
}

/* write a float that may be NaN or infinite */
static void
encode_double(StringInfo out, double d, bool is_float4)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN + 1];

	if (isnan(d))
		appendStringInfoString(out, "\"NaN\"");
	else if (isinf(d))
		appendStringInfoString(out, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
	{
		int			len;

		if (is_float4)
			len = float_to_shortest_decimal_buf((float) d, buf);
		else
			len = double_to_shortest_decimal_buf(d, buf);
		appendBinaryStringInfo(out, buf, len);
	}
}

/* numeric: a JSON number spelled exactly as numeric_out spells it */
static void
encode_numeric(StringInfo out, Datum value, const EsEncodeOptions *opts)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, value));

	/* NaN, Infinity and -Infinity are no JSON numbers */
	if (opts->numeric_as_string || s[0] == 'N' || s[0] == 'I' ||
		(s[0] == '-' && s[1] == 'I'))
		es_json_cstring(out, s);
	else
		appendStringInfoString(out, s);
	pfree(s);
}

/* time, timetz and interval in their ISO 8601 forms */
static void
encode_datetime(StringInfo out, EsValueKind kind, Datum value)
{
	char		buf[MAXDATELEN + 1];
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			tz;

	switch (kind)
	{
		case ES_KIND_TIME:
			time2tm(DatumGetTimeADT(value), &tm, &fsec);
			EncodeTimeOnly(&tm, fsec, false, 0, USE_ISO_DATES, buf);
			break;
		case ES_KIND_TIMETZ:
			timetz2tm(DatumGetTimeTzADTP(value), &tm, &fsec, &tz);
			EncodeTimeOnly(&tm, fsec, true, tz, USE_ISO_DATES, buf);
			break;
		case ES_KIND_INTERVAL:
			{
				struct pg_itm itm;

				interval2itm(*DatumGetIntervalP(value), &itm);
				EncodeInterval(&itm, INTSTYLE_ISO_8601, buf);
				break;
			}
		default:
			elog(ERROR, "unexpected value kind %d", (int) kind);
	}
	es_json_cstring(out, buf);
}

/* uuid in its canonical 8-4-4-4-12 form */
static void
encode_uuid(StringInfo out, Datum value)
{
	static const char hex[] = "0123456789abcdef";
	pg_uuid_t  *uuid = DatumGetUUIDP(value);
	char		buf[38];
	int			p = 0;
	int			i;

	buf[p++] = '"';
	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[p++] = '-';
		buf[p++] = hex[uuid->data[i] >> 4];
		buf[p++] = hex[uuid->data[i] & 0x0F];
	}
	buf[p++] = '"';
	appendBinaryStringInfo(out, buf, p);
}

/*
 * jsonb as compact JSON.  JsonbToCString would put blanks after every ':'
 * and ','; walking the jsonb and writing with our own escaping is both
 * faster and smaller.
 */
static void
encode_jsonb(StringInfo out, Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		raw_scalar = false;
	bool		need_comma = false;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				if (v.val.array.rawScalar)
				{
					raw_scalar = true;	/* a lone scalar, no brackets */
					break;
				}
				/* FALLTHROUGH */
			case WJB_BEGIN_OBJECT:
				if (need_comma)
					appendStringInfoCharMacro(out, ',');
				appendStringInfoCharMacro(out, tok == WJB_BEGIN_OBJECT ? '{' : '[');
				need_comma = false;
				break;
			case WJB_END_ARRAY:
				if (!raw_scalar)
					appendStringInfoCharMacro(out, ']');
				need_comma = true;
				break;
			case WJB_END_OBJECT:
				appendStringInfoCharMacro(out, '}');
				need_comma = true;
				break;
			case WJB_KEY:
				if (need_comma)
					appendStringInfoCharMacro(out, ',');
				es_json_string(out, v.val.string.val, v.val.string.len);
				appendStringInfoCharMacro(out, ':');
				need_comma = false;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (need_comma)
					appendStringInfoCharMacro(out, ',');
				switch (v.type)
				{
					case jbvNull:
						appendBinaryStringInfo(out, "null", 4);
						break;
					case jbvBool:
						appendStringInfoString(out, v.val.boolean ? "true" : "false");
						break;
					case jbvString:
						es_json_string(out, v.val.string.val, v.val.string.len);
						break;
					case jbvNumeric:
						appendStringInfoString(out,
											   DatumGetCString(DirectFunctionCall1(numeric_out,
																				   NumericGetDatum(v.val.numeric))));
						break;
					default:
						elog(ERROR, "unexpected jsonb value type %d", (int) v.type);
				}
				need_comma = true;
				break;
			case WJB_DONE:
				break;
		}
	}
}

/*
 * es_output_fixed calls a type's output function with DateStyle,
 * IntervalStyle, TimeZone, extra_float_digits and bytea_output pinned, so
 * that nested values (a timestamptz inside a composite, a float inside a
 * point) come out the same in every session.
 */
char *
es_output_fixed(const EsTypeInfo *info, Datum value)
{
	static pg_tz *utc = NULL;
	int			save_datestyle = DateStyle;
	int			save_dateorder = DateOrder;
	int			save_intervalstyle = IntervalStyle;
	int			save_float_digits = extra_float_digits;
	int			save_bytea_output = bytea_output;
	pg_tz	   *save_timezone = session_timezone;
	char	   *result;

	if (utc == NULL)
		utc = pg_tzset("UTC");

	DateStyle = USE_ISO_DATES;
	DateOrder = DATEORDER_YMD;
	IntervalStyle = INTSTYLE_ISO_8601;
	extra_float_digits = 1;
	bytea_output = BYTEA_OUTPUT_HEX;
	if (utc != NULL)
		session_timezone = utc;

	PG_TRY();
	{
		result = OutputFunctionCall((FmgrInfo *) &info->outfunc, value);
	}
	PG_FINALLY();
	{
		DateStyle = save_datestyle;
		DateOrder = save_dateorder;
		IntervalStyle = save_intervalstyle;
		extra_float_digits = save_float_digits;
		bytea_output = save_bytea_output;
		session_timezone = save_timezone;
	}
	PG_END_TRY();

	return result;
}

/*
 * es_encode_value appends one non-null datum of the type described by info
 * as JSON.  Memory it allocates (detoasted copies, output strings) belongs
 * to the current context, which callers reset per change.
 */
void
es_encode_value(StringInfo out, const EsTypeInfo *info, Datum value,
				const EsEncodeOptions *opts)
{
	switch (info->kind)
	{
		case ES_KIND_INT2:
			es_json_int64(out, DatumGetInt16(value));
			break;
		case ES_KIND_INT4:
			es_json_int64(out, DatumGetInt32(value));
			break;
		case ES_KIND_INT8:
			es_json_int64(out, DatumGetInt64(value));
			break;
		case ES_KIND_OID:
			es_json_uint64(out, DatumGetObjectId(value));
			break;
		case ES_KIND_FLOAT4:
			encode_double(out, DatumGetFloat4(value), true);
			break;
		case ES_KIND_FLOAT8:
			encode_double(out, DatumGetFloat8(value), false);
			break;
		case ES_KIND_NUMERIC:
			encode_numeric(out, value, opts);
			break;
		case ES_KIND_BOOL:
			if (DatumGetBool(value))
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		case ES_KIND_JSON:
			{
				text	   *t = DatumGetTextPP(value);

				es_json_embed(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case ES_KIND_JSONB:
			encode_jsonb(out, DatumGetJsonbP(value));
			break;
		case ES_KIND_TIMESTAMPTZ:
			es_json_timestamp(out, DatumGetTimestampTz(value), true);
			break;
		case ES_KIND_TIMESTAMP:
			es_json_timestamp(out, DatumGetTimestamp(value), false);
			break;
		case ES_KIND_DATE:
			es_json_date(out, DatumGetDateADT(value));
			break;
		case ES_KIND_TIME:
		case ES_KIND_TIMETZ:
		case ES_KIND_INTERVAL:
			encode_datetime(out, info->kind, value);
			break;
		case ES_KIND_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);

				es_json_base64(out, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
				break;
			}
		case ES_KIND_UUID:
			encode_uuid(out, value);
			break;
		case ES_KIND_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				es_json_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case ES_KIND_NAME:
			es_json_cstring(out, NameStr(*DatumGetName(value)));
			break;
		case ES_KIND_ARRAY:
			encode_array(out, info, value, opts);
			break;
		case ES_KIND_OUTPUT:
			es_json_cstring(out,
							OutputFunctionCall((FmgrInfo *) &info->outfunc,
											   value));
			break;
		case ES_KIND_OUTPUT_FIXED:
			es_json_cstring(out, es_output_fixed(info, value));
			break;
	}
}

/*
 * es_encode_value_scratch writes a non-null datum as es_encode_value does
 * into a buffer kept for the process, and returns it, valid until the next
 * call: for callers that copy or quote the text, without a buffer made and
 * freed per value.  A buffer a large value grew is not kept.
 */
StringInfo
es_encode_value_scratch(const EsTypeInfo *info, Datum value,
						const EsEncodeOptions *opts)
{
	static StringInfo scratch = NULL;

	if (scratch != NULL && scratch->maxlen > 64 * 1024)
	{
		pfree(scratch->data);
		pfree(scratch);
		scratch = NULL;
	}
	if (scratch == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		scratch = makeStringInfo();
		MemoryContextSwitchTo(oldcxt);
	}
	resetStringInfo(scratch);
	es_encode_value(scratch, info, value, opts);
	return scratch;
}

/*
 * es_value_is_json_null tells whether a (non-NULL) json or jsonb value is
 * the JSON null, which its JSON text cannot tell from SQL NULL
 */
bool
es_value_is_json_null(const EsTypeInfo *info, Datum value)
{
	if (info->kind == ES_KIND_JSONB)
	{
		Jsonb	   *jb = DatumGetJsonbP(value);
		JsonbValue	v;

		return JB_ROOT_IS_SCALAR(jb) && JsonbExtractScalar(&jb->root, &v) &&
			v.type == jbvNull;
	}
	if (info->kind == ES_KIND_JSON)
	{
		text	   *t = DatumGetTextPP(value);
		const char *p = VARDATA_ANY(t);
		const char *end = p + VARSIZE_ANY_EXHDR(t);

		while (p < end && isspace((unsigned char) *p))
			p++;
		while (end > p && isspace((unsigned char) end[-1]))
			end--;
		return end - p == 4 && memcmp(p, "null", 4) == 0;
	}
	return false;
}

/*
 * es_value_fits tells whether the JSON of a (non-NULL) value surely takes
 * at most room bytes, without encoding it: from the value's size (not
 * detoasting it) in the common case, exactly for text near the limit.
 * An event must stay under PostgreSQL's 1 GB allocation limit (and a
 * jsonb string under its own); a value that does not fit is left out.
 */
bool
es_value_fits(const EsTypeInfo *info, Datum value, Size room)
{
	Size		raw;

	if (info->typlen != -1)
		return room >= 1024;	/* fixed-length and cstring types are small */
	raw = toast_raw_datum_size(value);
	if (room > 1024 && raw <= (room - 1024) / 6)
		return true;			/* even if every byte became \u00XX */

	switch (info->kind)
	{
		case ES_KIND_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				return es_json_string_size(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) <= room;
			}
		case ES_KIND_BYTEA:
			return 4 * ((raw + 2) / 3) + 2 <= room;
		case ES_KIND_ARRAY:
			{
				ArrayType  *arr = DatumGetArrayTypeP(value);
				Size		nitems = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

				/* each element escaped, or "null", with its separators */
				return 6 * (raw + nitems) + 1024 <= room;
			}
		default:
			return false;
	}
}

/*
 * Write dimension dim of an array, consuming elements from *pos: nested
 * JSON arrays for multi-dimensional arrays, null for NULL elements, each
 * element by encode.
 */
static void
encode_array_dim(StringInfo out, const EsTypeInfo *elem, int ndim, int dim,
				 const int *dims, Datum *values, bool *nulls, int *pos,
				 const EsEncodeOptions *opts, EsValueEncoder encode)
{
	int			i;

	appendStringInfoCharMacro(out, '[');
	for (i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoCharMacro(out, ',');
		if (dim + 1 < ndim)
			encode_array_dim(out, elem, ndim, dim + 1, dims, values, nulls,
							 pos, opts, encode);
		else
		{
			if (nulls[*pos])
				appendBinaryStringInfo(out, "null", 4);
			else
				encode(out, elem, values[*pos], opts);
			(*pos)++;
		}
	}
	appendStringInfoCharMacro(out, ']');
}

/*
 * es_encode_array_elements writes an array as JSON arrays of its elements,
 * each written by encode (a format's own encoder, or es_encode_value)
 */
void
es_encode_array_elements(StringInfo out, const EsTypeInfo *info, Datum value,
						 const EsEncodeOptions *opts, EsValueEncoder encode)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	const EsTypeInfo *elem = info->elem;
	Datum	   *values;
	bool	   *nulls;
	int			nelems;
	int			pos = 0;

	if (ARR_NDIM(arr) == 0)
	{
		appendBinaryStringInfo(out, "[]", 2);
		return;
	}
	deconstruct_array(arr, ARR_ELEMTYPE(arr), elem->typlen, elem->typbyval,
					  elem->typalign, &values, &nulls, &nelems);
	encode_array_dim(out, elem, ARR_NDIM(arr), 0, ARR_DIMS(arr),
					 values, nulls, &pos, opts, encode);
}

/*
 * es_array_has_bounds says whether an array has a lower bound other than
 * 1: a JSON array would lose it, so such an array is written in its text
 * form, which keeps it (here and in value_jsonb.c alike)
 */
bool
es_array_has_bounds(ArrayType *arr)
{
	for (int d = 0; d < ARR_NDIM(arr); d++)
		if (ARR_LBOUND(arr)[d] != 1)
			return true;
	return false;
}

static void
encode_array(StringInfo out, const EsTypeInfo *info, Datum value,
			 const EsEncodeOptions *opts)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);

	if (es_array_has_bounds(arr))
	{
		es_json_cstring(out, es_output_fixed(info, PointerGetDatum(arr)));
		return;
	}
	es_encode_array_elements(out, info, PointerGetDatum(arr), opts, es_encode_value);
}
