/* The exhaustive check of pyx/decimal.h (the printer's decimal numbers):
 * every value below 2**32 unpadded, and every value of each zero-padded width
 * from 1 to 9 digits, against a division loop.  Not part of the test suite
 * (a minute or two of one core); run it after any change to decimal.h:
 *
 *   gcc -O2 -I pyx -o /tmp/check_decimal benchmarks/c/check_decimal.c && /tmp/check_decimal
 *
 * Prints the mismatches of each part (all 0) and exits 1 if there is one.
 */
#include <stdio.h>
#include "decimal.h"

int main(void)
{
    uint8_t buf[16], ref[16];
    unsigned long long bad = 0, all = 0;
    for (uint64_t x = 0; x <= 0xFFFFFFFFull; x++) {
        uint32_t v = (uint32_t)x, u = v;
        int m = 0;
        uint8_t *end = rc_put_u32(buf, v);
        do { ref[15 - m++] = (uint8_t)('0' + u % 10); u /= 10; } while (u);
        if (end - buf != m || memcmp(buf, ref + 16 - m, (size_t)m)) {
            if (!bad++)
                printf("first unpadded mismatch: %u\n", v);
        }
    }
    printf("unpadded: %llu mismatches\n", bad);
    all += bad;
    for (int width = 1; width <= 9; width++) {
        bad = 0;
        for (uint32_t v = 0; v < (uint32_t)rc_pow10[width]; v++) {
            uint32_t u = v;
            rc_put_u32_width(buf, v, width);
            for (int k = width - 1; k >= 0; k--) { ref[k] = (uint8_t)('0' + u % 10); u /= 10; }
            if (memcmp(buf, ref, (size_t)width)) {
                if (!bad++)
                    printf("first mismatch in width %d: %u\n", width, v);
            }
        }
        printf("width %d: %llu mismatches\n", width, bad);
        all += bad;
    }
    return all != 0;
}
