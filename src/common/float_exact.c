/*-------------------------------------------------------------------------
 *
 * float_exact.c
 *	  A double as the exact decimal number it is.
 *
 * Continuous aggregates keep sum() and avg() of float4/float8 as the exact
 * sum of the values (a numeric), so that a delete undoes its insert to the
 * last bit and the view shows the correctly rounded sum whatever the
 * history.  float8's cast to numeric rounds to 15 digits; this writes all
 * of them.  A finite double is M * 2^E with an integer M < 2^53: for E >= 0
 * that is an integer, for E < 0 it is M * 5^-E / 10^-E, a decimal of -E
 * digits after the point.  The digits come from a small big integer in
 * base 10^9 (at most 126 limbs: 5^1126 has 787 digits).
 *
 * src/common/float_exact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"

#include "float_exact.h"

#define LIMB_BASE 1000000000U
#define MAX_LIMBS 160

typedef struct BigDec
{
	uint32		limb[MAX_LIMBS];	/* least significant first */
	int			n;
} BigDec;

/* b *= f (f < 2^32) */
static void
big_mul(BigDec *b, uint32 f)
{
	uint64		carry = 0;
	int			i;

	for (i = 0; i < b->n; i++)
	{
		uint64		v = (uint64) b->limb[i] * f + carry;

		b->limb[i] = (uint32) (v % LIMB_BASE);
		carry = v / LIMB_BASE;
	}
	while (carry > 0)
	{
		if (b->n >= MAX_LIMBS)
			elog(ERROR, "exact decimal of a double out of room");
		b->limb[b->n++] = (uint32) (carry % LIMB_BASE);
		carry /= LIMB_BASE;
	}
}

/*
 * es_float8_exact_text appends to out the exact decimal value of a finite
 * double d ("0.1000000000000000055511151231257827021181583404541015625").
 */
void
es_float8_exact_text(StringInfo out, double d)
{
	BigDec		b;
	int			e;
	int			k;
	uint64		m;
	char		digits[MAX_LIMBS * 9 + 1];
	int			len;
	int			i;

	Assert(isfinite(d));
	if (d == 0)
	{
		appendStringInfoChar(out, '0');
		return;
	}
	if (d < 0)
	{
		appendStringInfoChar(out, '-');
		d = -d;
	}
	/* d = m * 2^e, m an integer of at most 53 bits, made odd */
	m = (uint64) ldexp(frexp(d, &e), 53);
	e -= 53;
	while ((m & 1) == 0)
	{
		m >>= 1;
		e++;
	}
	b.n = 0;
	while (m > 0)
	{
		b.limb[b.n++] = (uint32) (m % LIMB_BASE);
		m /= LIMB_BASE;
	}
	/* times 2^e, or 5^-e (then -e digits after the point) */
	for (k = e; k > 0; k -= Min(k, 29))
		big_mul(&b, (uint32) 1 << Min(k, 29));
	for (k = -e; k > 0; k -= Min(k, 13))
	{
		uint32		f = 1;

		for (i = 0; i < Min(k, 13); i++)
			f *= 5;
		big_mul(&b, f);
	}

	len = snprintf(digits, sizeof(digits), "%u", b.limb[b.n - 1]);
	for (i = b.n - 2; i >= 0; i--)
		len += snprintf(digits + len, sizeof(digits) - len, "%09u", b.limb[i]);
	if (e >= 0)
	{
		appendBinaryStringInfo(out, digits, len);
		return;
	}
	k = -e;
	if (len <= k)
	{
		appendStringInfoString(out, "0.");
		for (i = len; i < k; i++)
			appendStringInfoChar(out, '0');
		appendBinaryStringInfo(out, digits, len);
	}
	else
	{
		appendBinaryStringInfo(out, digits, len - k);
		appendStringInfoChar(out, '.');
		appendBinaryStringInfo(out, digits + len - k, k);
	}
}
