"""Queue configuration: the Terraform module's ``sdk_config`` output or ``SQSTASK_*`` variables."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .priorities import PriorityTiers

MAX_VISIBILITY_TIMEOUT = 43200
MIN_MESSAGE_SIZE = 1024
MAX_MESSAGE_SIZE = 1048576
DEFAULT_MAX_ATTEMPTS = 5  # the module's max_attempts default
MAX_ATTEMPTS_LIMIT = 99  # the module's limit: the backstop maxReceiveCount, 10 x (max_attempts + 1), stays within 1000

_STR_KEYS = (
    "queue_url",
    "dlq_url",
    "idempotency_table",
    "payload_bucket",
    "region",
    "endpoint_url",
    "schedule_group",
    "scheduler_role_arn",
    "schedule_dead_letter_arn",
    "queue_arn",
    "dlq_arn",
    "name",
    "metrics_namespace",
    "default_priority",
)
_BOOL_KEYS = ("metrics",)
_INT_KEYS = ("visibility_timeout", "max_message_size", "max_attempts")

# Individual variables, each overriding the same key of the JSON config.
ENV_VARS: dict[str, str] = {
    "SQSTASK_QUEUE_URL": "queue_url",
    "SQSTASK_DLQ_URL": "dlq_url",
    "SQSTASK_IDEMPOTENCY_TABLE": "idempotency_table",
    "SQSTASK_PAYLOAD_BUCKET": "payload_bucket",
    "SQSTASK_REGION": "region",
    "SQSTASK_ENDPOINT_URL": "endpoint_url",
    "SQSTASK_VISIBILITY_TIMEOUT": "visibility_timeout",
    "SQSTASK_MAX_MESSAGE_SIZE": "max_message_size",
    "SQSTASK_MAX_ATTEMPTS": "max_attempts",
    "SQSTASK_ALARM_NAMES": "alarm_names",
    "SQSTASK_SCHEDULE_GROUP": "schedule_group",
    "SQSTASK_SCHEDULER_ROLE_ARN": "scheduler_role_arn",
    "SQSTASK_SCHEDULE_DEAD_LETTER_ARN": "schedule_dead_letter_arn",
    "SQSTASK_METRICS": "metrics",
    "SQSTASK_METRICS_NAMESPACE": "metrics_namespace",
}
_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no")
# CloudWatch namespaces: 1..255 of these characters, and not AWS's own "AWS/" prefix.
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9.\-_/#: ]{1,255}")


@dataclass(frozen=True)
class QueueConfig:
    """Everything the SDK needs to reach one team's queue and its companions."""

    queue_url: str
    dlq_url: str | None = None
    idempotency_table: str | None = None
    payload_bucket: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    visibility_timeout: int = 300
    max_message_size: int = MAX_MESSAGE_SIZE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # handler runs per task id before the SDK dead-letters it
    alarm_names: tuple[str, ...] = ()
    schedule_group: str | None = None
    scheduler_role_arn: str | None = None
    # Standard queue for schedule runs Scheduler could not deliver (delayed sends use it too).
    schedule_dead_letter_arn: str | None = None
    queue_arn: str | None = None
    dlq_arn: str | None = None
    name: str | None = None
    metrics: bool = True  # EMF task metrics on stdout (sqstask.metrics)
    metrics_namespace: str = "sqstask"
    # Priority tiers, highest first, and each tier's queue (empty: one tier, queue_url).
    priorities: tuple[str, ...] = ()
    default_priority: str | None = None
    priority_queue_urls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self)

    @property
    def queue_name(self) -> str:
        """The queue's name: the last path segment of its URL."""
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def dlq_name(self) -> str | None:
        """The dead-letter queue's name, when a DLQ URL is configured."""
        return self.dlq_url.rstrip("/").rsplit("/", 1)[-1] if self.dlq_url else None

    @property
    def tiers(self) -> PriorityTiers:
        """The priority tiers (one tier, this queue, when the module declares none)."""
        from .priorities import tiers_from

        return tiers_from(
            {"priorities": self.priorities, "default_priority": self.default_priority,
             "priority_queue_urls": self.priority_queue_urls},
            self.queue_url,
        )

    def with_overrides(self, **values: Any) -> QueueConfig:
        """A copy with the given non-None values replaced."""
        changes = {k: v for k, v in values.items() if v is not None}
        if "alarm_names" in changes:
            changes["alarm_names"] = tuple(changes["alarm_names"])
        return replace(self, **changes) if changes else self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "configuration") -> QueueConfig:
        """Build from a mapping shaped like ``sdk_config``; unknown keys are ignored."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source} must be a JSON object, got {type(data).__name__}")
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for key, raw in data.items():
            if key not in known or raw is None:
                continue
            values[key] = _coerce(key, raw, source)
        if not values.get("queue_url"):
            raise ConfigError(f"{source} has no queue_url: set it to the queue's URL (the module's sdk_config has it)")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str, source: str = "SQSTASK_CONFIG") -> QueueConfig:
        """Parse the module's ``sdk_config`` JSON string."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source} is not valid JSON ({exc}); expected the module's sdk_config output") from None
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QueueConfig:
        """Read ``SQSTASK_CONFIG``/``SQSTASK_CONFIG_FILE`` and individual ``SQSTASK_*`` variables.

        Individual variables override the JSON; the region falls back to ``AWS_REGION`` and
        ``AWS_DEFAULT_REGION``.
        """
        env = os.environ if environ is None else environ
        base: dict[str, Any] = {}
        if env.get("SQSTASK_CONFIG"):
            base = dict(_load_json_object(env["SQSTASK_CONFIG"], "SQSTASK_CONFIG"))
        elif env.get("SQSTASK_CONFIG_FILE"):
            path = env["SQSTASK_CONFIG_FILE"]
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise ConfigError(f"SQSTASK_CONFIG_FILE: cannot read {path}: {exc.strerror or exc}") from None
            base = dict(_load_json_object(text, f"SQSTASK_CONFIG_FILE ({path})"))
        source = "SQSTASK_CONFIG" if env.get("SQSTASK_CONFIG") else "SQSTASK_CONFIG_FILE"
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for key, raw in base.items():
            if key in known and raw is not None:
                values[key] = _coerce(key, raw, source)
        for var, key in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[key] = _coerce(key, raw, var)
        if not values.get("region"):
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if region:
                values["region"] = region
        if not values.get("queue_url"):
            raise ConfigError(
                "SQSTASK_QUEUE_URL is not set: set SQSTASK_CONFIG to the module's sdk_config output "
                "or SQSTASK_QUEUE_URL to the queue's URL"
            )
        return cls(**values)


def _load_json_object(text: str, source: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source} is not valid JSON ({exc}); expected the module's sdk_config output") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source} must be a JSON object, got {type(data).__name__}")
    return data


def _coerce(key: str, raw: Any, source: str) -> Any:
    """Check and convert one value; ``source`` is an env var name or a JSON source."""
    label = source if source in ENV_VARS else f"{source} key {key!r}"
    if key in _STR_KEYS:
        if not isinstance(raw, str):
            raise ConfigError(f"{label} must be a string, got {type(raw).__name__}")
        return raw
    if key in _INT_KEYS:
        if isinstance(raw, bool):
            raise ConfigError(f"{label} must be an integer number of {_unit(key)}, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            return int(raw.strip())
        raise ConfigError(f"{label} must be an integer number of {_unit(key)}, got {raw!r}")
    if key in _BOOL_KEYS:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
            return raw.strip().lower() in _TRUE
        raise ConfigError(f"{label} must be true or false (on/off, 1/0), got {raw!r}")
    if key == "alarm_names":
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, (list, tuple)) and all(isinstance(x, str) for x in raw):
            return tuple(raw)
        raise ConfigError(f"{label} must be a list of alarm names, got {raw!r}")
    if key == "priorities":
        if isinstance(raw, (list, tuple)) and all(isinstance(x, str) and x for x in raw):
            return tuple(raw)
        raise ConfigError(f"{label} must be a list of tier names, highest first, got {raw!r}")
    if key == "priority_queue_urls":
        if isinstance(raw, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            return dict(raw)
        raise ConfigError(f"{label} must map tier names to queue URLs, got {raw!r}")
    return raw


def _unit(key: str) -> str:
    return {"visibility_timeout": "seconds", "max_attempts": "attempts"}.get(key, "bytes")


def _check(cfg: QueueConfig) -> None:
    if not isinstance(cfg.queue_url, str) or not cfg.queue_url:
        raise ConfigError("queue_url must be the queue's URL (SQSTASK_QUEUE_URL), got an empty value")
    # Checked here: the task table's client sends requests without client-side validation (clients.py).
    if cfg.idempotency_table is not None and not isinstance(cfg.idempotency_table, str):
        raise ConfigError(
            "idempotency_table (SQSTASK_IDEMPOTENCY_TABLE) must be the task table's name, a string, "
            f"got {cfg.idempotency_table!r}"
        )
    if not isinstance(cfg.visibility_timeout, int) or not 0 <= cfg.visibility_timeout <= MAX_VISIBILITY_TIMEOUT:
        raise ConfigError(
            f"visibility_timeout (SQSTASK_VISIBILITY_TIMEOUT) must be 0..{MAX_VISIBILITY_TIMEOUT} seconds, "
            f"got {cfg.visibility_timeout!r}"
        )
    if not isinstance(cfg.max_message_size, int) or not MIN_MESSAGE_SIZE <= cfg.max_message_size <= MAX_MESSAGE_SIZE:
        raise ConfigError(
            f"max_message_size (SQSTASK_MAX_MESSAGE_SIZE) must be {MIN_MESSAGE_SIZE}..{MAX_MESSAGE_SIZE} bytes, "
            f"got {cfg.max_message_size!r}"
        )
    if (
        isinstance(cfg.max_attempts, bool)
        or not isinstance(cfg.max_attempts, int)
        or not 1 <= cfg.max_attempts <= MAX_ATTEMPTS_LIMIT
    ):
        raise ConfigError(
            f"max_attempts (SQSTASK_MAX_ATTEMPTS) must be 1..{MAX_ATTEMPTS_LIMIT} handler runs per task, "
            f"got {cfg.max_attempts!r}"
        )
    namespace = cfg.metrics_namespace
    if not isinstance(namespace, str) or not _NAMESPACE_RE.fullmatch(namespace) or namespace.startswith("AWS/"):
        raise ConfigError(
            "metrics_namespace (SQSTASK_METRICS_NAMESPACE) must be a CloudWatch namespace: 1..255 letters, digits "
            f"and . - _ / # : or spaces, not starting with AWS/, got {namespace!r}"
        )
    if not isinstance(cfg.alarm_names, tuple):
        object.__setattr__(cfg, "alarm_names", tuple(cfg.alarm_names))
    if not isinstance(cfg.priorities, tuple):
        object.__setattr__(cfg, "priorities", tuple(cfg.priorities))
    if cfg.priorities:
        cfg.tiers  # noqa: B018 - builds and checks the tiers (ConfigError on a mismatch)
