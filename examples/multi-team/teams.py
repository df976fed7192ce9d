"""One config file per team from the ``sdk_configs`` output, and a TaskQueue per team.

    terraform output -json sdk_configs | python teams.py configs/
    sqstask dlq list --config configs/payments.json

Each file holds that team's ``sdk_config`` (what ``SQSTASK_CONFIG`` would hold), so each team's
services and on-call engineers use their own queue, and only with their own team's role.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqstask import QueueConfig, TaskQueue


def team_configs(output: str | Mapping[str, Any]) -> dict[str, QueueConfig]:
    """The ``sdk_configs`` output (``terraform output -json`` text or the parsed map) as QueueConfigs by team."""
    data = json.loads(output) if isinstance(output, str) else output
    if not isinstance(data, Mapping) or not data:
        raise ValueError("expected the sdk_configs output: a JSON object of team name -> sdk_config")
    return {team: QueueConfig.from_json(config, source=f"sdk_configs[{team!r}]") for team, config in data.items()}


def team_queues(output: str | Mapping[str, Any]) -> dict[str, TaskQueue]:
    """A TaskQueue per team (clients are created on first use)."""
    return {team: TaskQueue.from_config(config) for team, config in team_configs(output).items()}


def write_configs(output: str | Mapping[str, Any], directory: Path) -> list[Path]:
    """Write ``<directory>/<team>.json`` with each team's sdk_config; returns the paths."""
    data = json.loads(output) if isinstance(output, str) else output
    team_configs(data)  # validate before writing anything
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for team, config in sorted(data.items()):
        path = directory / f"{team}.json"
        path.write_text(json.dumps(json.loads(config), indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``terraform output -json sdk_configs | python teams.py DIRECTORY``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: terraform output -json sdk_configs | python teams.py DIRECTORY", file=sys.stderr)
        return 2
    try:
        paths = write_configs(sys.stdin.read(), Path(args[0]))
    except ValueError as exc:
        print(f"teams.py: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
