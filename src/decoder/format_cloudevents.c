/*-------------------------------------------------------------------------
 *
 * format_cloudevents.c
 *	  format=cloudevents: CloudEvents 1.0 in structured JSON mode.
 *
 *	  {"specversion":"1.0","id":"<commit_lsn>:<seq>",
 *	   "source":"/postgresql/<database>","type":"eventstream.update",
 *	   "subject":"public.orders","time":"<commit time>",
 *	   "datacontenttype":"application/json","partitionkey":"{\"id\":1}",
 *	   "data":{"op":..,"schema":..,"table":..,"key":..,"old":..,"new":..}}
 *
 * "id" must be the same each time an event is delivered, so that a
 * consumer deduplicates by source and id: a change's id is its unique
 * (commit_lsn, seq); a begin or commit is "<commit_lsn>:begin" (or
 * ":commit"), a schema event "<commit_lsn>:schema:<lsn of its change>", a
 * non-transactional message "<lsn>:message".  Nothing is delivered before
 * its commit: stream-changes, whose events have no commit yet (and whose
 * positions in the transaction differ from the committed ones), is refused
 * with this format.  "source" is a URI-reference: the default is
 * /postgresql/<database> with the name percent-encoded, and the option is
 * checked.  "subject" is left out rather than empty.  "partitionkey" is
 * the compact JSON text of the row's key as it was (the old key of an
 * update that changes it), so equal keys partition alike.  "data" is the
 * native body without the transaction metadata.
 *
 * src/decoder/format_cloudevents.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "../common/json_write.h"
#include "decoder.h"

static void
write_id(StringInfo out, const EsEvent *ev)
{
	bool		committed = !XLogRecPtrIsInvalid(ev->commit_lsn);

	/* "<commit lsn>:<seq>", "<commit lsn>:schema:<lsn>" or "<lsn>:<op>" */
	appendStringInfoCharMacro(out, '"');
	es_json_lsn_text(out, committed ? ev->commit_lsn : ev->lsn);
	appendStringInfoCharMacro(out, ':');
	if (committed && ev->seq > 0)
		es_json_int64(out, ev->seq);
	else if (committed && ev->kind == ES_EV_SCHEMA)
	{
		appendBinaryStringInfo(out, "schema:", 7);
		es_json_lsn_text(out, ev->lsn);
	}
	else
		appendStringInfoString(out, es_event_op(ev->kind));
	appendStringInfoCharMacro(out, '"');
}

/* is c allowed, unescaped, in a URI-reference (RFC 3986)? */
static bool
uri_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@/?#[]", c) != NULL;
}

/*
 * es_cloudevents_check_source refuses a "source" that is not a non-empty
 * URI-reference: only the characters RFC 3986 allows, and "%" only as the
 * start of a percent-encoded byte
 */
void
es_cloudevents_check_source(const char *source)
{
	const char *p;

	for (p = source; *p != '\0'; p++)
	{
		if (*p == '%' && isxdigit((unsigned char) p[1]) &&
			isxdigit((unsigned char) p[2]))
			p += 2;
		else if (!uri_char(*p))
			break;
	}
	if (source[0] == '\0' || *p != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for option \"source\"", source),
				 errdetail("CloudEvents requires source to be a non-empty URI-reference."),
				 errhint("Percent-encode other characters, as in /postgresql/my%%20db.")));
}

/* path segment bytes as a URI allows them, others percent-encoded */
static void
append_percent_encoded(StringInfo buf, const char *s)
{
	for (; *s != '\0'; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c != '/' && c != '?' && c != '#' && c != '[' && c != ']' &&
			c != '%' && uri_char((char) c))
			appendStringInfoChar(buf, (char) c);
		else
			appendStringInfo(buf, "%%%02X", c);
	}
}

/*
 * es_cloudevents_default_source is the default "source" of a database's
 * events: /postgresql/<database>, percent-encoded (the sinks' too)
 */
char *
es_cloudevents_default_source(const char *database)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "/postgresql/");
	append_percent_encoded(&buf, database);
	return buf.data;
}

/*
 * es_format_cloudevents_init formats the "source" attribute and the start
 * of "type", the same for the whole session, once.
 */
void
es_format_cloudevents_init(EsDecodingData *data)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (data->opts.source == NULL)
		data->opts.source = es_cloudevents_default_source(data->database_name);
	appendStringInfoString(&buf, ",\"source\":");
	es_json_cstring(&buf, data->opts.source);
	appendStringInfoString(&buf, ",\"type\":");
	/* the prefix and a dot, as the start of a JSON string left open */
	es_json_cstring(&buf, psprintf("%s.", data->opts.type_prefix));
	buf.data[--buf.len] = '\0';
	data->ce_source_type = buf.data;
}

/* es_format_cloudevents writes one event as a CloudEvent */
void
es_format_cloudevents(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	EsOptions  *opts = &data->opts;

	appendStringInfoString(out, "{\"specversion\":\"1.0\",\"id\":");
	write_id(out, ev);

	/* ,"source":"..","type":"<prefix>.<op>" */
	appendStringInfoString(out, data->ce_source_type);
	appendStringInfoString(out, es_event_op(ev->kind));
	appendStringInfoCharMacro(out, '"');

	if (ev->rel != NULL)
	{
		appendStringInfoString(out, ",\"subject\":");
		appendStringInfoString(out, ev->rel->subject_json);
	}
	else if (ev->kind == ES_EV_MESSAGE && ev->prefix[0] != '\0')
	{
		/* (the spec forbids an empty subject) */
		appendStringInfoString(out, ",\"subject\":");
		es_json_cstring(out, ev->prefix);
	}

	if (opts->include_timestamp && ev->commit_time != 0)
	{
		appendStringInfoString(out, ",\"time\":");
		es_json_timestamp(out, ev->commit_time, true);
	}
	appendStringInfoString(out, ",\"datacontenttype\":\"application/json\"");

	if (ev->rel != NULL && ev->kind != ES_EV_TRUNCATE &&
		ev->kind != ES_EV_SCHEMA)
	{
		StringInfo	key = &data->scratch;

		/* the row's identity as it was: the old key of a key change */
		resetStringInfo(key);
		if (es_write_key(key, data, ev->rel,
						 ev->oldtuple ? ev->oldtuple : ev->newtuple,
						 ev->oldtuple ? ev->newtuple : NULL))
		{
			appendStringInfoString(out, ",\"partitionkey\":");
			es_json_string(out, key->data, key->len);
		}
	}

	appendStringInfoString(out, ",\"data\":");
	es_write_event_body(out, data, ev, false);
	appendStringInfoCharMacro(out, '}');
}
