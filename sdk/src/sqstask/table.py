"""Rendering for the CLI: plain-text tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

MAX_CELL_WIDTH = 48
ELLIPSIS = "..."


def format_duration(seconds: float | None) -> str:
    """A short human duration: ``42s``, ``3m12s``, ``2h05m``, ``4d03h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = int(max(0, round(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def format_time(when: datetime | None) -> str:
    """UTC timestamp to the second (``2026-01-02 03:04:05Z``); ``-`` when unknown."""
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _cell(value: Any, width: int) -> str:
    if value is None or value == "":
        text = "-"
    elif isinstance(value, datetime):
        text = format_time(value)
    else:
        text = str(value)
    text = " ".join(text.split())  # one line per row, whatever the value holds
    if len(text) > width:
        text = text[: max(0, width - len(ELLIPSIS))] + ELLIPSIS
    return text


def render_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    max_width: int = MAX_CELL_WIDTH,
) -> str:
    """Rows as an aligned text table; ``columns`` are ``(key, header)`` pairs, in order.

    Missing or empty values show as ``-``; long values are cut to ``max_width`` characters
    with ``...``; numbers are right-aligned.
    """
    headers = [header for _, header in columns]
    cells = [[_cell(row.get(key), max_width) for key, _ in columns] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool) for row in rows)
        for key, _ in columns
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in cells])


def render_fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """``label  value`` lines with the labels aligned; a list value takes one line per item."""
    if not pairs:
        return ""
    width = max(len(label) for label, _ in pairs)
    out = []
    for label, value in pairs:
        items = list(value) if isinstance(value, (list, tuple)) and value else [value]
        for n, item in enumerate(items):
            text = "-" if item is None or item == "" else (format_time(item) if isinstance(item, datetime) else str(item))
            out.append(f"{(label if n == 0 else '').ljust(width)}  {text}".rstrip())
    return "\n".join(out)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def render_json(value: Any) -> str:
    """``value`` as indented JSON; datetimes become ISO-8601 UTC with ``Z``."""
    return json.dumps(value, indent=2, sort_keys=True, default=_default, ensure_ascii=False)
