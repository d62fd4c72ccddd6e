/*-------------------------------------------------------------------------
 *
 * row.c
 *	  Write a decoded tuple as a JSON object, and the key/old/new fields
 *	  that the native and CloudEvents formats share.
 *
 * A tuple is deformed once and each column written through its cached
 * EsColumn: the pre-escaped JSON key, then the value through the shared
 * value encoder.  Unchanged TOAST values of an update are never silently
 * dropped: they are either left out and named (native, CloudEvents) or
 * replaced by Debezium's placeholder.
 *
 * src/decoder/row.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heaptoast.h"
#include "mb/pg_wchar.h"
#include "utils/datum.h"

#include "../common/json_write.h"
#include "../common/value_jsonb.h"
#include "decoder.h"

#define DEBEZIUM_UNAVAILABLE_VALUE "__debezium_unavailable_value"
#define DEBEZIUM_UNAVAILABLE "\"" DEBEZIUM_UNAVAILABLE_VALUE "\""

/* a deformed tuple */
typedef struct EsRow
{
	Datum	   *values;
	bool	   *nulls;
} EsRow;

/* deform tuple into the relation's buffer number which (0 old, 1 new) */
static void
deform_row(EsRelInfo *rel, HeapTuple tuple, EsRow *row, int which)
{
	row->values = rel->values[which];
	row->nulls = rel->nulls[which];
	heap_deform_tuple(tuple, rel->desc, row->values, row->nulls);
}

static void write_row_from(StringInfo out, EsDecodingData *data, EsRelInfo *rel,
						   EsRow *row, EsRow *fallback, bool keys_only,
						   EsToastMode toast, StringInfo toast_names);

/* add a column, once, to the event's list of values left out as too large */
static void
note_oversized(EsDecodingData *data, const char *name)
{
	StringInfoData item;
	char	   *p;

	initStringInfo(&item);
	appendStringInfoCharMacro(&item, ',');
	es_json_cstring(&item, name);
	for (p = strstr(data->oversized.data, item.data); p != NULL;
		 p = strstr(p + 1, item.data))
	{
		if (p[item.len] == '\0' || p[item.len] == ',')
			break;				/* listed already (old and new) */
	}
	if (p == NULL)
		appendBinaryStringInfo(&data->oversized, item.data, item.len);
	pfree(item.data);
}

/* is column i of row an unchanged TOAST value that decoding cannot show? */
static inline bool
is_unchanged_toast(EsRelInfo *rel, EsRow *row, int i)
{
	return !row->nulls[i] &&
		es_datum_is_unchanged_toast(&rel->columns[i].type, row->values[i]);
}

/*
 * The row to read column i from: row, or fallback (if not NULL) where row
 * has an unchanged TOAST pointer and fallback the value
 */
static inline EsRow *
column_source(EsRelInfo *rel, EsRow *row, EsRow *fallback, int i)
{
	if (fallback != NULL && is_unchanged_toast(rel, row, i) &&
		!is_unchanged_toast(rel, fallback, i))
		return fallback;
	return row;
}

/*
 * Write row as {"col":value,...}.  keys_only limits it to the key columns.
 * Unchanged TOAST values are left out and their names appended to
 * toast_names (as ,"name" items; toast_names->data is NULL until the first)
 * or, in ES_TOAST_PLACEHOLDER mode, written as Debezium's placeholder.
 */
static void
write_row(StringInfo out, EsDecodingData *data, EsRelInfo *rel, EsRow *row,
		  bool keys_only, EsToastMode toast, StringInfo toast_names)
{
	write_row_from(out, data, rel, row, NULL, keys_only, toast, toast_names);
}

/*
 * The key of a change: the new row's key columns (the old row's for a
 * delete).  A key column whose value the new row does not carry -- stored
 * out of line and unchanged by an update -- is taken from the old key,
 * which the WAL then holds (PostgreSQL logs the old key whenever the key
 * has out-of-line values), so a key is never a placeholder.
 */
static void
write_key(StringInfo out, EsDecodingData *data, EsRelInfo *rel, EsRow *row,
		  EsRow *old)
{
	write_row_from(out, data, rel, row, old, true, ES_TOAST_PLACEHOLDER, NULL);
}

/*
 * write_row, where a column that row has as an unchanged TOAST value comes
 * from fallback if fallback has it (fallback may be NULL)
 */
static void
write_row_from(StringInfo out, EsDecodingData *data, EsRelInfo *rel, EsRow *row,
			   EsRow *fallback, bool keys_only, EsToastMode toast,
			   StringInfo toast_names)
{
	bool		first = true;
	int			i;

	appendStringInfoCharMacro(out, '{');
	for (i = 0; i < rel->natts; i++)
	{
		EsColumn   *col = &rel->columns[i];

		EsRow	   *from;

		if (col->name == NULL || (keys_only && !col->is_key))
			continue;

		from = column_source(rel, row, fallback, i);
		if (!from->nulls[i] && !is_unchanged_toast(rel, from, i) &&
			!es_value_fits(&col->type, from->values[i],
						   data->max_event_size > (Size) out->len + col->json_key_len ?
						   data->max_event_size - out->len - col->json_key_len : 0))
		{
			/* past what one event can hold: left out, and named once */
			note_oversized(data, col->name);
			continue;
		}
		if (is_unchanged_toast(rel, from, i) && toast == ES_TOAST_OMIT)
		{
			if (toast_names != NULL)
			{
				/* made on first use: most changes have no such column */
				if (toast_names->data == NULL)
					initStringInfo(toast_names);
				appendStringInfoCharMacro(toast_names, ',');
				es_json_cstring(toast_names, col->name);
			}
			continue;
		}

		if (!first)
			appendStringInfoCharMacro(out, ',');
		first = false;
		appendBinaryStringInfo(out, col->json_key, col->json_key_len);

		if (from->nulls[i])
			appendBinaryStringInfo(out, "null", 4);
		else if (is_unchanged_toast(rel, from, i))
		{
			if (data->opts.format->placeholder != NULL)
				data->opts.format->placeholder(out, &col->type, &data->opts.encode);
			else
				appendStringInfoString(out, DEBEZIUM_UNAVAILABLE);
		}
		else if (data->opts.format->encode != NULL)
			data->opts.format->encode(out, &col->type, from->values[i],
									  &data->opts.encode);
		else
		{
			es_encode_value(out, &col->type, from->values[i],
							&data->opts.encode);
			if (data->json_nulls != NULL &&
				(col->type.kind == ES_KIND_JSON || col->type.kind == ES_KIND_JSONB) &&
				es_value_is_json_null(&col->type, from->values[i]))
			{
				appendStringInfoCharMacro(data->json_nulls, ',');
				es_json_cstring(data->json_nulls, col->name);
			}
		}
	}
	appendStringInfoCharMacro(out, '}');
}

/*
 * es_write_row writes tuple as a JSON object, deforming it first; see
 * write_row.
 */
void
es_write_row(StringInfo out, EsDecodingData *data, EsRelInfo *rel,
			 HeapTuple tuple, bool keys_only, EsToastMode toast)
{
	EsRow		row;

	deform_row(rel, tuple, &row, 0);
	write_row(out, data, rel, &row, keys_only, toast, NULL);
}

/*
 * es_write_key writes the key columns of tuple as a JSON object, taking
 * from other (the change's other tuple, or NULL) a key value that tuple
 * carries only as an unchanged TOAST pointer; it returns false, writing
 * nothing, when the relation has no key.
 */
bool
es_write_key(StringInfo out, EsDecodingData *data, EsRelInfo *rel,
			 HeapTuple tuple, HeapTuple other)
{
	EsRow		row;
	EsRow		fallback;

	if (rel->nkeys == 0 || tuple == NULL)
		return false;
	deform_row(rel, tuple, &row, 0);
	if (other != NULL)
		deform_row(rel, other, &fallback, 1);
	write_key(out, data, rel, &row, other != NULL ? &fallback : NULL);
	return true;
}

/* did column i change between old and new? */
static bool
column_changed(EsRelInfo *rel, EsRow *old, EsRow *new, int i)
{
	EsTypeInfo *type = &rel->columns[i].type;

	if (is_unchanged_toast(rel, new, i))
		return false;
	if (old->nulls[i] || new->nulls[i])
		return old->nulls[i] != new->nulls[i];
	if (is_unchanged_toast(rel, old, i))
		return true;
	if (type->typlen == -1)
	{
		struct varlena *a = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(old->values[i]));
		struct varlena *b = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(new->values[i]));

		return VARSIZE_ANY_EXHDR(a) != VARSIZE_ANY_EXHDR(b) ||
			memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) != 0;
	}
	return !datumIsEqual(old->values[i], new->values[i],
						 type->typbyval, type->typlen);
}

/*
 * es_warn_oversized, after an event's rows are written, warns about values
 * left out because they were too large (data->oversized, which the writer
 * of the event empties first), naming the table and the LSN
 */
void
es_warn_oversized(EsDecodingData *data, const EsEvent *ev)
{
	if (data->oversized.len == 0)
		return;
	ereport(WARNING,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("pg_eventstream left values too large for one event out of a change of table \"%s.%s\"",
					ev->rel->schema_name, ev->rel->table_name),
			 errdetail("The change at %X/%X; columns left out: %s.",
					   LSN_FORMAT_ARGS(ev->lsn), data->oversized.data + 1),
			 errhint("An event is at most %zu MB of JSON.", data->max_event_size / (1024 * 1024))));
}

/*
 * es_key_changed tells whether an update changed a key column (a column
 * the new row carries only as unchanged TOAST did not change)
 */
bool
es_key_changed(EsRelInfo *rel, HeapTuple oldtuple, HeapTuple newtuple)
{
	EsRow		old;
	EsRow		new;
	int			i;

	if (rel->nkeys == 0 || oldtuple == NULL || newtuple == NULL)
		return false;
	deform_row(rel, oldtuple, &old, 0);
	deform_row(rel, newtuple, &new, 1);
	for (i = 0; i < rel->natts; i++)
	{
		if (rel->columns[i].name != NULL && rel->columns[i].is_key &&
			column_changed(rel, &old, &new, i))
			return true;
	}
	return false;
}

/* the key, old and new parts of a change event, and the rows they show */
typedef struct EsParts
{
	EsRow		old;
	EsRow		new;
	EsRow	   *key;			/* the key's row, or NULL: no key part */
	EsRow	   *key_fallback;	/* where the key's row lacks a value, or NULL */
	bool		show_old;		/* an old part ... */
	bool		old_keys_only;	/* ... of the key columns only */
	bool		show_new;
} EsParts;

/*
 * Deform the tuples of a change event and decide which parts it shows,
 * for every writer of them: the key from the new row (the old one's where
 * the new carries a key value only as unchanged TOAST), or from the old
 * row of a delete; the old row when the WAL has it -- a delete without
 * REPLICA IDENTITY FULL has only the key there, so its old row is not
 * shown (the key is), and an update's old key columns are.
 */
static void
parts_plan(const EsEvent *ev, EsParts *p)
{
	EsRelInfo  *rel = ev->rel;
	bool		have_old = ev->oldtuple != NULL;
	bool		have_new = ev->newtuple != NULL;

	if (have_old)
		deform_row(rel, ev->oldtuple, &p->old, 0);
	if (have_new)
		deform_row(rel, ev->newtuple, &p->new, 1);
	p->key = NULL;
	p->key_fallback = NULL;
	if (rel->nkeys > 0 && (have_new || have_old))
	{
		p->key = have_new ? &p->new : &p->old;
		p->key_fallback = have_new && have_old ? &p->old : NULL;
	}
	p->show_old = have_old &&
		(rel->identity == REPLICA_IDENTITY_FULL || ev->kind == ES_EV_UPDATE);
	p->old_keys_only = rel->identity != REPLICA_IDENTITY_FULL;
	p->show_new = have_new;
}

/*
 * es_write_row_parts writes the key, old and new parts of a change event
 * (as es_write_row_fields decides them) into separate buffers, for the
 * worker's event log; a part that the event does not have is left with
 * len -1.
 */
void
es_write_row_parts(EsDecodingData *data, const EsEvent *ev, StringInfo key,
				   StringInfo oldout, StringInfo newout)
{
	EsRelInfo  *rel = ev->rel;
	EsParts		p;

	parts_plan(ev, &p);
	resetStringInfo(&data->oversized);
	key->len = oldout->len = newout->len = -1;
	if (p.key != NULL)
	{
		key->len = 0;
		write_key(key, data, rel, p.key, p.key_fallback);
	}
	if (p.show_old)
	{
		oldout->len = 0;
		write_row(oldout, data, rel, &p.old, p.old_keys_only, ES_TOAST_OMIT, NULL);
	}
	if (p.show_new)
	{
		newout->len = 0;
		write_row(newout, data, rel, &p.new, false, ES_TOAST_OMIT, NULL);
	}
	es_warn_oversized(data, ev);
}

/*
 * Rows larger than this (the raw size of their variable-length values) are
 * written as text even where they could be built as jsonb: the text path
 * leaves out values too large for an event, and jsonb's own limits
 * (256 MB per container) are then checked by the parser, whose error the
 * worker can catch.  Far above any common row, so the fast path is the
 * usual one.
 */
#define ES_JSONB_DIRECT_MAX		(1024 * 1024)

/* is row small enough to be built as jsonb directly? */
static bool
row_fits_jsonb(EsRelInfo *rel, EsRow *row)
{
	Size		total = 0;
	int			i;

	for (i = 0; i < rel->natts; i++)
	{
		if (rel->columns[i].name == NULL || row->nulls[i] ||
			rel->columns[i].type.typlen != -1 || is_unchanged_toast(rel, row, i))
			continue;
		total += toast_raw_datum_size(row->values[i]);
		if (total > ES_JSONB_DIRECT_MAX)
			return false;
	}
	return true;
}

/*
 * row as a jsonb object, equal to jsonb_in of what write_row_from writes
 * with the same arguments (unchanged TOAST values left out, or in a key
 * written as the placeholder); the columns are pushed in jsonb's key order
 */
static Jsonb *
build_row_jsonb(EsDecodingData *data, EsRelInfo *rel, EsRow *row,
				EsRow *fallback, bool keys_only, EsToastMode toast)
{
	JsonbParseState *state = NULL;
	JsonbValue	v;
	int			j;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (j = 0; j < rel->njsonb_order; j++)
	{
		int			i = rel->jsonb_order[j];
		EsColumn   *col = &rel->columns[i];
		EsRow	   *from;

		if (keys_only && !col->is_key)
			continue;
		from = column_source(rel, row, fallback, i);
		if (is_unchanged_toast(rel, from, i) && toast == ES_TOAST_OMIT)
			continue;

		v.type = jbvString;
		v.val.string.val = col->name;
		v.val.string.len = strlen(col->name);
		(void) pushJsonbValue(&state, WJB_KEY, &v);
		if (from->nulls[i])
		{
			v.type = jbvNull;
			(void) pushJsonbValue(&state, WJB_VALUE, &v);
		}
		else if (is_unchanged_toast(rel, from, i))
		{
			v.type = jbvString;
			v.val.string.val = DEBEZIUM_UNAVAILABLE_VALUE;
			v.val.string.len = strlen(DEBEZIUM_UNAVAILABLE_VALUE);
			(void) pushJsonbValue(&state, WJB_VALUE, &v);
		}
		else
			es_push_value_jsonb(&state, WJB_VALUE, &col->type, from->values[i],
								&data->opts.encode);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * es_build_row_parts builds the key, old and new parts of a change event
 * as jsonb, each equal to jsonb_in of what es_write_row_parts writes (a
 * part the event does not have is NULL).  It returns false, building
 * nothing, for an event that must take the text path: a table with json
 * columns, a row past ES_JSONB_DIRECT_MAX, or a format with encoders of
 * its own.
 */
bool
es_build_row_parts(EsDecodingData *data, const EsEvent *ev, Jsonb **key,
				   Jsonb **oldout, Jsonb **newout)
{
	EsRelInfo  *rel = ev->rel;
	EsParts		p;

	if (!rel->builds_jsonb || data->opts.format->encode != NULL ||
		data->opts.format->placeholder != NULL)
		return false;
	parts_plan(ev, &p);
	if ((ev->oldtuple != NULL && !row_fits_jsonb(rel, &p.old)) ||
		(ev->newtuple != NULL && !row_fits_jsonb(rel, &p.new)))
		return false;

	*key = *oldout = *newout = NULL;
	if (p.key != NULL)
		*key = build_row_jsonb(data, rel, p.key, p.key_fallback, true,
							   ES_TOAST_PLACEHOLDER);
	if (p.show_old)
		*oldout = build_row_jsonb(data, rel, &p.old, NULL, p.old_keys_only,
								  ES_TOAST_OMIT);
	if (p.show_new)
		*newout = build_row_jsonb(data, rel, &p.new, NULL, false, ES_TOAST_OMIT);
	return true;
}

/* ,"field":["a","b"] from a list of ,"a","b" items, if it has any */
static void
write_name_list(StringInfo out, const char *field, StringInfo items)
{
	if (items->len == 0)
		return;
	appendStringInfo(out, ",\"%s\":[", field);
	appendBinaryStringInfo(out, items->data + 1, items->len - 1);
	appendStringInfoCharMacro(out, ']');
}

/*
 * es_write_row_fields writes the row part of a change event, each field
 * preceded by a comma:
 *	 "key"		the new key (insert, update) or the old key (delete), when
 *				the relation has a replica identity key;
 *	 "old"		the old row when the WAL has it: the whole row with REPLICA
 *				IDENTITY FULL, else (an update that changed the key) the
 *				old key columns;
 *	 "new"		the new row (insert, update);
 *	 "unchanged_toast"	columns left out of "new" because decoding does not
 *				carry their unchanged TOASTed value;
 *	 "json_null", "old_json_null"	json/jsonb columns of "new" (of "old")
 *				holding the JSON null, which null alone cannot tell from
 *				SQL NULL;
 *	 "changed"	with include-changed-columns, the columns whose value
 *				differs between old and new, when the old row is known.
 */
void
es_write_row_fields(StringInfo out, EsDecodingData *data, const EsEvent *ev)
{
	EsRelInfo  *rel = ev->rel;
	EsParts		p;
	StringInfoData toast_names;

	parts_plan(ev, &p);
	resetStringInfo(&data->oversized);

	if (p.key != NULL)
	{
		appendStringInfoString(out, ",\"key\":");
		write_key(out, data, rel, p.key, p.key_fallback);
	}

	resetStringInfo(&data->json_nulls_buf[0]);
	resetStringInfo(&data->json_nulls_buf[1]);
	if (p.show_old)
	{
		appendStringInfoString(out, ",\"old\":");
		data->json_nulls = &data->json_nulls_buf[0];
		write_row(out, data, rel, &p.old, p.old_keys_only, ES_TOAST_OMIT, NULL);
	}

	if (p.show_new)
	{
		toast_names.data = NULL;
		appendStringInfoString(out, ",\"new\":");
		data->json_nulls = &data->json_nulls_buf[1];
		write_row(out, data, rel, &p.new, false, ES_TOAST_OMIT, &toast_names);
		if (toast_names.data != NULL)
		{
			/* the list starts with a comma: turn it into the opening '[' */
			toast_names.data[0] = '[';
			appendStringInfoString(out, ",\"unchanged_toast\":");
			appendBinaryStringInfo(out, toast_names.data, toast_names.len);
			appendStringInfoCharMacro(out, ']');
		}
	}

	data->json_nulls = NULL;
	write_name_list(out, "json_null", &data->json_nulls_buf[1]);
	write_name_list(out, "old_json_null", &data->json_nulls_buf[0]);

	if (data->oversized.len > 0)
	{
		/* the list starts with a comma, as toast_names' does */
		appendStringInfoString(out, ",\"oversized\":[");
		appendBinaryStringInfo(out, data->oversized.data + 1, data->oversized.len - 1);
		appendStringInfoCharMacro(out, ']');
		es_warn_oversized(data, ev);
	}

	/* (the whole old row, and a new one: an update with REPLICA IDENTITY FULL) */
	if (data->opts.include_changed_columns && p.show_old && !p.old_keys_only &&
		p.show_new)
	{
		bool		first = true;
		int			i;

		appendStringInfoString(out, ",\"changed\":[");
		for (i = 0; i < rel->natts; i++)
		{
			if (rel->columns[i].name == NULL ||
				!column_changed(rel, &p.old, &p.new, i))
				continue;
			if (!first)
				appendStringInfoCharMacro(out, ',');
			first = false;
			es_json_cstring(out, rel->columns[i].name);
		}
		appendStringInfoCharMacro(out, ']');
	}
}

/*
 * es_write_message_content writes ,"content":... for a logical message:
 * embedded JSON when the content parses as JSON; otherwise a JSON string
 * followed by ,"encoding":"text" when it is text, or base64 followed by
 * ,"encoding":"base64".  So the content '"a"' (JSON) and 'a' (text) stay
 * apart: only JSON content comes without an encoding.
 */
void
es_write_message_content(StringInfo out, const EsEvent *ev)
{
	appendStringInfoString(out, ",\"content\":");
	if (es_json_is_valid(ev->content, ev->content_size))
		es_json_embed(out, ev->content, ev->content_size);
	else if (memchr(ev->content, '\0', ev->content_size) == NULL &&
			 pg_verifymbstr(ev->content, ev->content_size, true))
	{
		es_json_string(out, ev->content, ev->content_size);
		appendStringInfoString(out, ",\"encoding\":\"text\"");
	}
	else
	{
		es_json_base64(out, ev->content, ev->content_size);
		appendStringInfoString(out, ",\"encoding\":\"base64\"");
	}
}
