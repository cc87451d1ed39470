/* Decimal text of unsigned numbers for the packet printer (_text.pyx).
 *
 * Without a loop or a division instruction: a number is cut into groups of
 * four digits by divisions by 10**4 and 10**8 that the compiler makes
 * multiplications, and each group into two pairs by a multiplication and a
 * shift ((x * 5243) >> 19 is x / 100 for every x < 10**4); each pair is two
 * bytes of a table.  A 5-digit port is two multiplications and three
 * copies (the division loop this replaced took about 75 instructions).
 * Every value below 2**32 and every padded width is checked against a
 * division loop by benchmarks/c/check_decimal.c (run it after a change
 * here: a few minutes); tests/test_text_decimal.py checks the edges
 * through _text.
 */
#ifndef RINGCAP_DECIMAL_H
#define RINGCAP_DECIMAL_H

#include <stdint.h>
#include <string.h>

static const char rc_pairs[200] = {
    '0','0','0','1','0','2','0','3','0','4','0','5','0','6','0','7','0','8','0','9',
    '1','0','1','1','1','2','1','3','1','4','1','5','1','6','1','7','1','8','1','9',
    '2','0','2','1','2','2','2','3','2','4','2','5','2','6','2','7','2','8','2','9',
    '3','0','3','1','3','2','3','3','3','4','3','5','3','6','3','7','3','8','3','9',
    '4','0','4','1','4','2','4','3','4','4','4','5','4','6','4','7','4','8','4','9',
    '5','0','5','1','5','2','5','3','5','4','5','5','5','6','5','7','5','8','5','9',
    '6','0','6','1','6','2','6','3','6','4','6','5','6','6','6','7','6','8','6','9',
    '7','0','7','1','7','2','7','3','7','4','7','5','7','6','7','7','7','8','7','9',
    '8','0','8','1','8','2','8','3','8','4','8','5','8','6','8','7','8','8','8','9',
    '9','0','9','1','9','2','9','3','9','4','9','5','9','6','9','7','9','8','9','9'};

#define RC_PAIR(b, i) memcpy((b), rc_pairs + 2 * (i), 2)

static const uint64_t rc_pow10[10] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u,
                                      10000000u, 100000000u, 1000000000u};

/* the `digits` (1..4) digits of x < 10**digits, zero-padded */
static inline __attribute__((always_inline)) uint8_t *
rc_put_group(uint8_t *b, uint32_t x, int digits)
{
    uint32_t hundreds;
    switch (digits) {
    case 1: b[0] = (uint8_t)('0' + x); break;
    case 2: RC_PAIR(b, x); break;
    case 3:
        hundreds = (x * 5243u) >> 19;
        b[0] = (uint8_t)('0' + hundreds);
        RC_PAIR(b + 1, x - hundreds * 100u);
        break;
    default:
        hundreds = (x * 5243u) >> 19;
        RC_PAIR(b, hundreds);
        RC_PAIR(b + 2, x - hundreds * 100u);
        break;
    }
    return b + digits;
}

/* exactly `digits` (1..10) digits of v < 10**digits, zero-padded */
static inline __attribute__((always_inline)) uint8_t *
rc_put_u32_width(uint8_t *b, uint32_t v, int digits)
{
    uint32_t high, rest;
    if (digits <= 4)
        return rc_put_group(b, v, digits);
    if (digits <= 8) {
        high = v / 10000u;
        b = rc_put_group(b, high, digits - 4);
        return rc_put_group(b, v - high * 10000u, 4);
    }
    high = v / 100000000u;                /* at most 42 */
    rest = v - high * 100000000u;
    b = rc_put_group(b, high, digits - 8);
    b = rc_put_group(b, rest / 10000u, 4);
    return rc_put_group(b, rest % 10000u, 4);
}

/* v's `digits` (1..10) digits, 10**(digits-1) <= v < 10**digits (v < 10 for 1) */
static inline __attribute__((always_inline)) uint8_t *
rc_put_u32_digits(uint8_t *b, uint32_t v, int digits)
{
    return rc_put_u32_width(b, v, digits);
}

/* v's decimal digits, no padding */
static inline uint8_t *rc_put_u32(uint8_t *b, uint32_t v)
{
    int digits;
    if (v < 100)
        digits = v < 10 ? 1 : 2;
    else if (v < 1000000)
        digits = v < 10000 ? (v < 1000 ? 3 : 4) : (v < 100000 ? 5 : 6);
    else if (v < 100000000)
        digits = v < 10000000 ? 7 : 8;
    else
        digits = v < 1000000000 ? 9 : 10;
    return rc_put_u32_digits(b, v, digits);
}

#endif
