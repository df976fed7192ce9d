"""Task functions run by worker and lambda-local subprocesses in the tests (``exec_tasks:record``).

They write to files in ``$EXEC_TASKS_DIR``: ``started.log`` gets ``<task id>`` when a task
starts, ``effects.log`` gets ``<task id>`` when it finishes (the side effect to count). With
``EXEC_TASKS_BLOCK=1`` a task whose payload has ``"block": true`` waits for the file ``go``
(at most ``EXEC_TASKS_BLOCK_LIMIT`` seconds, default 120) before finishing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqstask import batch_handler


def _append(name: str, line: str) -> None:
    path = Path(os.environ["EXEC_TASKS_DIR"]) / name
    with open(path, "a", encoding="utf-8") as fh:  # one short O_APPEND write: atomic across processes
        fh.write(line + "\n")


def record(task):
    """Record the start and (after an optional wait) the effect of ``task``."""
    _append("started.log", task.task_id)
    if os.environ.get("EXEC_TASKS_BLOCK") == "1" and isinstance(task.payload, dict) and task.payload.get("block"):
        go = Path(os.environ["EXEC_TASKS_DIR"]) / "go"
        deadline = time.monotonic() + float(os.environ.get("EXEC_TASKS_BLOCK_LIMIT", "120"))
        while not go.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never created the go file")
            time.sleep(0.05)
    if isinstance(task.payload, dict) and task.payload.get("fail"):
        raise RuntimeError(f"task {task.task_id} was asked to fail")
    _append("effects.log", task.task_id)
    return {"done": task.task_id}


lambda_handler = batch_handler(record)

