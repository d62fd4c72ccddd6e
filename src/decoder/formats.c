/*-------------------------------------------------------------------------
 *
 * formats.c
 *	  The table of output formats: the values of the "format" option and
 *	  the functions that write an event in each.
 *
 * A format is a name, an optional startup that prepares what stays the
 * same for the whole session, a writer of one event as one JSON document
 * (format_native.c, format_debezium.c, format_cloudevents.c), and, where
 * its values differ from the native encoding, its own value encoder
 * (debezium_values.c).  A
 * new format is one more entry here and its file.
 *
 * src/decoder/formats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "decoder.h"

static const EsFormatRoutine formats[] = {
	{"json", false, NULL, es_format_native, NULL, NULL},
	{"debezium", false, es_format_debezium_init, es_format_debezium,
	es_dbz_encode_value, es_dbz_write_placeholder},
	{"cloudevents", true, es_format_cloudevents_init, es_format_cloudevents, NULL, NULL},
};

/* es_format_default is the format of the plugin when none is asked for */
const EsFormatRoutine *
es_format_default(void)
{
	return &formats[0];
}

/*
 * es_format_lookup returns the format of this name; an error that lists
 * the valid ones names the option.
 */
const EsFormatRoutine *
es_format_lookup(const char *option, const char *name)
{
	StringInfoData valid;
	int			i;

	for (i = 0; i < lengthof(formats); i++)
	{
		if (strcmp(formats[i].name, name) == 0)
			return &formats[i];
	}
	initStringInfo(&valid);
	for (i = 0; i < lengthof(formats); i++)
		appendStringInfo(&valid, "%s%s", i == 0 ? "" :
						 i == lengthof(formats) - 1 ? " and " : ", ",
						 formats[i].name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value \"%s\" for option \"%s\"", name, option),
			 errhint("Valid values are %s.", valid.data)));
	return NULL;				/* keep compiler quiet */
}
