/*-------------------------------------------------------------------------
 *
 * decoder.h
 *	  Shared declarations of the pg_eventstream output plugin.
 *
 * The plugin is split by concern:
 *	  plugin.c		the logical decoding callbacks and transaction state
 *	  options.c		parsing and checking of the plugin options
 *	  table_filter.c	schema.table patterns of the tables/exclude-tables options
 *	  relinfo.c		per-relation cache (names, columns, types, key, filter)
 *	  row.c			a tuple as a JSON object, shared by all formats
 *	  formats.c		the table of formats, by name
 *	  format_*.c	the native, Debezium and CloudEvents envelopes
 *	  event_kinds.c	the table of event kinds and their "op" names
 *	  target.h		what the capture worker feeds (not the plugin's concern)
 *
 * A decoding session owns one EsDecodingData.  Callbacks turn what logical
 * decoding hands them into an EsEvent and pass it to the chosen format;
 * everything allocated while doing so lives in a per-change memory context
 * that is reset after every event, so memory stays flat however large the
 * transaction.
 *
 * src/decoder/decoder.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_DECODER_H
#define ES_DECODER_H

#include "access/htup.h"
#include "access/tupconvert.h"
#include "replication/logical.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

#include "../common/value_encode.h"
#include "../pg_eventstream.h"

/*
 * What kind of event an EsEvent is.  The first four are the row
 * operations a stream or the "operations" option can choose.
 */
typedef enum EsEventKind
{
	ES_EV_INSERT,
	ES_EV_UPDATE,
	ES_EV_DELETE,
	ES_EV_TRUNCATE,
	ES_EV_MESSAGE,
	ES_EV_SCHEMA,
	ES_EV_BEGIN,
	ES_EV_COMMIT,
	ES_EV_PREPARE,
	ES_EV_COMMIT_PREPARED,
	ES_EV_ROLLBACK_PREPARED,
	ES_EV_STREAM_START,
	ES_EV_STREAM_STOP,
	ES_EV_STREAM_ABORT,
	ES_EV_STREAM_COMMIT,
	/* made by the event log, never by decoding */
	ES_EV_SNAPSHOT,				/* a backfilled row */
	ES_EV_ERROR					/* a change the log could not store */
} EsEventKind;

/* the row operations as a bit mask: bit n is event kind n */
#define ES_OP_MASK(kind) (1 << (kind))
#define ES_OP_INSERT	ES_OP_MASK(ES_EV_INSERT)
#define ES_OP_UPDATE	ES_OP_MASK(ES_EV_UPDATE)
#define ES_OP_DELETE	ES_OP_MASK(ES_EV_DELETE)
#define ES_OP_TRUNCATE	ES_OP_MASK(ES_EV_TRUNCATE)
#define ES_OP_ALL		(ES_OP_INSERT | ES_OP_UPDATE | ES_OP_DELETE | ES_OP_TRUNCATE)
#define ES_NUM_ROW_OPS	4

/* event_kinds.c: the one table of event kinds */
typedef struct EsEventKindInfo
{
	const char *op;				/* the "op" of the event */
	int			opmask;			/* ES_OP_* for a row operation, else 0 */
} EsEventKindInfo;

extern const EsEventKindInfo es_event_kinds[];

#define es_event_op(kind) (es_event_kinds[(kind)].op)

extern int	es_operation_mask(const char *name);

typedef struct EsFormatRoutine EsFormatRoutine;
typedef void (*EsPlaceholderWriter) (StringInfo out, const EsTypeInfo *info,
									 const EsEncodeOptions *opts);

/* one schema.table pattern of the tables/exclude-tables options */
typedef struct EsTablePattern
{
	char	   *schema;			/* with '*' as wildcard, escapes removed */
	char	   *table;
	bool	   *schema_wild;	/* schema_wild[i]: schema[i] is a wildcard */
	bool	   *table_wild;
} EsTablePattern;

/* the plugin options of SPEC.md section 1, parsed */
typedef struct EsOptions
{
	const EsFormatRoutine *format;
	bool		dbz_tombstones; /* format=debezium: a null message after a delete */
	bool		include_transaction;
	bool		skip_empty_xacts;
	bool		include_xids;
	bool		include_lsn;
	bool		include_timestamp;
	bool		include_schema;
	bool		include_changed_columns;
	List	   *tables;			/* EsTablePattern list; NIL means all */
	List	   *exclude_tables; /* EsTablePattern list */
	int			operations;		/* ES_OP_* mask */
	bool		messages;
	List	   *message_prefixes;	/* char * list; NIL means all */
	bool		only_local;
	bool		publish_via_root;
	bool		pretty;
	bool		stream_changes;
	bool		two_phase;
	char	   *source;			/* cloudevents "source" */
	char	   *type_prefix;	/* cloudevents "type" prefix */
	EsEncodeOptions encode;
} EsOptions;

/* one column of a relation as reported (the root's, with publish-via-root) */
typedef struct EsColumn
{
	char	   *name;			/* NULL for a dropped column */
	char	   *json_key;		/* the name escaped and followed by ':' */
	int			json_key_len;
	bool		is_key;
	bool		not_null;
	EsTypeInfo type;
} EsColumn;

/* the relation cache entry: all per-relation work done once */
typedef struct EsRelInfo
{
	Oid			relid;			/* hash key: the relation changed */
	bool		valid;			/* false after a relcache invalidation */
	MemoryContext mcxt;			/* everything below is allocated here */

	bool		publish;		/* passes the tables/exclude-tables filter */
	Oid			report_relid;	/* relation the changes are reported under */
	char	   *schema_name;
	char	   *table_name;
	char	   *names_json;		/* "schema":"...","table":"..." */
	char	   *subject_json;	/* "schema.table" as a JSON string */
	char	   *type_names_json;	/* [{"name":..,"type":..},..] */
	char		identity;		/* replica identity of the changed relation */

	TupleDesc	desc;			/* reported tuple descriptor */
	TupleConversionMap *map;	/* leaf to root, or NULL */
	int			natts;
	EsColumn   *columns;		/* natts entries */
	int			nkeys;
	int		   *jsonb_order;	/* live columns in jsonb's key order */
	int			njsonb_order;
	bool		builds_jsonb;	/* es_type_builds_jsonb for every column */

	uint32		schema_hash;	/* identifies names, columns and types */

	/* room to deform an old and a new tuple, reused by every change */
	Datum	   *values[2];
	bool	   *nulls[2];
} EsRelInfo;



/* the events a transaction wrote per relation (Debezium's data collections) */
typedef struct EsCollection
{
	Oid			relid;			/* reported relation */
	char	   *name;			/* "schema.table" */
	int64		count;
} EsCollection;

typedef struct EsCollections
{
	int			n;
	int			size;
	EsCollection *items;
} EsCollections;

/*
 * One event to write.  Unknown LSNs are InvalidXLogRecPtr, an unknown
 * commit time is 0, seq 0 means "not a change of a transaction".
 */
typedef struct EsEvent
{
	EsEventKind kind;
	EsRelInfo  *rel;			/* row changes, truncate, schema */
	TransactionId xid;
	TransactionId subxid;		/* streamed changes of a subtransaction */
	XLogRecPtr	lsn;
	XLogRecPtr	commit_lsn;
	TimestampTz commit_time;
	int64		seq;
	int64		rel_seq;		/* position among its relation's changes in the
								 * transaction (with include-transaction) */
	const EsCollections *collections;	/* commit: events per relation */
	const char *gid;			/* two-phase events */
	int64		event_count;	/* commit, prepare, stream_commit */

	/* row changes: tuples in the reported layout */
	HeapTuple	oldtuple;
	HeapTuple	newtuple;

	/* truncate */
	bool		cascade;
	bool		restart_seqs;

	/* message */
	bool		transactional;
	const char *prefix;
	const char *content;
	Size		content_size;
} EsEvent;

/*
 * A capture receiver takes the events of a decoding session instead of
 * the output stream: the capture worker installs one (es_capture_receiver)
 * before it creates its decoding context, so the change callbacks hand it
 * row changes, truncates and messages as EsEvents.  Changes from the
 * receiver's own replication origin are filtered out.
 */
typedef struct EsDecodingData EsDecodingData;
typedef struct EsCaptureReceiver EsCaptureReceiver;
struct EsCaptureReceiver
{
	void		(*event) (EsCaptureReceiver *receiver, EsDecodingData *data,
							  const EsEvent *ev);
	RepOriginId origin;
};

extern PGDLLIMPORT EsCaptureReceiver *es_capture_receiver;

/* state of one decoding session */
struct EsDecodingData
{
	EsOptions	opts;
	MemoryContext change_cxt;	/* reset after every event */
	MemoryContext cache_cxt;	/* relation cache */
	char	   *database_name;
	char	   *slot_name;
	StringInfoData scratch;		/* nested documents (cloudevents key) */
	char	   *dbz_source_head;	/* ,"source":{"version":..,"name":.. */
	char	   *dbz_source_db;	/* ,"snapshot":"false","db":".." */
	char	   *ce_source_type;	/* ,"source":"..","type":"<prefix>. */

	/* ,"commit_lsn":..,"commit_time":.. of the last transaction written */
	XLogRecPtr	meta_commit_lsn;
	TimestampTz meta_commit_time;
	StringInfoData commit_meta;

	EsCaptureReceiver *receiver;	/* the capture worker's, or NULL */
	LogicalDecodingContext *ctx;	/* the session's */
	int			message_start;	/* where the output message being written began */

	/* the most bytes of JSON one event (or one part of it) may take */
	Size		max_event_size;
	StringInfoData oversized;	/* ,"name" of each value left out, per event */
	StringInfo	json_nulls;		/* while a row part is written: ,"name" of
								 * each json/jsonb column holding JSON null,
								 * or NULL not to look */
	StringInfoData json_nulls_buf[2];	/* old's, new's */
};

/*
 * An event is one allocation of at most 1 GB; leave room for its envelope.
 * The capture worker keeps each part in a jsonb, whose strings and
 * containers end at 256 MB.
 */
#define ES_MAX_EVENT_SIZE	(MaxAllocSize - 16 * 1024 * 1024)
#define ES_MAX_LOG_PART_SIZE	(0x0FFFFFFF - 1024 * 1024)

/* options.c */
extern void es_parse_options(EsOptions *opts, List *options);

/* table_filter.c */
extern List *es_parse_table_patterns(const char *option, const char *value);
extern bool es_table_patterns_match(List *patterns, const char *schema,
									const char *table);
extern bool es_table_patterns_name_schema(List *patterns, const char *schema);
extern void es_append_pattern_escaped(StringInfo buf, const char *name);

/* relinfo.c */
extern void es_relinfo_init(EsDecodingData *data);
extern EsRelInfo *es_relinfo_get(EsDecodingData *data, Relation relation);
extern bool es_relinfo_schema_announced(EsRelInfo *rel);
extern void es_relinfo_shutdown(void);

/* row.c */
typedef enum EsToastMode
{
	ES_TOAST_OMIT,				/* leave unchanged TOAST values out */
	ES_TOAST_PLACEHOLDER		/* Debezium's placeholder string */
} EsToastMode;

extern void es_write_row(StringInfo out, EsDecodingData *data, EsRelInfo *rel,
						 HeapTuple tuple, bool keys_only, EsToastMode toast);
extern bool es_write_key(StringInfo out, EsDecodingData *data, EsRelInfo *rel,
						 HeapTuple tuple, HeapTuple other);
extern void es_write_row_fields(StringInfo out, EsDecodingData *data,
								const EsEvent *ev);
extern bool es_build_row_parts(EsDecodingData *data, const EsEvent *ev,
							   Jsonb **key, Jsonb **oldout, Jsonb **newout);
extern void es_write_row_parts(EsDecodingData *data, const EsEvent *ev,
							   StringInfo key, StringInfo oldout,
							   StringInfo newout);
extern void es_write_message_content(StringInfo out, const EsEvent *ev);
extern void es_warn_oversized(EsDecodingData *data, const EsEvent *ev);
extern bool es_key_changed(EsRelInfo *rel, HeapTuple oldtuple, HeapTuple newtuple);

/* plugin.c */
extern StringInfo es_output_next(EsDecodingData *data);

/* formats.c: the output formats, one entry each */
struct EsFormatRoutine
{
	const char *name;			/* the value of the "format" option */
	bool		committed_only; /* stable ids need the commit: no stream-changes */
	void		(*startup) (EsDecodingData *data);	/* optional */
	void		(*write) (StringInfo out, EsDecodingData *data, const EsEvent *ev);
	EsValueEncoder encode;		/* a column's value; NULL: es_encode_value */
	EsPlaceholderWriter placeholder;	/* an unchanged TOAST value in
										 * ES_TOAST_PLACEHOLDER mode; NULL: a
										 * string */
};

extern const EsFormatRoutine *es_format_default(void);
extern const EsFormatRoutine *es_format_lookup(const char *option, const char *name);

/* format_native.c, format_debezium.c, format_cloudevents.c */
extern void es_write_event_body(StringInfo out, EsDecodingData *data,
								const EsEvent *ev, bool with_meta);
extern void es_format_debezium_init(EsDecodingData *data);
extern void es_format_cloudevents_init(EsDecodingData *data);
extern void es_format_native(StringInfo out, EsDecodingData *data,
							 const EsEvent *ev);
extern void es_format_debezium(StringInfo out, EsDecodingData *data,
							   const EsEvent *ev);
extern void es_format_cloudevents(StringInfo out, EsDecodingData *data,
								  const EsEvent *ev);
extern void es_cloudevents_check_source(const char *source);
extern char *es_cloudevents_default_source(const char *database);

/* debezium_values.c */
extern void es_dbz_encode_value(StringInfo out, const EsTypeInfo *info, Datum value,
								const EsEncodeOptions *opts);
extern void es_dbz_write_placeholder(StringInfo out, const EsTypeInfo *info,
									 const EsEncodeOptions *opts);

#endif							/* ES_DECODER_H */
