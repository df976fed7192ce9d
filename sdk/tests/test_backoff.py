"""Backoff: exponential retry delays with jitter, as SQS visibility timeouts."""

from __future__ import annotations

import random

import pytest

from sqstask.backoff import MAX_VISIBILITY_TIMEOUT, Backoff


def test_delays_double_per_attempt_without_jitter():
    backoff = Backoff(base=2, cap=900, jitter=0)

    assert [backoff.delay(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]


def test_delay_is_capped():
    backoff = Backoff(base=10, cap=60, jitter=0)

    assert [backoff.delay(n) for n in (3, 4, 50, 10_000)] == [40, 60, 60, 60]


def test_jitter_keeps_delay_between_its_floor_and_ceiling():
    backoff = Backoff(base=100, cap=10_000, jitter=0.5, rng=random.Random(7))

    delays = [backoff.delay(3) for _ in range(200)]

    assert all(200 <= d <= 400 for d in delays)
    assert len(set(delays)) > 10  # actually randomised


def test_full_jitter_can_reach_zero_but_never_exceeds_ceiling():
    backoff = Backoff(base=1, cap=10, jitter=1.0, rng=random.Random(1))

    delays = [backoff.delay(2) for _ in range(200)]

    assert min(delays) == 0 and max(delays) == 2  # the whole range, from 0 up to the ceiling


def test_a_zero_base_never_delays_however_many_attempts():
    backoff = Backoff(base=0, cap=900, jitter=0)

    assert [backoff.delay(n) for n in (1, 2, 60, 61, 62, 10_000)] == [0] * 6


def test_delays_grow_strictly_until_the_cap():
    backoff = Backoff(base=0.5, cap=43200, jitter=0)

    delays = [backoff.delay(n) for n in range(1, 20)]

    assert delays[:4] == [0, 1, 2, 4]  # half a second rounds to whole seconds (round half to even)
    assert all(later == min(43200, 2 * earlier) for earlier, later in zip(delays[1:], delays[2:]))
    assert delays[-1] == 43200
    assert backoff.delay(10_000) == 43200  # far past the overflow shortcut: still the cap


@pytest.mark.parametrize("kwargs", [{"base": 0}, {"base": 0.5}, {"cap": 0}, {"cap": MAX_VISIBILITY_TIMEOUT},
                                    {"jitter": 0.0}, {"jitter": 1.0}])
def test_the_edges_of_the_allowed_ranges_are_accepted(kwargs):
    backoff = Backoff(**kwargs)

    assert backoff.delay(1) <= min(backoff.cap, MAX_VISIBILITY_TIMEOUT)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base": -1}, "base must be >= 0"),
        ({"cap": MAX_VISIBILITY_TIMEOUT + 1}, "SQS visibility limit"),
        ({"jitter": 1.5}, "between 0 and 1"),
    ],
)
def test_invalid_settings_are_rejected_with_the_allowed_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)
