/*-------------------------------------------------------------------------
 *
 * value_jsonb.c
 *	  Build a SQL datum's jsonb value directly: the value that jsonb_in
 *	  would make of the JSON es_encode_value writes, without the text.
 *
 * The event log stores key, old and new as jsonb.  Writing JSON text and
 * parsing it back was a third of the capture worker's time; this builds
 * the same jsonb from the decoded datums, for the types whose JSON it can
 * make without a parser's judgement.  It mirrors value_encode.c kind by
 * kind and reuses its writers where the JSON is a string: those strings
 * (timestamps, intervals, uuids, base64) never hold a character JSON
 * escapes, so the text between the quotes is the string itself.
 *
 * json values (and arrays of them) are not built here: json text may hold
 * what jsonb refuses ("\u0000", numbers past numeric's range), and only
 * the parser, run where its error can be caught, may judge that;
 * es_type_builds_jsonb says which types qualify.  Nothing here raises an
 * error for a value it accepts, short of running out of memory; the caller
 * keeps huge values on the text path, whose size checks it has.
 *
 * src/common/value_jsonb.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "value_encode.h"
#include "value_jsonb.h"

/*
 * es_type_builds_jsonb tells whether es_push_value_jsonb can build every
 * value of a type: all but json and arrays of json.
 */
bool
es_type_builds_jsonb(const EsTypeInfo *info)
{
	if (info->kind == ES_KIND_JSON)
		return false;
	if (info->kind == ES_KIND_ARRAY)
		return es_type_builds_jsonb(info->elem);
	return true;
}

static void
push_string(JsonbParseState **state, JsonbIteratorToken tok, char *s, int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = s;
	v.val.string.len = len;
	(void) pushJsonbValue(state, tok, &v);
}

static void
push_numeric(JsonbParseState **state, JsonbIteratorToken tok, Numeric n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = n;
	(void) pushJsonbValue(state, tok, &v);
}

/* a number as jsonb_in reads it: through numeric_in */
static void
push_number_text(JsonbParseState **state, JsonbIteratorToken tok, char *s)
{
	push_numeric(state, tok,
				 DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1))));
}

/* a float: a number if finite, else the string value_encode.c writes */
static void
push_double(JsonbParseState **state, JsonbIteratorToken tok, double d,
			bool is_float4)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN + 1];

	if (isnan(d))
		push_string(state, tok, "NaN", 3);
	else if (isinf(d))
		push_string(state, tok, d > 0 ? "Infinity" : "-Infinity", d > 0 ? 8 : 9);
	else
	{
		if (is_float4)
			float_to_shortest_decimal_buf((float) d, buf);
		else
			double_to_shortest_decimal_buf(d, buf);
		push_number_text(state, tok, buf);
	}
}

/*
 * A value value_encode.c writes as a JSON string free of escapes: its
 * text, written there, between the quotes.
 */
static void
push_encoded_string(JsonbParseState **state, JsonbIteratorToken tok,
					const EsTypeInfo *info, Datum value,
					const EsEncodeOptions *opts)
{
	StringInfo	scratch = es_encode_value_scratch(info, value, opts);

	/* the value gets a copy: the buffer is the next value's */
	Assert(scratch->len >= 2 && scratch->data[0] == '"' &&
		   scratch->data[scratch->len - 1] == '"' &&
		   memchr(scratch->data, '\\', scratch->len) == NULL);
	push_string(state, tok, pnstrdup(scratch->data + 1, scratch->len - 2),
				scratch->len - 2);
}

static void
push_cstring(JsonbParseState **state, JsonbIteratorToken tok, char *s)
{
	push_string(state, tok, s, strlen(s));
}

/* dimension dim of an array, as in value_encode.c's encode_array_dim */
static void
push_array_dim(JsonbParseState **state, const EsTypeInfo *elem, int ndim,
			   int dim, const int *dims, Datum *values, bool *nulls, int *pos,
			   const EsEncodeOptions *opts)
{
	JsonbValue	null;
	int			i;

	null.type = jbvNull;
	(void) pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < dims[dim]; i++)
	{
		if (dim + 1 < ndim)
			push_array_dim(state, elem, ndim, dim + 1, dims, values, nulls,
						   pos, opts);
		else
		{
			if (nulls[*pos])
				(void) pushJsonbValue(state, WJB_ELEM, &null);
			else
				es_push_value_jsonb(state, WJB_ELEM, elem, values[*pos], opts);
			(*pos)++;
		}
	}
	(void) pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

static void
push_array(JsonbParseState **state, JsonbIteratorToken tok,
		   const EsTypeInfo *info, Datum value, const EsEncodeOptions *opts)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	const EsTypeInfo *elem = info->elem;
	Datum	   *values;
	bool	   *nulls;
	int			nelems;
	int			pos = 0;

	if (es_array_has_bounds(arr))
	{
		push_cstring(state, tok, es_output_fixed(info, PointerGetDatum(arr)));
		return;
	}
	if (ARR_NDIM(arr) == 0)
	{
		(void) pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
		(void) pushJsonbValue(state, WJB_END_ARRAY, NULL);
		return;
	}
	deconstruct_array(arr, ARR_ELEMTYPE(arr), elem->typlen, elem->typbyval,
					  elem->typalign, &values, &nulls, &nelems);
	push_array_dim(state, elem, ARR_NDIM(arr), 0, ARR_DIMS(arr), values,
				   nulls, &pos, opts);
}

/*
 * es_push_value_jsonb pushes one non-null datum of a type that
 * es_type_builds_jsonb accepts into a jsonb under construction, as tok
 * (WJB_VALUE after a key, WJB_ELEM in an array).  Memory it allocates
 * belongs to the current context, which callers reset per change.
 */
void
es_push_value_jsonb(JsonbParseState **state, JsonbIteratorToken tok,
					const EsTypeInfo *info, Datum value,
					const EsEncodeOptions *opts)
{
	JsonbValue	v;

	switch (info->kind)
	{
		case ES_KIND_INT2:
			push_numeric(state, tok, int64_to_numeric(DatumGetInt16(value)));
			break;
		case ES_KIND_INT4:
			push_numeric(state, tok, int64_to_numeric(DatumGetInt32(value)));
			break;
		case ES_KIND_INT8:
			push_numeric(state, tok, int64_to_numeric(DatumGetInt64(value)));
			break;
		case ES_KIND_OID:
			push_numeric(state, tok, int64_to_numeric((int64) DatumGetObjectId(value)));
			break;
		case ES_KIND_FLOAT4:
			push_double(state, tok, DatumGetFloat4(value), true);
			break;
		case ES_KIND_FLOAT8:
			push_double(state, tok, DatumGetFloat8(value), false);
			break;
		case ES_KIND_NUMERIC:
			{
				Numeric		n = DatumGetNumeric(value);

				if (opts->numeric_as_string || numeric_is_nan(n) || numeric_is_inf(n))
					push_cstring(state, tok,
								 DatumGetCString(DirectFunctionCall1(numeric_out,
																	 NumericGetDatum(n))));
				else
					push_numeric(state, tok, n);
				break;
			}
		case ES_KIND_BOOL:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(value);
			(void) pushJsonbValue(state, tok, &v);
			break;
		case ES_KIND_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(value);

				/* pushJsonbValue unpacks a container into the one built */
				v.type = jbvBinary;
				v.val.binary.data = &jb->root;
				v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				(void) pushJsonbValue(state, tok, &v);
				break;
			}
		case ES_KIND_TIMESTAMPTZ:
		case ES_KIND_TIMESTAMP:
		case ES_KIND_DATE:
		case ES_KIND_TIME:
		case ES_KIND_TIMETZ:
		case ES_KIND_INTERVAL:
		case ES_KIND_BYTEA:
		case ES_KIND_UUID:
			push_encoded_string(state, tok, info, value, opts);
			break;
		case ES_KIND_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				push_string(state, tok, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case ES_KIND_NAME:
			push_cstring(state, tok, NameStr(*DatumGetName(value)));
			break;
		case ES_KIND_ARRAY:
			push_array(state, tok, info, value, opts);
			break;
		case ES_KIND_OUTPUT:
			push_cstring(state, tok, OutputFunctionCall((FmgrInfo *) &info->outfunc,
														value));
			break;
		case ES_KIND_OUTPUT_FIXED:
			push_cstring(state, tok, es_output_fixed(info, value));
			break;
		case ES_KIND_JSON:
			elog(ERROR, "json values are not built as jsonb directly");
	}
}
