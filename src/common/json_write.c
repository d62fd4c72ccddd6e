/*-------------------------------------------------------------------------
 *
 * json_write.c
 *	  Low-level JSON text writing: strings, numbers, LSNs, timestamps,
 *	  base64, validation and pretty-printing.
 *
 * Everything here appends to a caller's StringInfo and allocates nothing
 * else except short-lived scratch in the current memory context, which the
 * callers reset per change.  String escaping copies runs of characters that
 * need no escape in one memcpy: on typical data that is the hot path of the
 * whole output plugin.
 *
 * src/common/json_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/base64.h"
#include "common/jsonapi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "json_write.h"

/*
 * needs_escape[c] is non-zero for the bytes that cannot appear raw inside a
 * JSON string: the control characters, the quote and the backslash.  Bytes
 * of multibyte UTF-8 characters pass through unchanged.
 */
static const unsigned char needs_escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	/* the rest, 0x60 to 0xff, never needs an escape */
};

/* es_json_string appends s[0..len) as a quoted, escaped JSON string. */
void
es_json_string(StringInfo out, const char *s, int len)
{
	const char *run = s;
	const char *end = s + len;
	const char *p;

	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';

	for (p = s; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (likely(!needs_escape[c]))
			continue;

		if (p > run)
			appendBinaryStringInfo(out, run, p - run);
		run = p + 1;

		switch (c)
		{
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			default:
				appendStringInfo(out, "\\u%04x", c);
				break;
		}
	}
	if (end > run)
		appendBinaryStringInfo(out, run, end - run);
	appendStringInfoCharMacro(out, '"');
}

/* es_json_string_size is the length es_json_string writes for s[0..len) */
Size
es_json_string_size(const char *s, Size len)
{
	Size		size = len + 2;
	const char *end = s + len;

	for (; s < end; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (likely(!needs_escape[c]))
			continue;
		/* \" \\ \b \f \n \r \t, else \u00XX */
		size += (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' ||
				 c == '\r' || c == '\t') ? 1 : 5;
	}
	return size;
}

/* es_json_cstring appends a NUL-terminated string as a JSON string. */
void
es_json_cstring(StringInfo out, const char *s)
{
	es_json_string(out, s, strlen(s));
}

/*
 * es_json_embed appends text that is already valid JSON (a json datum, a
 * message that parsed as JSON).  Raw line breaks can only be insignificant
 * white space in valid JSON, so they become blanks: one event stays one
 * line for line-oriented consumers such as pg_recvlogical -f.  White space
 * around the document is dropped.
 */
void
es_json_embed(StringInfo out, const char *json, int len)
{
	int			start;
	int			i;

	/* leading and trailing white space says nothing */
	while (len > 0 && isspace((unsigned char) json[0]))
	{
		json++;
		len--;
	}
	while (len > 0 && isspace((unsigned char) json[len - 1]))
		len--;

	start = out->len;
	appendBinaryStringInfo(out, json, len);
	for (i = start; i < out->len; i++)
	{
		if (out->data[i] == '\n' || out->data[i] == '\r')
			out->data[i] = ' ';
	}
}

/* es_json_base64 appends binary data as a quoted base64 string. */
void
es_json_base64(StringInfo out, const char *data, int len)
{
	int			enclen = pg_b64_enc_len(len);
	int			written;

	enlargeStringInfo(out, enclen + 2);
	out->data[out->len++] = '"';
	written = pg_b64_encode(data, len, out->data + out->len, enclen);
	if (written < 0)
		elog(ERROR, "could not encode %d bytes as base64", len);
	out->len += written;
	out->data[out->len++] = '"';
	out->data[out->len] = '\0';
}

/* write v in upper-case hex without leading zeros; returns the length */
static int
format_hex(char *buf, uint32 v)
{
	static const char hex[] = "0123456789ABCDEF";
	char		tmp[8];
	int			n = 0;
	int			i;

	do
	{
		tmp[n++] = hex[v & 0xF];
		v >>= 4;
	} while (v != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/*
 * es_json_lsn_text appends an LSN in PostgreSQL's text form, "0/16B37C0",
 * unquoted: for strings made of several parts
 */
void
es_json_lsn_text(StringInfo out, XLogRecPtr lsn)
{
	char	   *p;

	enlargeStringInfo(out, 18);
	p = out->data + out->len;
	p += format_hex(p, (uint32) (lsn >> 32));
	*p++ = '/';
	p += format_hex(p, (uint32) lsn);
	*p = '\0';
	out->len = p - out->data;
}

/* es_json_lsn appends an LSN as a JSON string, "0/16B37C0". */
void
es_json_lsn(StringInfo out, XLogRecPtr lsn)
{
	appendStringInfoCharMacro(out, '"');
	es_json_lsn_text(out, lsn);
	appendStringInfoCharMacro(out, '"');
}

/* es_json_int64 appends a signed integer as a JSON number. */
void
es_json_int64(StringInfo out, int64 value)
{
	enlargeStringInfo(out, MAXINT8LEN + 1);
	out->len += pg_lltoa(value, out->data + out->len);
}

/* es_json_uint64 appends an unsigned integer as a JSON number. */
void
es_json_uint64(StringInfo out, uint64 value)
{
	enlargeStringInfo(out, MAXINT8LEN + 1);
	out->len += pg_ulltoa_n(value, out->data + out->len);
	out->data[out->len] = '\0';
}

/* write value as exactly ndigits decimal digits, zero-padded */
static inline char *
put_digits(char *p, int value, int ndigits)
{
	int			i;

	for (i = ndigits - 1; i >= 0; i--)
	{
		p[i] = '0' + value % 10;
		value /= 10;
	}
	return p + ndigits;
}

/*
 * Format the date part of tm as ISO 8601, "2026-11-24".  Years before 1 AD
 * use astronomical numbering as ISO 8601 does (1 BC is 0000, 44 BC is
 * -0043); PostgreSQL's own output appends " BC" instead, which is not ISO.
 */
static int
format_iso_date(char *buf, const struct pg_tm *tm)
{
	char	   *p = buf;
	int			year = tm->tm_year;

	if (year < 0)
	{
		*p++ = '-';
		year = -year;
	}
	if (year > 9999)
		p += pg_ultoa_n((uint32) year, p);
	else
		p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, tm->tm_mon, 2);
	*p++ = '-';
	p = put_digits(p, tm->tm_mday, 2);
	*p = '\0';
	return p - buf;
}

/*
 * es_json_date appends a date as "2026-11-24"; infinite dates become
 * "infinity" and "-infinity".
 */
void
es_json_date(StringInfo out, DateADT date)
{
	char		buf[MAXDATELEN + 1];
	struct pg_tm tm;

	if (DATE_NOT_FINITE(date))
		EncodeSpecialDate(date, buf);
	else
	{
		j2date(date + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon,
			   &tm.tm_mday);
		format_iso_date(buf, &tm);
	}
	es_json_cstring(out, buf);
}

/*
 * es_json_timestamp appends a timestamp in ISO 8601 form,
 * "2026-11-24T08:49:33.905123", with a "Z" when utc is set (timestamptz
 * values are always written in UTC, whatever the session's TimeZone).
 * Fractional seconds lose their trailing zeros, as in PostgreSQL's output.
 * Infinite values become "infinity" and "-infinity".
 */
void
es_json_timestamp(StringInfo out, Timestamp ts, bool utc)
{
	char		buf[MAXDATELEN + 2];
	struct pg_tm tm;
	fsec_t		fsec;
	char	   *p;
	int			len;

	if (TIMESTAMP_NOT_FINITE(ts))
	{
		EncodeSpecialTimestamp(ts, buf);
		es_json_cstring(out, buf);
		return;
	}
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));

	/* timestamp2tm numbers years before 1 AD from 0 downwards already */
	p = buf + format_iso_date(buf, &tm);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	if (fsec != 0)
	{
		*p++ = '.';
		p = put_digits(p, fsec, 6);
		while (p[-1] == '0')
			p--;
	}
	if (utc)
		*p++ = 'Z';
	len = p - buf;

	appendStringInfoCharMacro(out, '"');
	appendBinaryStringInfo(out, buf, len);
	appendStringInfoCharMacro(out, '"');
}

/* es_json_is_valid tells whether s[0..len) is one valid JSON document. */
bool
es_json_is_valid(const char *s, int len)
{
	JsonLexContext *lex;

	/* the JSON lexer expects text in the database encoding, without NULs */
	if (memchr(s, '\0', len) != NULL ||
		!pg_verifymbstr(s, len, true))
		return false;

	lex = makeJsonLexContextCstringLen((char *) s, len,
									   GetDatabaseEncoding(), false);
	return pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

/* append a newline and the indentation of the given depth */
static void
pretty_newline(StringInfo out, int depth)
{
	appendStringInfoCharMacro(out, '\n');
	appendStringInfoSpaces(out, depth * 2);
}

/*
 * es_json_pretty appends a compact JSON document re-indented, two spaces a
 * level, one member a line.  It only tracks whether it is inside a string,
 * so it is linear and allocation-free; the input must be valid JSON.
 */
void
es_json_pretty(StringInfo out, const char *json, int len)
{
	int			depth = 0;
	bool		in_string = false;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = json[i];

		if (in_string)
		{
			appendStringInfoCharMacro(out, c);
			if (c == '\\' && i + 1 < len)
				appendStringInfoCharMacro(out, json[++i]);
			else if (c == '"')
				in_string = false;
			continue;
		}

		switch (c)
		{
			case '"':
				in_string = true;
				appendStringInfoCharMacro(out, c);
				break;
			case '{':
			case '[':
				appendStringInfoCharMacro(out, c);
				/* keep empty containers on one line */
				if (i + 1 < len && (json[i + 1] == '}' || json[i + 1] == ']'))
					appendStringInfoCharMacro(out, json[++i]);
				else
					pretty_newline(out, ++depth);
				break;
			case '}':
			case ']':
				pretty_newline(out, --depth);
				appendStringInfoCharMacro(out, c);
				break;
			case ',':
				appendStringInfoCharMacro(out, c);
				pretty_newline(out, depth);
				break;
			case ':':
				appendBinaryStringInfo(out, ": ", 2);
				break;
			case ' ':
			case '\t':
			case '\n':
			case '\r':
				break;
			default:
				appendStringInfoCharMacro(out, c);
				break;
		}
	}
}

/* a jsonb scalar, compact */
static void
write_jsonb_scalar(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(out, "null");
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvString:
			es_json_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			appendStringInfoString(out,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric))));
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * es_json_jsonb appends a jsonb document as compact JSON text: no blanks
 * between tokens (jsonb's own output puts one after each ":" and ","), so
 * equal documents are equal bytes -- what a message key needs.
 */
void
es_json_jsonb(StringInfo out, Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		comma = false;
	bool		raw_scalar = JB_ROOT_IS_SCALAR(jb);

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
			case WJB_BEGIN_OBJECT:
				if (raw_scalar)
					break;
				if (comma)
					appendStringInfoCharMacro(out, ',');
				appendStringInfoCharMacro(out, tok == WJB_BEGIN_ARRAY ? '[' : '{');
				comma = false;
				break;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				if (raw_scalar)
					break;
				appendStringInfoCharMacro(out, tok == WJB_END_ARRAY ? ']' : '}');
				comma = true;
				break;
			case WJB_KEY:
				if (comma)
					appendStringInfoCharMacro(out, ',');
				write_jsonb_scalar(out, &v);
				appendStringInfoCharMacro(out, ':');
				comma = false;
				break;
			case WJB_ELEM:
				if (comma)
					appendStringInfoCharMacro(out, ',');
				/* FALLTHROUGH */
			case WJB_VALUE:
				write_jsonb_scalar(out, &v);
				comma = true;
				break;
			default:
				break;
		}
	}
}
