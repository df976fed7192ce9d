"""Task code the applied flows run with `sqstask worker flow_tasks:handle` (this folder is the
working directory). Each run appends `<task_id> <task_type>` to the file in FLOW_RECORD."""

from __future__ import annotations

import os
import time
from typing import Any

from sqstask import Task


def handle(task: Task) -> dict[str, Any]:
    """`slow` sleeps `seconds` (longer than the visibility timeout); `poison` always fails."""
    if task.task_type == "poison":
        raise ValueError(f"poison task {task.task_id}: this payload can never be processed")
    if task.task_type == "slow":
        time.sleep(float(task.payload["seconds"]))
    with open(os.environ["FLOW_RECORD"], "a", encoding="utf-8") as record:
        record.write(f"{task.task_id} {task.task_type} {len(str(task.payload))}\n")
    return {"ok": True}
