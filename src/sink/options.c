/*-------------------------------------------------------------------------
 *
 * options.c
 *	  A sink's options: parsed and checked in one place, by create_sink and
 *	  alter_sink (an ERROR naming the option, before anything is written)
 *	  and by the sink worker when it loads the sink.
 *
 *	  Both kinds:
 *	  format		json (the columns of eventstream.event), debezium or
 *					cloudevents (default json)
 *	  retry_schedule	intervals before the 2nd, 3rd, ... attempt
 *	  webhook:
 *	  url			http:// or https://, to a host eventstream.sink_allowed_hosts
 *					allows (required)
 *	  secret		whsec_<base64 of 24 to 64 bytes>: requests are signed
 *	  previous_secret	the secret being replaced: while it is set, requests
 *					carry two signatures (Standard Webhooks' rotation)
 *	  batch_size	events per request, 1 to 10000 (default 1)
 *	  max_bytes		bytes of a request's body, at most (default 1 MB); an
 *					event larger on its own goes to dead letters
 *	  gzip			bodies compressed, Content-Encoding: gzip (default false)
 *	  concurrency	partitions delivered at once, 1 to 64 (default 1)
 *	  timeout		per request, an interval or milliseconds (default 10 s)
 *	  max_attempts	before the events go to dead letters (default 8)
 *	  max_age		how long a batch may keep failing before it goes to dead
 *					letters, whatever its attempts (default: no limit)
 *	  headers		an object of extra header names and values
 *	  kafka:
 *	  brokers		host:port[,host:port...] (required; hosts allowed as above)
 *	  topic			a template of {stream}, {schema}, {table} (required)
 *	  tombstones	a null-valued message after each delete (default false)
 *	  config		librdkafka properties, checked by librdkafka; those that
 *					name files, libraries or commands are for superusers
 *
 * src/sink/options.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "../pg_eventstream.h"
#include "kafka.h"
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
	char	   *host;

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
		host = pnstrdup(p + 1, end - p - 1);
	}
	else
	{
		end = p + strcspn(p, ":/?#");
		host = pnstrdup(p, end - p);
	}
	if (host[0] == '\0' || strchr(host, '@') != NULL)
		bad_option("url", "The URL must name a host, without credentials.");
	opts->hosts = list_make1(host);
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

/* brokers: host:port, separated by commas; their hosts */
static void
parse_brokers(EsSinkOptions *opts, const char *brokers)
{
	char	   *raw = pstrdup(brokers);
	char	   *tok;
	char	   *save;

	if (strpbrk(brokers, " \t\r\n") != NULL)
		bad_option("brokers", "It is host:port[,host:port...], without blanks.");
	for (tok = strtok_r(raw, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
	{
		char	   *colon = strrchr(tok, ':');
		char	   *host;

		if (strstr(tok, "://") != NULL)
			tok = strstr(tok, "://") + 3;
		colon = strrchr(tok, ':');
		if (colon == NULL || colon == tok || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
			colon[1] == '\0')
			bad_option("brokers", psprintf("\"%s\" is not host:port.", tok));
		host = pnstrdup(tok, colon - tok);
		if (host[0] == '[' && host[strlen(host) - 1] == ']')
			host = pnstrdup(host + 1, strlen(host) - 2);
		opts->hosts = lappend(opts->hosts, host);
	}
	if (opts->hosts == NIL)
		bad_option("brokers", "It names no broker.");
	opts->brokers = pstrdup(brokers);
}

/* topic: a template; what it makes is checked when an event names it */
static void
parse_topic(EsSinkOptions *opts, const char *topic)
{
	const char *c;

	for (c = topic; *c; c++)
	{
		if (*c == '{')
		{
			if (strncmp(c, "{stream}", 8) != 0 && strncmp(c, "{schema}", 8) != 0 &&
				strncmp(c, "{table}", 7) != 0)
				bad_option("topic", "Its placeholders are {stream}, {schema} and {table}.");
			c = strchr(c, '}');
		}
		else if (!isalnum((unsigned char) *c) && *c != '.' && *c != '_' && *c != '-')
			bad_option("topic", "A topic name has letters, digits, \".\", \"_\" and \"-\".");
	}
	if (topic[0] == '\0' || strlen(topic) > 200)
		bad_option("topic", "It must be 1 to 200 characters.");
	opts->topic = pstrdup(topic);
}

/*
 * Properties of librdkafka that name a file, a library or a command: the
 * sink worker would read or run them with the server's rights, so only a
 * superuser's sink sets them.  Those the sink sets itself are refused.
 */
static bool
property_is_privileged(const char *name)
{
	return strstr(name, ".location") != NULL || strstr(name, "plugin") != NULL ||
		strstr(name, "kinit") != NULL || strstr(name, "keytab") != NULL ||
		strstr(name, "engine") != NULL || strstr(name, ".config") != NULL ||
		strstr(name, "oidc") != NULL || strstr(name, "oauthbearer") != NULL;
}

static void
parse_config(EsSinkOptions *opts, JsonbValue *v, Oid owner)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	val;
	char		errbuf[512];

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_option("config", "It must be an object of librdkafka property names and values.");
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *name;
		char	   *value;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&it, &val, true);
		if (val.type == jbvString)
			value = pnstrdup(val.val.string.val, val.val.string.len);
		else if (val.type == jbvNumeric)
			value = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(val.val.numeric)));
		else if (val.type == jbvBool)
			value = val.val.boolean ? "true" : "false";
		else
			bad_option("config", psprintf("Property \"%s\" must be a string, number or boolean.", name));
		if (strcmp(name, "bootstrap.servers") == 0 || strcmp(name, "metadata.broker.list") == 0 ||
			strcmp(name, "enable.idempotence") == 0 || strcmp(name, "transactional.id") == 0 ||
			strcmp(name, "log.queue") == 0 || strcmp(name, "enable.gapless.guarantee") == 0 ||
			strcmp(name, "acks") == 0 || strcmp(name, "request.required.acks") == 0)
			bad_option("config", psprintf("The sink sets property \"%s\" itself (brokers: the \"brokers\" option; acks: all, as idempotence needs).", name));
		if (property_is_privileged(name) && OidIsValid(owner) && !superuser_arg(owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only a superuser's sink may set librdkafka property \"%s\"", name),
					 errdetail("It names a file, a library or a command, used with the server's rights.")));
		opts->config = lappend(opts->config, name);
		opts->config = lappend(opts->config, value);
	}
	if (!es_kafka_check_config(opts->config, errbuf, sizeof(errbuf)))
		bad_option("config", errbuf);
}

/*
 * es_sink_host_refused is the first of hosts eventstream.sink_allowed_hosts
 * does not list, or NULL (an empty setting allows every host)
 */
const char *
es_sink_host_refused(List *hosts)
{
	char	   *raw;
	List	   *allowed;
	ListCell   *lc;
	ListCell   *la;

	if (es_sink_allowed_hosts == NULL || es_sink_allowed_hosts[0] == '\0')
		return NULL;
	raw = pstrdup(es_sink_allowed_hosts);
	if (!SplitIdentifierString(raw, ',', &allowed))
		return hosts != NIL ? linitial(hosts) : NULL;
	foreach(lc, hosts)
	{
		bool		found = false;

		foreach(la, allowed)
		{
			if (pg_strcasecmp(lfirst(la), lfirst(lc)) == 0)
				found = true;
		}
		if (!found)
			return lfirst(lc);
	}
	return NULL;
}

/* es_sink_kind is a sink kind by name: an ERROR for an unknown one */
EsSinkKind
es_sink_kind(const char *kind)
{
	if (strcmp(kind, "webhook") == 0)
		return ES_SINK_WEBHOOK;
	if (strcmp(kind, "kafka") == 0)
		return ES_SINK_KAFKA;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown sink kind \"%s\"", kind),
			 errhint("Sink kinds are webhook and kafka.")));
	return ES_SINK_WEBHOOK;
}

static EsSinkFormat
parse_format(const char *format)
{
	if (strcmp(format, "json") == 0)
		return ES_SINK_JSON;
	if (strcmp(format, "debezium") == 0)
		return ES_SINK_DEBEZIUM;
	if (strcmp(format, "cloudevents") == 0)
		return ES_SINK_CLOUDEVENTS;
	bad_option("format", "Formats are json, debezium and cloudevents.");
	return ES_SINK_JSON;
}

/* one webhook option; false if name is none */
static bool
webhook_option(EsSinkOptions *opts, const char *name, JsonbValue *v)
{
	if (strcmp(name, "url") == 0)
		parse_url(opts, string_value(name, v));
	else if (strcmp(name, "secret") == 0)
		parse_secret(opts, string_value(name, v));
	else if (strcmp(name, "batch_size") == 0)
		opts->batch_size = int_value(name, v, 1, 10000);
	else if (strcmp(name, "max_bytes") == 0)
		opts->max_bytes = int_value(name, v, 1024, 256 * 1024 * 1024);
	else if (strcmp(name, "gzip") == 0)
	{
		if (v->type != jbvBool)
			bad_option(name, "It must be true or false.");
		opts->gzip = v->val.boolean;
	}
	else if (strcmp(name, "concurrency") == 0)
		opts->concurrency = int_value(name, v, 1, 64);
	else if (strcmp(name, "timeout") == 0)
		opts->timeout_ms = duration_value(name, v, 1, 300000);
	else if (strcmp(name, "max_attempts") == 0)
		opts->max_attempts = int_value(name, v, 1, 100);
	else if (strcmp(name, "max_age") == 0)
		opts->max_age_ms = duration_value(name, v, 1000, 7 * 24 * 3600 * 1000);
	else if (strcmp(name, "previous_secret") == 0)
		opts->previous_secret_len = es_sink_decode_secret(string_value(name, v),
														  opts->previous_secret);
	else if (strcmp(name, "headers") == 0)
		parse_headers(opts, v);
	else
		return false;
	return true;
}

/* one kafka option; false if name is none */
static bool
kafka_option(EsSinkOptions *opts, const char *name, JsonbValue *v, Oid owner)
{
	if (strcmp(name, "brokers") == 0)
		parse_brokers(opts, string_value(name, v));
	else if (strcmp(name, "topic") == 0)
		parse_topic(opts, string_value(name, v));
	else if (strcmp(name, "tombstones") == 0)
	{
		if (v->type != jbvBool)
			bad_option(name, "It must be true or false.");
		opts->tombstones = v->val.boolean;
	}
	else if (strcmp(name, "config") == 0)
		parse_config(opts, v, owner);
	else
		return false;
	return true;
}

/*
 * es_sink_parse_options fills opts from the options of a sink of a kind,
 * with the defaults; an ERROR names the first bad or unknown option, and,
 * if require_host_allowed, a host eventstream.sink_allowed_hosts does not
 * list.  owner: the sink's (some properties are a superuser's).
 */
void
es_sink_parse_options(EsSinkKind kind, Jsonb *options, EsSinkOptions *opts,
					  Oid owner, bool require_host_allowed)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	JsonbValue	v;
	const char *refused;

	memset(opts, 0, sizeof(EsSinkOptions));
	opts->kind = kind;
	opts->format = ES_SINK_JSON;
	opts->batch_size = 1;
	opts->max_bytes = 1024 * 1024;
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
		bool		known;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		known = true;
		if (strcmp(name, "format") == 0)
			opts->format = parse_format(string_value(name, &v));
		else if (strcmp(name, "retry_schedule") == 0)
			parse_schedule(opts, &v);
		else if (kind == ES_SINK_WEBHOOK)
			known = webhook_option(opts, name, &v);
		else
			known = kafka_option(opts, name, &v, owner);
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown sink option \"%s\"", name),
					 errhint(kind == ES_SINK_WEBHOOK ?
							 "Webhook sinks take url, secret, previous_secret, format, batch_size, max_bytes, gzip, concurrency, timeout, max_attempts, max_age, retry_schedule and headers." :
							 "Kafka sinks take brokers, topic, format, tombstones, config and retry_schedule.")));
	}
	if (kind == ES_SINK_WEBHOOK && opts->url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink option \"url\" is required")));
	if (opts->previous_secret_len > 0 && opts->secret_len == 0)
		bad_option("previous_secret", "It is the secret being replaced: set \"secret\" too.");
	if (kind == ES_SINK_KAFKA && (opts->brokers == NULL || opts->topic == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink option \"%s\" is required", opts->brokers == NULL ? "brokers" : "topic")));
	if (kind == ES_SINK_KAFKA)
		opts->concurrency = 1;	/* one ordered pipeline; librdkafka batches */
	if (require_host_allowed && (refused = es_sink_host_refused(opts->hosts)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("sinks may not send to host \"%s\"", refused),
				 errhint("eventstream.sink_allowed_hosts lists the hosts sinks may send to.")));
}
