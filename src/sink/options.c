/*-------------------------------------------------------------------------
 *
 * options.c
 *	  A sink's options: parsed and checked in one place, by create_sink and
 *	  alter_sink (an ERROR naming the option, before anything is written)
 *	  and by the sink worker when it loads the sink.
 *
 *	  url			http:// or https://, to a host eventstream.sink_allowed_hosts
 *					allows (required)
 *	  secret		whsec_<base64 of 24 to 64 bytes>: requests are signed
 *	  format		json (the columns of eventstream.event)
 *	  batch_size	events per request, 1 to 10000 (default 1)
 *	  concurrency	partitions delivered at once, 1 to 64 (default 1)
 *	  timeout		per request, an interval or milliseconds (default 10 s)
 *	  max_attempts	before the events go to dead letters (default 8)
 *	  retry_schedule	intervals before the 2nd, 3rd, ... attempt
 *	  headers		an object of extra header names and values
 *
 * src/sink/options.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "../pg_eventstream.h"
#include "sink.h"

/* the retry schedule of SPEC.md: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h */
static const int default_schedule_ms[] = {
	0, 5 * 1000, 5 * 60 * 1000, 30 * 60 * 1000, 2 * 3600 * 1000,
	5 * 3600 * 1000, 10 * 3600 * 1000, 10 * 3600 * 1000
};

static void
bad_option(const char *name, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for sink option \"%s\"", name),
			 errdetail("%s", detail)));
}

static char *
string_value(const char *name, JsonbValue *v)
{
	if (v->type != jbvString)
		bad_option(name, "It must be a string.");
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static int
int_value(const char *name, JsonbValue *v, int min, int max)
{
	int64		n;

	if (v->type != jbvNumeric)
		bad_option(name, "It must be a number.");
	n = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	if (n < min || n > max)
		bad_option(name, psprintf("It must be between %d and %d.", min, max));
	return (int) n;
}

/* an interval ("10 s") or a number of milliseconds, as milliseconds */
static int
duration_value(const char *name, JsonbValue *v, int min_ms, int max_ms)
{
	int64		ms;

	if (v->type == jbvNumeric)
		return int_value(name, v, min_ms, max_ms);
	if (v->type == jbvString)
	{
		char	   *s = string_value(name, v);
		Interval   *iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
															   CStringGetDatum(s),
															   ObjectIdGetDatum(InvalidOid),
															   Int32GetDatum(-1)));

		ms = iv->time / 1000 + (int64) iv->day * 86400000 +
			(int64) iv->month * 30 * 86400000;
		if (ms < min_ms || ms > max_ms)
			bad_option(name, psprintf("It must be between %d ms and %d ms.", min_ms, max_ms));
		return (int) ms;
	}
	bad_option(name, "It must be an interval such as \"10 s\", or milliseconds.");
	return 0;
}

/* url: http or https, a host, a path */
static void
parse_url(EsSinkOptions *opts, const char *url)
{
	const char *p;
	const char *end;

	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		bad_option("url", "A sink sends to an http:// or https:// URL.");
	if (strpbrk(url, " \t\r\n") != NULL)
		bad_option("url", "A URL has no blanks.");
	if (memchr(p, '@', strcspn(p, "/?#")) != NULL)
		bad_option("url", "The URL must name a host, without credentials.");
	if (*p == '[')
	{
		end = strchr(p, ']');
		if (end == NULL)
			bad_option("url", "An IPv6 host ends with ].");
		opts->host = pnstrdup(p + 1, end - p - 1);
	}
	else
	{
		end = p + strcspn(p, ":/?#");
		opts->host = pnstrdup(p, end - p);
	}
	if (opts->host[0] == '\0' || strchr(opts->host, '@') != NULL)
		bad_option("url", "The URL must name a host, without credentials.");
	opts->url = pstrdup(url);
}

/* secret: whsec_ and the base64 of 24 to 64 bytes, as Standard Webhooks has it */
static void
parse_secret(EsSinkOptions *opts, const char *secret)
{
	opts->secret_len = es_sink_decode_secret(secret, opts->secret);
}

/*
 * es_sink_decode_secret decodes a whsec_ secret into buf (64 bytes) and
 * returns its length; an ERROR if it is not one
 */
int
es_sink_decode_secret(const char *secret, uint8 *out)
{
	const char *b64;
	int			len;

	if (strncmp(secret, "whsec_", 6) != 0)
		bad_option("secret", "A secret is whsec_ followed by the base64 of 24 to 64 random bytes.");
	b64 = secret + 6;
	len = pg_b64_dec_len(strlen(b64));
	if (len > 64 + 3)
		bad_option("secret", "A secret is at most 64 bytes.");
	{
		char		buf[64 + 4];

		len = pg_b64_decode(b64, strlen(b64), buf, sizeof(buf));
		if (len < 24 || len > 64)
			bad_option("secret", "A secret is whsec_ followed by the base64 of 24 to 64 random bytes.");
		memcpy(out, buf, len);
	}
	return len;
}

/* headers: an object of names and string values; not ours to set */
static void
parse_headers(EsSinkOptions *opts, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	val;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_option("headers", "It must be an object of header names and values.");
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *name;
		char	   *value;
		const char *c;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&it, &val, true);
		value = string_value("headers", &val);
		for (c = name; *c; c++)
		{
			if (!isalnum((unsigned char) *c) && strchr("!#$%&'*+-.^_`|~", *c) == NULL)
				bad_option("headers", psprintf("\"%s\" is not a header name.", name));
		}
		if (name[0] == '\0' || pg_strncasecmp(name, "webhook-", 8) == 0 ||
			pg_strcasecmp(name, "content-type") == 0 ||
			pg_strcasecmp(name, "content-length") == 0 || pg_strcasecmp(name, "host") == 0)
			bad_option("headers", psprintf("The sink sets header \"%s\" itself.", name));
		if (strpbrk(value, "\r\n") != NULL)
			bad_option("headers", "A header value has no line breaks.");
		opts->headers = lappend(opts->headers, psprintf("%s: %s", name, value));
	}
}

static void
parse_schedule(EsSinkOptions *opts, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	e;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		bad_option("retry_schedule", "It must be an array of intervals.");
	opts->nschedule = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (opts->nschedule == ES_SINK_MAX_SCHEDULE)
			bad_option("retry_schedule", psprintf("It has at most %d steps.", ES_SINK_MAX_SCHEDULE));
		opts->schedule_ms[opts->nschedule++] =
			duration_value("retry_schedule", &e, 0, 7 * 24 * 3600 * 1000);
	}
	if (opts->nschedule == 0)
		bad_option("retry_schedule", "It needs at least one step.");
}

/*
 * es_sink_host_allowed tells whether eventstream.sink_allowed_hosts lists
 * host (an empty setting allows every host)
 */
bool
es_sink_host_allowed(const char *host)
{
	char	   *raw;
	List	   *hosts;
	ListCell   *lc;

	if (es_sink_allowed_hosts == NULL || es_sink_allowed_hosts[0] == '\0')
		return true;
	raw = pstrdup(es_sink_allowed_hosts);
	if (!SplitIdentifierString(raw, ',', &hosts))
		return false;
	foreach(lc, hosts)
	{
		if (pg_strcasecmp(lfirst(lc), host) == 0)
			return true;
	}
	return false;
}

/* es_sink_check_host is an ERROR unless the host is allowed */
static void
check_host(const char *host)
{
	if (es_sink_host_allowed(host))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("sinks may not send to host \"%s\"", host),
			 errhint("eventstream.sink_allowed_hosts lists the hosts sinks may send to.")));
}

/*
 * es_sink_parse_options fills opts from a sink's options, with the
 * defaults; an ERROR names the first bad or unknown option, and, if
 * require_host_allowed, a host eventstream.sink_allowed_hosts does not list
 */
void
es_sink_parse_options(Jsonb *options, EsSinkOptions *opts, bool require_host_allowed)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;

	memset(opts, 0, sizeof(EsSinkOptions));
	opts->batch_size = 1;
	opts->concurrency = 1;
	opts->timeout_ms = 10000;
	opts->max_attempts = lengthof(default_schedule_ms);
	opts->nschedule = lengthof(default_schedule_ms) - 1;
	memcpy(opts->schedule_ms, default_schedule_ms + 1, sizeof(int) * opts->nschedule);

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink options must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		if (strcmp(name, "url") == 0)
			parse_url(opts, string_value(name, &v));
		else if (strcmp(name, "secret") == 0)
			parse_secret(opts, string_value(name, &v));
		else if (strcmp(name, "format") == 0)
		{
			char	   *format = string_value(name, &v);

			if (strcmp(format, "json") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("sink format \"%s\" is not supported", format),
						 errhint("Webhook sinks send format json.")));
		}
		else if (strcmp(name, "batch_size") == 0)
			opts->batch_size = int_value(name, &v, 1, 10000);
		else if (strcmp(name, "concurrency") == 0)
			opts->concurrency = int_value(name, &v, 1, 64);
		else if (strcmp(name, "timeout") == 0)
			opts->timeout_ms = duration_value(name, &v, 1, 300000);
		else if (strcmp(name, "max_attempts") == 0)
			opts->max_attempts = int_value(name, &v, 1, 100);
		else if (strcmp(name, "retry_schedule") == 0)
			parse_schedule(opts, &v);
		else if (strcmp(name, "headers") == 0)
			parse_headers(opts, &v);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown sink option \"%s\"", name),
					 errhint("Valid options are url, secret, format, batch_size, concurrency, timeout, max_attempts, retry_schedule and headers.")));
	}
	if (opts->url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink option \"url\" is required")));
	if (require_host_allowed)
		check_host(opts->host);
}
