"""Issue 9, the ring side: hostile arguments, dead interfaces, statistics
from anywhere, timestamp and loss bits.  Real rings on veth pairs in the
session's private namespace."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from conftest import TEST_ETHERTYPE, frame_seq, make_frame, sh
from ringcap import Batch, RxRing, TxRing, capture

SMALL = dict(block_size=1 << 20, block_count=16, block_timeout_ms=5)


def ours(batch):
    return batch[batch.protocol == TEST_ETHERTYPE]


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0])
def test_read_refuses_nan_infinite_and_negative_timeouts(veth, timeout):
    with RxRing(veth.b, **SMALL) as rx:
        with pytest.raises(ValueError, match="timeout must be"):
            rx.read(timeout=timeout)
        with pytest.raises(ValueError, match="timeout must be"):
            rx.read_view(timeout=timeout)


def test_read_refuses_a_timeout_string(veth):
    with RxRing(veth.b, **SMALL) as rx:
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None, got str"):
            rx.read(timeout="0")


def test_read_refuses_a_huge_max_packets_with_a_value_error(veth):
    with RxRing(veth.b, **SMALL) as rx:
        with pytest.raises(ValueError, match="max_packets must be at most 4294967295, got 9223372036854775808"):
            rx.read(max_packets=2**63, timeout=0)
        with pytest.raises(ValueError, match="max_packets must be at most"):
            rx.read_view(max_packets=2**64, timeout=0)
        assert len(rx.read(max_packets=2**32 - 1, timeout=0)) == 0


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), 0, -3])
def test_capture_refuses_durations_that_never_or_already_end(veth, duration):
    with pytest.raises(ValueError, match="duration must be"):
        capture(veth.b, duration=duration)
