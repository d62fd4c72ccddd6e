/*-------------------------------------------------------------------------
 *
 * table_filter.c
 *	  The schema.table patterns of the "tables" and "exclude-tables" options.
 *
 * A pattern list is comma-separated; each pattern is schema.table where
 * either part may use '*' to match any run of characters ("public.*",
 * "*.orders", "sales.order_*").  A backslash makes the next character
 * literal, so "\," "\." "\*" and "\\" name tables whose names contain
 * those characters.  Blanks around a pattern are ignored.  Patterns are
 * parsed once at startup; matching runs once per relation, when the
 * relation cache entry is built, never per row.
 *
 * src/decoder/table_filter.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "decoder.h"

/* a pattern part being parsed: characters and per-character wildcard flags */
typedef struct PartBuf
{
	StringInfoData chars;
	bool	   *wild;
	int			wildsize;
} PartBuf;

static void
part_init(PartBuf *part)
{
	initStringInfo(&part->chars);
	part->wildsize = 16;
	part->wild = palloc0(part->wildsize * sizeof(bool));
}

static void
part_add(PartBuf *part, char c, bool wild)
{
	if (part->chars.len + 1 >= part->wildsize)
	{
		part->wild = repalloc(part->wild, part->wildsize * 2 * sizeof(bool));
		memset(part->wild + part->wildsize, 0, part->wildsize * sizeof(bool));
		part->wildsize *= 2;
	}
	part->wild[part->chars.len] = wild;
	appendStringInfoChar(&part->chars, c);
}

static void
bad_pattern(const char *option, const char *value, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid table pattern in option \"%s\": \"%s\"",
					option, value),
			 errdetail("%s", detail),
			 errhint("Write schema.table; \"*\" matches any characters, e.g. public.* or *.orders, and \"\\\" makes the next character literal.")));
}

/* finish one pattern: trim trailing blanks and check both parts exist */
static EsTablePattern *
finish_pattern(const char *option, const char *value,
			   PartBuf *schema, PartBuf *table, bool seen_dot)
{
	EsTablePattern *pat;

	if (!seen_dot)
		bad_pattern(option, value, "A pattern has no schema part.");
	if (schema->chars.len == 0 || table->chars.len == 0)
		bad_pattern(option, value, "A pattern has an empty schema or table part.");

	pat = palloc(sizeof(EsTablePattern));
	pat->schema = schema->chars.data;
	pat->schema_wild = schema->wild;
	pat->table = table->chars.data;
	pat->table_wild = table->wild;
	return pat;
}

/*
 * es_parse_table_patterns parses the value of option (for error messages)
 * into a list of EsTablePattern.
 */
List *
es_parse_table_patterns(const char *option, const char *value)
{
	List	   *result = NIL;
	PartBuf		schema;
	PartBuf		table;
	PartBuf    *cur;
	bool		seen_dot = false;
	bool		pending_blanks = false;
	const char *p;

	part_init(&schema);
	part_init(&table);
	cur = &schema;

	for (p = value;; p++)
	{
		char		c = *p;

		if (c == '\0' || c == ',')
		{
			/* an empty list, or blanks around commas, are fine */
			if (c == '\0' && result == NIL && !seen_dot &&
				schema.chars.len == 0)
				break;
			result = lappend(result,
							 finish_pattern(option, value, &schema, &table,
											seen_dot));
			if (c == '\0')
				break;
			part_init(&schema);
			part_init(&table);
			cur = &schema;
			seen_dot = false;
			pending_blanks = false;
			continue;
		}

		if (c == ' ' || c == '\t' || c == '\n')
		{
			/* blanks count only between non-blank characters of a part */
			if (cur->chars.len > 0)
				pending_blanks = true;
			continue;
		}
		if (pending_blanks)
		{
			bad_pattern(option, value, "Blanks inside a name must be escaped with \"\\\".");
		}

		if (c == '\\')
		{
			if (p[1] == '\0')
				bad_pattern(option, value, "The pattern ends with a lone \"\\\".");
			part_add(cur, *++p, false);
		}
		else if (c == '*')
			part_add(cur, '*', true);
		else if (c == '.')
		{
			if (seen_dot)
				bad_pattern(option, value, "A pattern has more than one unescaped \".\".");
			seen_dot = true;
			cur = &table;
		}
		else
			part_add(cur, c, false);
	}

	return result;
}

/* glob match of name against a pattern part with per-character wildcards */
static bool
part_matches(const char *pat, const bool *wild, const char *name)
{
	const char *star_pat = NULL;
	const bool *star_wild = NULL;
	const char *star_name = NULL;

	while (*name)
	{
		if (*pat && *wild)
		{
			/* remember the star and first try to match it with nothing */
			star_pat = ++pat;
			star_wild = ++wild;
			star_name = name;
		}
		else if (*pat && *pat == *name)
		{
			pat++;
			wild++;
			name++;
		}
		else if (star_pat)
		{
			/* let the last star swallow one more character */
			pat = star_pat;
			wild = star_wild;
			name = ++star_name;
		}
		else
			return false;
	}
	while (*pat && *wild)
	{
		pat++;
		wild++;
	}
	return *pat == '\0';
}

/* es_table_patterns_match tells whether schema.table matches any pattern */
bool
es_table_patterns_match(List *patterns, const char *schema, const char *table)
{
	ListCell   *lc;

	foreach(lc, patterns)
	{
		EsTablePattern *pat = lfirst(lc);

		if (part_matches(pat->schema, pat->schema_wild, schema) &&
			part_matches(pat->table, pat->table_wild, table))
			return true;
	}
	return false;
}

/*
 * es_table_patterns_name_schema tells whether a pattern names this schema
 * literally, without a wildcard in its schema part
 */
bool
es_table_patterns_name_schema(List *patterns, const char *schema)
{
	ListCell   *lc;

	foreach(lc, patterns)
	{
		EsTablePattern *pat = lfirst(lc);
		int			i;
		bool		wild = false;

		for (i = 0; pat->schema[i] != '\0'; i++)
			wild |= pat->schema_wild[i];
		if (!wild && strcmp(pat->schema, schema) == 0)
			return true;
	}
	return false;
}

/*
 * es_append_pattern_escaped writes a name as a pattern that matches just
 * it, for a "tables" option built from names
 */
void
es_append_pattern_escaped(StringInfo buf, const char *name)
{
	for (; *name; name++)
	{
		/* blanks too: the parser drops them around a pattern */
		if (*name == '\\' || *name == '*' || *name == '.' || *name == ',' ||
			*name == ' ' || *name == '\t' || *name == '\n' || *name == '\r')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *name);
	}
}
