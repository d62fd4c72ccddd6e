/*-------------------------------------------------------------------------
 *
 * mac.c
 *	  HMAC-SHA256 of a short prefix and a body, with PostgreSQL's own HMAC
 *	  (src/common): emit()'s signed messages (src/stream/message.c) and
 *	  webhook signatures (src/sink/signature.c) both sign this way.
 *
 * src/common/mac.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hmac.h"

#include "mac.h"

/* es_hmac_sha256 computes the MAC of prefix followed by body under key */
void
es_hmac_sha256(const uint8 *key, int keylen, const char *prefix,
			   const char *body, Size body_len, uint8 mac[PG_SHA256_DIGEST_LENGTH])
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) prefix, strlen(prefix)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) body, body_len) < 0 ||
		pg_hmac_final(ctx, mac, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute an HMAC: %s",
			 ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
}
