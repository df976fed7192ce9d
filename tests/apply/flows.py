"""Run the SDK and the `sqstask` CLI on applied resources as a given principal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from localaws import Principal
from sqstask import QueueConfig, TaskQueue

HERE = Path(__file__).resolve().parent
SQSTASK = [sys.executable, "-m", "sqstask.cli"]
CLI_TIMEOUT_SECONDS = 180


def queue_as(principal: Principal, sdk_config: str) -> TaskQueue:
    """A TaskQueue configured only by sdk_config, acting as `principal`."""
    return TaskQueue(
        config=QueueConfig.from_json(sdk_config),
        session=principal.session(),
        endpoint_url=principal.server.endpoint,
    )


def cli(principal: Principal, sdk_config: str, *args: str, cwd: Path = HERE, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """`sqstask ARGS` as `principal`, configured by SQSTASK_CONFIG=sdk_config; fails with its output."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQSTASK_"))}
    environment.update(principal.env(), SQSTASK_CONFIG=sdk_config, **(env or {}))
    result = subprocess.run(
        [*SQSTASK, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"sqstask {' '.join(args)} as {principal.name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def cli_json(principal: Principal, sdk_config: str, *args: str) -> Any:
    return json.loads(cli(principal, sdk_config, *args, "--json").stdout)
