/*-------------------------------------------------------------------------
 *
 * mac.h
 *	  HMAC-SHA256 of a short prefix and a body, with PostgreSQL's HMAC.
 *
 * src/common/mac.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_MAC_H
#define ES_MAC_H

#include "common/sha2.h"

extern void es_hmac_sha256(const uint8 *key, int keylen, const char *prefix,
						   const char *body, Size body_len,
						   uint8 mac[PG_SHA256_DIGEST_LENGTH]);

#endif							/* ES_MAC_H */
