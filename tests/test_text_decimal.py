"""The printer's decimal numbers (decimal.h's multiplications below 2**32, the
division loop above): every digit count, both sides of each power of ten,
zero-padded widths, and values too wide for their width."""
import random

from ringcap import _text


def _edges():
    for digits in range(1, 21):
        low = 10 ** (digits - 1)
        for v in (low - 1, low, low + 1, 2 * low - 1, 5 * low, 10 * low - 1):
            if 0 <= v < 2 ** 64:
                yield v
    yield from (2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 64 - 1, 4294967295 - 10 ** 9)


def test_unpadded_numbers_are_their_decimal_text():
    rng = random.Random(19)
    values = list(_edges()) + [rng.getrandbits(32) for _ in range(20000)]
    values += [rng.randrange(10 ** rng.randrange(1, 11)) for _ in range(20000)]
    for v in values:
        assert _text._test_decimal(v) == str(v).encode(), v


def test_padded_numbers_keep_their_width():
    rng = random.Random(7)
    for width in range(1, 13):
        values = [v for v in _edges() if v < 10 ** width]
        values += [rng.randrange(10 ** width) for _ in range(5000)]
        values += [rng.randrange(10 ** rng.randrange(1, width + 1)) for _ in range(5000)]
        for v in values:
            assert _text._test_decimal(v, width) == f"{v:0{width}d}".encode(), (v, width)


def test_a_number_wider_than_its_width_keeps_its_last_digits():
    assert _text._test_decimal(1234567, 6) == b"234567"
    assert _text._test_decimal(12345678901, 9) == b"345678901"
    assert _text._test_decimal(100, 2) == b"00"
