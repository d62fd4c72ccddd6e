/*-------------------------------------------------------------------------
 *
 * debezium_values.c
 *	  Column values as Debezium's PostgreSQL connector writes them with
 *	  Kafka Connect's JSON converter and schemas disabled.
 *
 * format=debezium must be what a consumer written for Debezium parses
 * unchanged under Debezium's default settings, so its values differ from
 * the native encoding (value_encode.c) where Debezium's do:
 *	  date			int32 days since 1970-01-01 (io.debezium.time.Date)
 *	  time			int64 microseconds since midnight (MicroTime); int32
 *					milliseconds (Time) for time(0..3), or always with
 *					time.precision.mode=connect
 *	  timestamp		int64 microseconds since the epoch (MicroTimestamp);
 *					milliseconds (Timestamp) for timestamp(0..3) or connect
 *	  timestamptz	ISO 8601 string in UTC (ZonedTimestamp), as native
 *	  timetz		"HH:MM:SS[.ffffff]Z" in UTC (ZonedTime)
 *	  interval		int64 microseconds, a month counted as 365.25 / 12 days
 *					(MicroDuration); interval.handling.mode=string gives
 *					"P<y>Y<m>M<d>DT<h>H<m>M<s>S"
 *	  numeric		decimal.handling.mode=precise (default): the unscaled
 *					value as big-endian two's complement bytes, base64
 *					(Decimal) for numeric(p,s); {"scale":s,"value":bytes}
 *					(VariableScaleDecimal) for numeric without a scale;
 *					NaN and infinities have no such form and are null.
 *					double: a JSON number.  string: the plain text.
 *	  money			as numeric with scale 2 (money.fraction.digits)
 *	  json, jsonb	a string holding the JSON text (io.debezium.data.Json)
 *	  bytea			base64 (binary.handling.mode bytes or base64),
 *					base64-url-safe, or hex
 *	  bit(1)		boolean
 *	  arrays		JSON arrays of their elements, each encoded as above
 * and every other type as the native encoding writes it.  An unchanged
 * TOAST value is Debezium's placeholder in the column's own shape: a
 * string, the placeholder's bytes for bytea, a one-element array for
 * arrays.
 *
 * src/decoder/debezium_values.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/cash.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/varbit.h"

#include "../common/json_write.h"
#include "decoder.h"

#define DBZ_UNAVAILABLE "__debezium_unavailable_value"
#define UNIX_EPOCH_DAYS (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)
#define UNIX_EPOCH_USECS ((int64) UNIX_EPOCH_DAYS * USECS_PER_DAY)

/* the declared fractional-second precision of a time or timestamp column */
static int
time_precision(const EsTypeInfo *info)
{
	return info->typmod >= 0 ? info->typmod : MAX_TIMESTAMP_PRECISION;
}

/* milliseconds rather than microseconds for this column? */
static bool
in_millis(const EsTypeInfo *info, const EsEncodeOptions *opts)
{
	if (opts->dbz_time_precision == ES_DBZ_TIME_CONNECT)
		return true;
	if (info->kind == ES_KIND_TIME &&
		opts->dbz_time_precision == ES_DBZ_TIME_ADAPTIVE_MICROS)
		return false;
	return time_precision(info) <= 3;
}

/* floor division, for times before the epoch */
static int64
floor_div(int64 a, int64 b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/*
 * Big-endian two's complement bytes of the integer whose decimal digits
 * (with a leading '-' if negative) are in digits, the fewest that hold it.
 */
static void
unscaled_bytes(StringInfo out, const char *digits)
{
	bool		neg = digits[0] == '-';
	int			ndig;
	uint8	   *dec;
	StringInfoData be;			/* little-endian magnitude, then reversed */
	int			i;
	int			len;

	if (neg)
		digits++;
	ndig = strlen(digits);
	dec = palloc(ndig);
	for (i = 0; i < ndig; i++)
		dec[i] = digits[i] - '0';

	/* divide the decimal digits by 256 until nothing is left */
	initStringInfo(&be);
	for (;;)
	{
		int			rem = 0;
		bool		zero = true;

		for (i = 0; i < ndig; i++)
		{
			int			cur = rem * 10 + dec[i];

			dec[i] = cur / 256;
			rem = cur % 256;
			zero &= dec[i] == 0;
		}
		appendStringInfoChar(&be, (char) rem);
		if (zero)
			break;
	}
	len = be.len;
	while (len > 1 && be.data[len - 1] == 0)
		len--;

	if (neg)
	{
		/* two's complement: invert and add one, little-endian */
		int			carry = 1;

		for (i = 0; i < len; i++)
		{
			int			b = (uint8) ~be.data[i] + carry;

			be.data[i] = (char) (b & 0xFF);
			carry = b >> 8;
		}
		if (!((uint8) be.data[len - 1] & 0x80))
			be.data[len++] = (char) 0xFF;	/* room for the sign */
	}
	else if ((uint8) be.data[len - 1] & 0x80)
		be.data[len++] = 0;		/* room for the sign */

	for (i = len - 1; i >= 0; i--)
		appendStringInfoChar(out, be.data[i]);
	pfree(dec);
	pfree(be.data);
}

/* base64 of bytes as a JSON string */
static void
base64_string(StringInfo out, const char *bytes, int len)
{
	es_json_base64(out, bytes, len);
}

/*
 * The fewest big-endian two's complement bytes that hold v, as
 * unscaled_bytes writes them for a value of up to 18 digits
 */
static int
int64_bytes(char *bytes, int64 v)
{
	int			n = 1;
	int			i;

	while (n < 8 && (v < -((int64) 1 << (8 * n - 1)) || v >= ((int64) 1 << (8 * n - 1))))
		n++;
	for (i = 0; i < n; i++)
		bytes[i] = (char) ((uint64) v >> (8 * (n - 1 - i)));
	return n;
}

/* Debezium's Decimal: the unscaled value of text (a plain decimal) at scale */
static void
write_decimal_bytes(StringInfo out, const char *text, int scale)
{
	StringInfoData digits;
	char		bytes[8];
	StringInfoData be;
	int			nbytes;
	const char *dot = strchr(text, '.');
	int			have = dot ? (int) strlen(dot + 1) : 0;
	const char *p;
	int			ndig = 0;
	int64		v = 0;

	/* up to 18 digits (the common case), in an int64: no allocation */
	for (p = text; *p; p++)
		if (*p >= '0' && *p <= '9')
			ndig++;
	if (ndig + Max(scale - have, 0) <= 18)
	{
		for (p = text; *p; p++)
			if (*p >= '0' && *p <= '9')
				v = v * 10 + (*p - '0');
		for (; have < scale; have++)
			v *= 10;
		if (text[0] == '-')
			v = -v;
		nbytes = int64_bytes(bytes, v);
		base64_string(out, bytes, nbytes);
		return;
	}

	initStringInfo(&digits);
	for (p = text; *p; p++)
	{
		if (*p != '.')
			appendStringInfoChar(&digits, *p);
	}
	/* the stored value has at most the declared scale: pad to it */
	for (; have < scale; have++)
		appendStringInfoChar(&digits, '0');
	initStringInfo(&be);
	unscaled_bytes(&be, digits.data);
	base64_string(out, be.data, be.len);
	pfree(digits.data);
	pfree(be.data);
}

/* numeric, and money as a numeric of scale 2 */
static void
write_numeric(StringInfo out, const EsTypeInfo *info, Datum value,
			  const EsEncodeOptions *opts)
{
	char	   *text;
	int			scale;
	bool		declared;

	if (info->kind == ES_KIND_NUMERIC)
	{
		Numeric		num = DatumGetNumeric(value);

		text = DatumGetCString(DirectFunctionCall1(numeric_out, value));
		if (numeric_is_nan(num) || numeric_is_inf(num))
		{
			/* Decimal has no NaN or infinity: null; double and string: text */
			if (opts->dbz_decimal == ES_DBZ_DECIMAL_PRECISE)
				appendBinaryStringInfo(out, "null", 4);
			else
				es_json_cstring(out, text);
			return;
		}
		declared = info->typmod >= (int32) VARHDRSZ;
		scale = declared ? ((info->typmod - VARHDRSZ) & 0xFFFF) : 0;
	}
	else
	{
		Cash		c = DatumGetCash(value);

		text = psprintf("%s" INT64_FORMAT ".%02d", c < 0 ? "-" : "",
						(int64) (c < 0 ? -(c / 100) : c / 100), (int) (c < 0 ? -(c % 100) : c % 100));
		declared = true;
		scale = 2;
	}

	switch (opts->dbz_decimal)
	{
		case ES_DBZ_DECIMAL_DOUBLE:
			appendStringInfoString(out, float8out_internal(strtod(text, NULL)));
			break;
		case ES_DBZ_DECIMAL_STRING:
			es_json_cstring(out, text);
			break;
		case ES_DBZ_DECIMAL_PRECISE:
			if (declared)
				write_decimal_bytes(out, text, scale);
			else
			{
				const char *dot = strchr(text, '.');

				scale = dot ? (int) strlen(dot + 1) : 0;
				appendStringInfo(out, "{\"scale\":%d,\"value\":", scale);
				write_decimal_bytes(out, text, scale);
				appendStringInfoCharMacro(out, '}');
			}
			break;
	}
}

/* interval: MicroDuration, or Debezium's ISO 8601 string */
static void
write_interval(StringInfo out, Interval *iv, const EsEncodeOptions *opts)
{
	if (opts->dbz_interval_string)
	{
		int			years = iv->month / MONTHS_PER_YEAR;
		int			months = iv->month % MONTHS_PER_YEAR;
		int64		usecs = iv->time;
		int64		hours = usecs / USECS_PER_HOUR;
		int64		minutes;
		int64		micros;

		usecs -= hours * USECS_PER_HOUR;
		minutes = usecs / USECS_PER_MINUTE;
		usecs -= minutes * USECS_PER_MINUTE;
		micros = usecs;
		appendStringInfo(out, "\"P%dY%dM%dDT" INT64_FORMAT "H" INT64_FORMAT "M",
						 years, months, iv->day, hours, minutes);
		if (micros % USECS_PER_SEC == 0)
			appendStringInfo(out, INT64_FORMAT "S\"", micros / USECS_PER_SEC);
		else
		{
			char		frac[16];
			int			n;

			snprintf(frac, sizeof(frac), "%06d", (int) Abs(micros % USECS_PER_SEC));
			for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
				frac[n - 1] = '\0';
			appendStringInfo(out, "%s" INT64_FORMAT ".%sS\"",
							 micros < 0 && micros / USECS_PER_SEC == 0 ? "-" : "",
							 micros / USECS_PER_SEC, frac);
		}
		return;
	}
	/* a month is 365.25 / 12 days, as MicroDuration counts it */
	es_json_int64(out, (int64) (iv->month * (365.25 / 12.0) * USECS_PER_DAY) +
				  (int64) iv->day * USECS_PER_DAY + iv->time);
}

/* timetz in UTC: "HH:MM:SS[.ffffff]Z" */
static void
write_timetz(StringInfo out, TimeTzADT *t)
{
	int64		us = t->time + (int64) t->zone * USECS_PER_SEC;
	int64		secs;

	us = us - floor_div(us, USECS_PER_DAY) * USECS_PER_DAY;
	secs = us / USECS_PER_SEC;
	appendStringInfo(out, "\"%02d:%02d:%02d", (int) (secs / 3600),
					 (int) (secs / 60 % 60), (int) (secs % 60));
	if (us % USECS_PER_SEC != 0)
	{
		char		frac[16];
		int			n;

		snprintf(frac, sizeof(frac), "%06d", (int) (us % USECS_PER_SEC));
		for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
			frac[n - 1] = '\0';
		appendStringInfo(out, ".%s", frac);
	}
	appendStringInfoString(out, "Z\"");
}

/* bytea per binary.handling.mode */
static void
write_binary(StringInfo out, const char *bytes, int len, const EsEncodeOptions *opts)
{
	static const char hex[] = "0123456789abcdef";
	int			i;

	switch (opts->dbz_binary)
	{
		case ES_DBZ_BINARY_BASE64:
			base64_string(out, bytes, len);
			break;
		case ES_DBZ_BINARY_BASE64_URL:
			{
				int			start = out->len;

				base64_string(out, bytes, len);
				for (i = start; i < out->len; i++)
				{
					if (out->data[i] == '+')
						out->data[i] = '-';
					else if (out->data[i] == '/')
						out->data[i] = '_';
				}
				break;
			}
		case ES_DBZ_BINARY_HEX:
			appendStringInfoCharMacro(out, '"');
			for (i = 0; i < len; i++)
			{
				appendStringInfoCharMacro(out, hex[(uint8) bytes[i] >> 4]);
				appendStringInfoCharMacro(out, hex[(uint8) bytes[i] & 0x0F]);
			}
			appendStringInfoCharMacro(out, '"');
			break;
	}
}

/* es_dbz_encode_value writes a non-NULL value as Debezium does */
void
es_dbz_encode_value(StringInfo out, const EsTypeInfo *info, Datum value,
					const EsEncodeOptions *opts)
{
	switch (info->kind)
	{
		case ES_KIND_DATE:
			{
				DateADT		d = DatumGetDateADT(value);

				if (DATE_NOT_FINITE(d))
					break;
				es_json_int64(out, (int64) d + UNIX_EPOCH_DAYS);
				return;
			}
		case ES_KIND_TIME:
			{
				TimeADT		t = DatumGetTimeADT(value);

				es_json_int64(out, in_millis(info, opts) ? t / 1000 : t);
				return;
			}
		case ES_KIND_TIMESTAMP:
			{
				Timestamp	ts = DatumGetTimestamp(value);

				if (TIMESTAMP_NOT_FINITE(ts))
					break;
				ts += UNIX_EPOCH_USECS;
				es_json_int64(out, in_millis(info, opts) ? floor_div(ts, 1000) : ts);
				return;
			}
		case ES_KIND_TIMETZ:
			write_timetz(out, DatumGetTimeTzADTP(value));
			return;
		case ES_KIND_INTERVAL:
			write_interval(out, DatumGetIntervalP(value), opts);
			return;
		case ES_KIND_NUMERIC:
			write_numeric(out, info, value, opts);
			return;
		case ES_KIND_JSON:
		case ES_KIND_JSONB:
			{
				/* a string holding the JSON text, as PostgreSQL writes it */
				StringInfo	json = es_encode_value_scratch(info, value, opts);

				es_json_string(out, json->data, json->len);
				return;
			}
		case ES_KIND_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);

				write_binary(out, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), opts);
				return;
			}
		case ES_KIND_ARRAY:
			/* the elements, each as Debezium writes its type */
			es_encode_array_elements(out, info, value, opts, es_dbz_encode_value);
			return;
		default:
			if (info->basetype == CASHOID)
			{
				write_numeric(out, info, value, opts);
				return;
			}
			if (info->basetype == BITOID && info->typmod == 1)
			{
				VarBit	   *bits = DatumGetVarBitP(value);

				appendStringInfoString(out, (*VARBITS(bits) & 0x80) ? "true" : "false");
				return;
			}
			break;
	}
	es_encode_value(out, info, value, opts);
}

/*
 * es_dbz_write_placeholder writes Debezium's placeholder for a value that
 * decoding does not carry (unchanged TOAST), in the column's own shape
 */
void
es_dbz_write_placeholder(StringInfo out, const EsTypeInfo *info,
						 const EsEncodeOptions *opts)
{
	if (info->kind == ES_KIND_BYTEA)
		write_binary(out, DBZ_UNAVAILABLE, strlen(DBZ_UNAVAILABLE), opts);
	else if (info->kind == ES_KIND_ARRAY)
		appendStringInfoString(out, "[\"" DBZ_UNAVAILABLE "\"]");
	else
		appendStringInfoString(out, "\"" DBZ_UNAVAILABLE "\"");
}
