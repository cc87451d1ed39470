/* Decimal text of unsigned numbers for the packet printer (_text.pyx).
 *
 * James Anhalt's method (github.com/jeaiii/itoa): one multiplication turns
 * v into a 32.32 fixed-point fraction whose integer part is v's first one or
 * two digits; each further pair of digits is the integer part of the
 * fraction times 100.  No division and no loop: a 10-digit number is 6
 * multiplications and 5 two-byte copies (the division loop it replaced
 * took about 75 instructions for a 5-digit port).  Every value below 2**32
 * and every padded width is checked against a division loop by
 * benchmarks/c/check_decimal.c (run it after a change here: about 5 minutes);
 * tests/test_text_decimal.py checks the edges through _text.
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
/* t: v / 10**n as 32.32 fixed point (rounded so every v < 2**32 is exact) */
#define RC_A(n) (t = ((((uint64_t)1 << (32 + (n) / 5 * (n) * 53 / 16)) / (uint32_t)rc_pow10[n] \
                        + 1 + (n) / 6 - (n) / 8) * v) >> ((n) / 5 * (n) * 53 / 16), \
                 t += (n) / 6 * 4)
#define RC_D(b, k) (t = (uint64_t)100 * (uint32_t)t, RC_PAIR((b) + (k), t >> 32))
#define RC_S(b, k) ((b)[k] = (uint8_t)('0' + ((uint64_t)10 * (uint32_t)t >> 32)))

static const uint64_t rc_pow10[10] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u,
                                      10000000u, 100000000u, 1000000000u};

/* v's `digits` (1..10) digits, 10**(digits-1) <= v < 10**digits (v < 10 for 1) */
static inline __attribute__((always_inline)) uint8_t *
rc_put_u32_digits(uint8_t *b, uint32_t v, int digits)
{
    uint64_t t;
    switch (digits) {
    case 1: b[0] = (uint8_t)('0' + v); break;
    case 2: RC_PAIR(b, v); break;
    case 3: RC_A(1); RC_PAIR(b, t >> 32); RC_S(b, 2); break;
    case 4: RC_A(2); RC_PAIR(b, t >> 32); RC_D(b, 2); break;
    case 5: RC_A(3); RC_PAIR(b, t >> 32); RC_D(b, 2); RC_S(b, 4); break;
    case 6: RC_A(4); RC_PAIR(b, t >> 32); RC_D(b, 2); RC_D(b, 4); break;
    case 7: RC_A(5); RC_PAIR(b, t >> 32); RC_D(b, 2); RC_D(b, 4); RC_S(b, 6); break;
    case 8: RC_A(6); RC_PAIR(b, t >> 32); RC_D(b, 2); RC_D(b, 4); RC_D(b, 6); break;
    case 9: RC_A(7); RC_PAIR(b, t >> 32); RC_D(b, 2); RC_D(b, 4); RC_D(b, 6); RC_S(b, 8); break;
    default: RC_A(8); RC_PAIR(b, t >> 32); RC_D(b, 2); RC_D(b, 4); RC_D(b, 6); RC_D(b, 8); break;
    }
    return b + digits;
}

/* exactly `digits` (1..10) digits of v, zero-padded; v < 10**digits.  Every
 * step above is exact for the smaller values too but RC_A(5)'s, exact only
 * from 10**6 on: 7 digits are the first and 6 more */
static inline __attribute__((always_inline)) uint8_t *
rc_put_u32_width(uint8_t *b, uint32_t v, int digits)
{
    if (digits == 7) {
        b[0] = (uint8_t)('0' + v / 1000000u);
        return rc_put_u32_digits(b + 1, v % 1000000u, 6);
    }
    return rc_put_u32_digits(b, v, digits);
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
