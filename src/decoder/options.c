/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Parse the options a client passes to the pg_eventstream plugin.
 *
 * Options arrive as a list of DefElems (pg_logical_slot_get_changes'
 * variadic pairs, or START_REPLICATION's option list).  Each one is checked
 * here, at startup, so a typo fails at once with an error that names the
 * option and what it accepts instead of silently changing the output.
 *
 * src/decoder/options.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "decoder.h"

static const char *option_value(DefElem *elem);

/* the names of the options, for the error on an unknown one */
#define ES_OPTION_NAMES \
	"format, include-transaction, skip-empty-xacts, include-xids, " \
	"include-lsn, include-timestamp, include-schema, " \
	"include-changed-columns, tables, exclude-tables, operations, " \
	"messages, message-prefixes, only-local, publish-via-root, " \
	"numeric-as-string, pretty, stream-changes, two-phase, source, type-prefix, " \
	"time.precision.mode, decimal.handling.mode, interval.handling.mode, " \
	"binary.handling.mode, tombstones.on.delete"

/* parse a boolean option; a bare option name means true */
static bool
bool_option(DefElem *elem)
{
	bool		result;

	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for option \"%s\"",
						strVal(elem->arg), elem->defname),
				 errhint("Valid values are true and false.")));
	return result;
}

/*
 * one of a fixed set of words: the index of the option's value in words
 * (NULL-terminated), or an error that lists them
 */
static int
enum_option(DefElem *elem, const char *const *words, const char *valid)
{
	const char *v = option_value(elem);
	int			i;

	for (i = 0; words[i] != NULL; i++)
	{
		if (strcmp(v, words[i]) == 0)
			return i;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value \"%s\" for option \"%s\"", v, elem->defname),
			 errhint("Valid values are %s.", valid)));
	return 0;					/* keep compiler quiet */
}

/* the value of an option that needs one */
static const char *
option_value(DefElem *elem)
{
	if (elem->arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" requires a value", elem->defname)));
	return strVal(elem->arg);
}

/* split a comma-separated list of plain words, trimming blanks */
static List *
word_list(DefElem *elem)
{
	char	   *raw = pstrdup(option_value(elem));
	List	   *words = NIL;

	if (!SplitGUCList(raw, ',', &words))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in option \"%s\"", elem->defname)));
	return words;
}

static int
operations_option(DefElem *elem)
{
	List	   *words = word_list(elem);
	ListCell   *lc;
	int			mask = 0;

	foreach(lc, words)
	{
		const char *w = lfirst(lc);

		int			op = es_operation_mask(w);

		if (op != 0)
			mask |= op;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value \"%s\" in option \"%s\"",
							w, elem->defname),
					 errhint("Valid values are insert, update, delete and truncate.")));
	}
	return mask;
}

/*
 * es_parse_options fills opts from the client's option list, with the
 * defaults of SPEC.md for what the client left out.
 */
void
es_parse_options(EsOptions *opts, List *options)
{
	ListCell   *lc;

	memset(opts, 0, sizeof(EsOptions));
	opts->format = es_format_default();
	opts->skip_empty_xacts = true;
	opts->include_xids = true;
	opts->include_lsn = true;
	opts->include_timestamp = true;
	opts->operations = ES_OP_ALL;
	opts->messages = true;
	opts->type_prefix = "eventstream";

	foreach(lc, options)
	{
		DefElem    *elem = lfirst(lc);
		const char *name = elem->defname;
		ListCell   *prev;

		Assert(elem->arg == NULL || IsA(elem->arg, String));
		/* a repeated option: which one was meant? */
		foreach(prev, options)
		{
			if (prev == lc)
				break;
			if (strcmp(lfirst_node(DefElem, prev)->defname, name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" is given more than once", name)));
		}

		if (strcmp(name, "format") == 0)
			opts->format = es_format_lookup(elem->defname, option_value(elem));
		else if (strcmp(name, "include-transaction") == 0)
			opts->include_transaction = bool_option(elem);
		else if (strcmp(name, "skip-empty-xacts") == 0)
			opts->skip_empty_xacts = bool_option(elem);
		else if (strcmp(name, "include-xids") == 0)
			opts->include_xids = bool_option(elem);
		else if (strcmp(name, "include-lsn") == 0)
			opts->include_lsn = bool_option(elem);
		else if (strcmp(name, "include-timestamp") == 0)
			opts->include_timestamp = bool_option(elem);
		else if (strcmp(name, "include-schema") == 0)
			opts->include_schema = bool_option(elem);
		else if (strcmp(name, "include-changed-columns") == 0)
			opts->include_changed_columns = bool_option(elem);
		else if (strcmp(name, "tables") == 0)
		{
			opts->tables = es_parse_table_patterns(name, option_value(elem));
			if (opts->tables == NIL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must name at least one table pattern", name),
						 errhint("Leave the option out to decode every table.")));
		}
		else if (strcmp(name, "exclude-tables") == 0)
			opts->exclude_tables = es_parse_table_patterns(name,
														   option_value(elem));
		else if (strcmp(name, "operations") == 0)
			opts->operations = operations_option(elem);
		else if (strcmp(name, "messages") == 0)
			opts->messages = bool_option(elem);
		else if (strcmp(name, "message-prefixes") == 0)
			opts->message_prefixes = word_list(elem);
		else if (strcmp(name, "only-local") == 0)
			opts->only_local = bool_option(elem);
		else if (strcmp(name, "publish-via-root") == 0)
			opts->publish_via_root = bool_option(elem);
		else if (strcmp(name, "numeric-as-string") == 0)
			opts->encode.numeric_as_string = bool_option(elem);
		else if (strcmp(name, "pretty") == 0)
			opts->pretty = bool_option(elem);
		else if (strcmp(name, "stream-changes") == 0)
			opts->stream_changes = bool_option(elem);
		else if (strcmp(name, "two-phase") == 0)
			opts->two_phase = bool_option(elem);
		else if (strcmp(name, "source") == 0)
		{
			opts->source = pstrdup(option_value(elem));
			es_cloudevents_check_source(opts->source);
		}
		else if (strcmp(name, "time.precision.mode") == 0)
		{
			static const char *const w[] = {"adaptive", "adaptive_time_microseconds", "connect", NULL};

			opts->encode.dbz_time_precision = enum_option(elem, w,
														  "adaptive, adaptive_time_microseconds and connect");
		}
		else if (strcmp(name, "decimal.handling.mode") == 0)
		{
			static const char *const w[] = {"precise", "double", "string", NULL};

			opts->encode.dbz_decimal = enum_option(elem, w, "precise, double and string");
		}
		else if (strcmp(name, "interval.handling.mode") == 0)
		{
			static const char *const w[] = {"numeric", "string", NULL};

			opts->encode.dbz_interval_string = enum_option(elem, w, "numeric and string") == 1;
		}
		else if (strcmp(name, "binary.handling.mode") == 0)
		{
			static const char *const w[] = {"bytes", "base64", "base64-url-safe", "hex", NULL};
			static const EsDbzBinary modes[] = {ES_DBZ_BINARY_BASE64, ES_DBZ_BINARY_BASE64,
			ES_DBZ_BINARY_BASE64_URL, ES_DBZ_BINARY_HEX};

			opts->encode.dbz_binary = modes[enum_option(elem, w,
														"bytes, base64, base64-url-safe and hex")];
		}
		else if (strcmp(name, "tombstones.on.delete") == 0)
			opts->dbz_tombstones = bool_option(elem);
		else if (strcmp(name, "type-prefix") == 0)
		{
			opts->type_prefix = pstrdup(option_value(elem));
			if (opts->type_prefix[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must not be empty", name)));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\" for output plugin \"pg_eventstream\"",
							name),
					 errhint("Valid options are: %s.", ES_OPTION_NAMES)));
	}

	if (opts->operations == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"operations\" must name at least one operation")));
	if (opts->stream_changes && opts->format->committed_only)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"stream-changes\" cannot be used with format \"%s\"",
						opts->format->name),
				 errdetail("Its event ids come from the commit, so that a redelivered event has the same id; streamed changes are sent before their commit."),
				 errhint("Leave stream-changes off: large transactions then spill to disk until they commit.")));
}
