"""Retry spacing: exponential backoff with jitter, expressed as an SQS visibility timeout."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MAX_VISIBILITY_TIMEOUT = 43200  # SQS: 12 hours


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt ``n + 1`` after attempt ``n`` failed: ``base * 2**(n-1)``, capped.

    ``jitter`` is the fraction of each delay that is randomised away: 0 gives exact
    exponential delays, 0.5 ("equal jitter", the default) a delay between half and all of
    it, 1 ("full jitter") anything from 0 to all of it. Delays are whole seconds because
    they become SQS visibility timeouts (0..43200).
    """

    base: float = 5.0
    cap: float = 900.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.base < 0:
            raise ValueError(f"backoff base must be >= 0 seconds, got {self.base}")
        if not 0 <= self.cap <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(f"backoff cap must be 0..{MAX_VISIBILITY_TIMEOUT} seconds (SQS visibility limit), got {self.cap}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"backoff jitter must be between 0 and 1, got {self.jitter}")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt ``attempt`` (1-based), capped."""
        exponent = max(0, int(attempt) - 1)
        if exponent > 60:  # 2**60 * base overflows any sensible cap (a zero base stays zero)
            return self.cap if self.base > 0 else 0.0
        return min(self.cap, self.base * (2**exponent))

    def delay(self, attempt: int) -> int:
        """Seconds to keep the message invisible after failed attempt ``attempt`` (1-based)."""
        ceiling = self.ceiling(attempt)
        value = ceiling - self.rng.uniform(0.0, self.jitter * ceiling) if self.jitter else ceiling
        return max(0, min(MAX_VISIBILITY_TIMEOUT, int(round(value))))
