/*-------------------------------------------------------------------------
 *
 * message.c
 *	  The logical message emit() writes, and how the worker knows that
 *	  emit() wrote it.
 *
 * Any role may call pg_logical_emit_message with any prefix, so the
 * prefix alone proves nothing.  emit() therefore signs what it writes:
 *	  <HMAC-SHA256 in hex> ' ' {"stream":..,"key":..,"payload":..}
 * keyed with a random secret made at CREATE EXTENSION in
 * eventstream.message_key, which no role but the extension's owner may
 * read, and computed over the emitting transaction's top-level xid and
 * the JSON.  Binding the xid means a signed message copied out of the WAL
 * cannot be replayed in another transaction.  The worker checks each
 * message with the prefix before it enters a batch; a message that fails
 * is dropped with a WARNING that names its LSN.
 *
 * The secret is read straight from its table (as the catalog code reads
 * catalogs, without a privilege check): by emit() in the caller's backend,
 * and by the worker when it loads its definitions.  It never changes while
 * the extension exists, so a backend reads it once per table (a new
 * CREATE EXTENSION makes a new table).
 *
 * src/stream/message.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "common/sha2.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "../common/mac.h"
#include "../pg_eventstream.h"
#include "stream.h"

#define MAC_HEX_LEN (PG_SHA256_DIGEST_LENGTH * 2)

/*
 * es_message_key reads the extension's secret into key; false if there is
 * none (the extension is not installed).  A snapshot must be active.
 */
bool
es_message_key(uint8 *key)
{
	static Oid	cached_relid = InvalidOid;
	static uint8 cached_key[ES_MESSAGE_KEY_LEN];
	Oid			relid = get_relname_relid("message_key",
										  get_namespace_oid(ES_SCHEMA, true));
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		found = false;

	if (!OidIsValid(relid))
		return false;
	if (relid == cached_relid)
	{
		memcpy(key, cached_key, ES_MESSAGE_KEY_LEN);
		return true;
	}
	rel = table_open(relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 1, &isnull);
		bytea	   *b = isnull ? NULL : DatumGetByteaPP(d);

		if (b != NULL && VARSIZE_ANY_EXHDR(b) == ES_MESSAGE_KEY_LEN)
		{
			memcpy(key, VARDATA_ANY(b), ES_MESSAGE_KEY_LEN);
			memcpy(cached_key, key, ES_MESSAGE_KEY_LEN);
			cached_relid = relid;
			found = true;
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	return found;
}

/* the MAC of json written by transaction xid, in hex (MAC_HEX_LEN + 1 bytes) */
static void
message_mac(const uint8 *key, TransactionId xid, const char *json, Size len, char *hex)
{
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	char		xidtext[16];

	snprintf(xidtext, sizeof(xidtext), "%u ", xid);
	es_hmac_sha256(key, ES_MESSAGE_KEY_LEN, xidtext, json, len, mac);
	hex_encode((const char *) mac, sizeof(mac), hex);
	hex[MAC_HEX_LEN] = '\0';
}

/* es_message_sign prefixes json, from transaction xid, with its MAC */
void
es_message_sign(StringInfo out, const uint8 *key, TransactionId xid,
				const char *json, Size len)
{
	char		hex[MAC_HEX_LEN + 1];

	message_mac(key, xid, json, len, hex);
	appendStringInfoString(out, hex);
	appendStringInfoChar(out, ' ');
	appendBinaryStringInfo(out, json, len);
}

/*
 * es_message_verify checks a message of transaction xid; on success
 * *json and *len are its JSON part.
 */
bool
es_message_verify(const uint8 *key, TransactionId xid, const char *content,
				  Size size, const char **json, Size *len)
{
	char		hex[MAC_HEX_LEN + 1];
	int			diff = 0;
	int			i;

	if (size <= MAC_HEX_LEN + 1 || content[MAC_HEX_LEN] != ' ')
		return false;
	*json = content + MAC_HEX_LEN + 1;
	*len = size - MAC_HEX_LEN - 1;
	message_mac(key, xid, *json, *len, hex);
	/* in constant time */
	for (i = 0; i < MAC_HEX_LEN; i++)
		diff |= hex[i] ^ content[i];
	return diff == 0;
}
