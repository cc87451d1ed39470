"""The shared argument checks of ringcap._validate, without privileges."""
import math

import numpy as np
import pytest

from ringcap._validate import MAX_SECONDS, check_count, check_seconds, shorten


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float64("nan")])
def test_nan_and_infinity_are_never_a_duration(value):
    with pytest.raises(ValueError, match="NaN|finite"):
        check_seconds("duration", value, allow_none=True)


@pytest.mark.parametrize("value", ["0", b"1", True, np.bool_(False), [1], object()])
def test_a_duration_must_be_a_number(value):
    with pytest.raises(TypeError, match="duration must be a number of seconds"):
        check_seconds("duration", value)


def test_seconds_accepts_numbers_and_states_its_range():
    assert check_seconds("t", 0) == 0.0
    assert check_seconds("t", np.float32(1.5)) == 1.5
    assert check_seconds("t", 3) == 3.0 and isinstance(check_seconds("t", 3), float)
    assert check_seconds("t", None, allow_none=True) is None
    with pytest.raises(TypeError, match="got None"):
        check_seconds("t", None)
    with pytest.raises(ValueError, match=r"t must be > 0 seconds, got 0"):
        check_seconds("t", 0, allow_zero=False)
    with pytest.raises(ValueError, match=r"t must be >= 0 seconds, got -1"):
        check_seconds("t", -1)
    with pytest.raises(ValueError, match="at most 31536000 seconds"):
        check_seconds("t", MAX_SECONDS * 2)
    with pytest.raises(ValueError, match="pass None for waiting"):
        check_seconds("t", math.inf, allow_none=True, none_means="waiting")


def test_counts_are_ints_in_range():
    assert check_count("n", np.int64(5)) == 5
    assert check_count("n", None, allow_none=True) is None
    assert check_count("n", 0, allow_zero=True) == 0
    for bad in (1.0, "3", True, None):
        with pytest.raises(TypeError, match="n must be an int"):
            check_count("n", bad)
    with pytest.raises(ValueError, match="n must be positive, got 0"):
        check_count("n", 0)
    with pytest.raises(ValueError, match="n must be at most 100, got 101"):
        check_count("n", 101, maximum=100)
    with pytest.raises(ValueError, match="at most 9223372036854775807"):
        check_count("n", 2**63)


def test_messages_never_embed_huge_input():
    text = "x" * 1_000_000
    short = shorten(text)
    assert len(short) < 200 and "1000000 characters" in short
    assert shorten("udp") == "udp"
    with pytest.raises(TypeError) as info:
        check_seconds("t", text)
    assert len(str(info.value)) < 300
