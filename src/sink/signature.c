/*-------------------------------------------------------------------------
 *
 * signature.c
 *	  Standard Webhooks signatures: "v1," and the base64 of
 *	  HMAC-SHA256(secret, "<msg_id>.<timestamp>.<body>"), with PostgreSQL's
 *	  own HMAC and base64 (src/common), no crypto of ours.
 *
 * src/sink/signature.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"

#include "../common/mac.h"
#include "sink.h"

/*
 * es_sink_sign appends "v1,<signature>" to header for a request with this
 * webhook-id, webhook-timestamp and body
 */
void
es_sink_sign(StringInfo header, const uint8 *secret, int secret_len,
			 const char *msg_id, int64 timestamp, const char *body, Size body_len)
{
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	char		prefix[128];
	char		b64[64];
	int			len;

	snprintf(prefix, sizeof(prefix), "%s." INT64_FORMAT ".", msg_id, timestamp);
	es_hmac_sha256(secret, secret_len, prefix, body, body_len, mac);
	len = pg_b64_encode((const char *) mac, sizeof(mac), b64, sizeof(b64));
	if (len < 0)
		elog(ERROR, "could not encode a webhook signature");
	appendStringInfoString(header, "v1,");
	appendBinaryStringInfo(header, b64, len);
}
