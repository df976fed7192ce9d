"""Priority tiers: one FIFO queue per tier, highest first, and how a priority names a tier.

SQS has no per-message priority, so the module creates a queue per tier (``priorities``,
highest first) and consumers prefer the higher tiers. A priority is a tier name, or one of
seed 004's integers 0-9 (higher = more urgent), which map onto the tiers in equal bands from
the top: with ``n`` tiers, level ``p`` goes to tier index ``(9 - p) * n // 10``. With three
tiers ``["urgent", "default", "bulk"]``: 9-6 -> urgent, 5-3 -> default, 2-0 -> bulk; with ten
tiers each level is its own tier. Ordering and de-duplication hold per message group *within a
tier*: the same group id in two tiers is two independent sequences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigError, InvalidTaskError

MIN_LEVEL = 0
MAX_LEVEL = 9
PRIORITY_ATTRIBUTE = "sqstask-priority"


class UnknownPriority(InvalidTaskError):
    """A priority that names no tier of this queue (or an integer outside 0-9)."""


def tier_for_level(level: int, tiers: Sequence[str]) -> str:
    """The tier seed 004's integer priority ``level`` (0-9, 9 most urgent) maps onto."""
    if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
        raise UnknownPriority(f"an integer priority must be {MIN_LEVEL}..{MAX_LEVEL} (higher = more urgent), got {level!r}")
    return tiers[(MAX_LEVEL - level) * len(tiers) // (MAX_LEVEL + 1)]


@dataclass(frozen=True)
class PriorityTiers:
    """A queue's tiers, highest first, each tier's queue URL, and the default tier."""

    names: tuple[str, ...]
    urls: Mapping[str, str] = field(default_factory=dict)
    default: str = "default"

    def __post_init__(self) -> None:
        if not self.names:
            raise ConfigError("priorities must name at least one tier")
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"priorities must be distinct, got {list(self.names)}")
        missing = [name for name in self.names if not self.urls.get(name)]
        if missing:
            raise ConfigError(f"priority_queue_urls has no URL for tier(s) {', '.join(missing)}")
        if self.default not in self.names:
            raise ConfigError(f"default_priority {self.default!r} is not one of the priorities {list(self.names)}")

    @classmethod
    def single(cls, queue_url: str, name: str = "default") -> PriorityTiers:
        """The one tier of a queue without priorities."""
        return cls((name,), {name: queue_url}, name)

    @property
    def tiered(self) -> bool:
        """True when there is more than one tier."""
        return len(self.names) > 1

    def resolve(self, priority: str | int | None) -> str:
        """The tier name ``priority`` (a tier name, an integer 0-9, or None: the default) selects."""
        if priority is None:
            return self.default
        if isinstance(priority, str):
            if priority in self.urls:
                return priority
            raise UnknownPriority(
                f"unknown priority {priority!r}: this queue's tiers are {', '.join(self.names)} (highest first), "
                f"or an integer {MIN_LEVEL}..{MAX_LEVEL}"
            )
        if isinstance(priority, int) and not isinstance(priority, bool):
            return tier_for_level(priority, self.names)
        raise UnknownPriority(f"a priority must be a tier name or an integer 0..9, got {type(priority).__name__}")

    def url(self, priority: str | int | None = None) -> str:
        """The queue URL of the tier ``priority`` selects."""
        return self.urls[self.resolve(priority)]

    def rank(self, tier: str) -> int:
        """0 for the highest tier, 1 for the next, ..."""
        return self.names.index(tier)

    def of_queue(self, queue_name_or_arn_or_url: str) -> str | None:
        """The tier whose queue has this name (or ARN, or URL), or None."""
        name = queue_name_or_arn_or_url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        for tier, url in self.urls.items():
            if url.rstrip("/").rsplit("/", 1)[-1] == name:
                return tier
        return None

    def ordered(self) -> list[tuple[str, str]]:
        """(tier, queue URL) pairs, highest first."""
        return [(name, self.urls[name]) for name in self.names]


def tiers_from(values: Mapping[str, Any], queue_url: str) -> PriorityTiers:
    """Tiers from sdk_config-shaped values; a config without them has one tier, its queue."""
    names = values.get("priorities")
    if not names:
        return PriorityTiers.single(queue_url, values.get("default_priority") or "default")
    return PriorityTiers(tuple(names), dict(values.get("priority_queue_urls") or {}),
                         values.get("default_priority") or names[-1])
