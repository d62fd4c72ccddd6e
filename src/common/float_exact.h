/*-------------------------------------------------------------------------
 *
 * float_exact.h
 *	  A double as the exact decimal number it is.
 *
 * src/common/float_exact.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_FLOAT_EXACT_H
#define ES_FLOAT_EXACT_H

#include "lib/stringinfo.h"

extern void es_float8_exact_text(StringInfo out, double d);

#endif							/* ES_FLOAT_EXACT_H */
