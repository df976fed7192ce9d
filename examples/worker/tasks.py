"""Tasks of the reports team, run by long-poll workers: ``sqstask worker tasks:handle``.

``render-report`` renders one page at a time and can run for many minutes, far longer than the
queue's visibility timeout (2 minutes): the worker's heartbeat keeps extending the message's
visibility (and the task's lease in the task table) while ``handle`` runs, so no other worker
receives it meanwhile, and a worker that dies stops extending, so the task comes back quickly.
``resize-image`` is a quick one. A report is written to a temporary file and renamed into place
when complete, so a run cut short leaves no partial report.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqstask import Task

PAGE_SECONDS = 2.0  # how long rendering one page takes here


def output_dir() -> Path:
    """Where reports are written: $REPORTS_DIR, else the system's temporary folder."""
    return Path(os.environ.get("REPORTS_DIR") or tempfile.gettempdir())


def render_page(report: str, page: int) -> str:
    """Render one page (the slow part of the work)."""
    time.sleep(PAGE_SECONDS)
    return f"{report}: page {page}\n"


def render_report(task: Task) -> dict[str, Any]:
    """Render every page, then publish the report in one rename."""
    pages = int(task.payload["pages"])
    target = output_dir() / f"{task.task_id}.txt"
    partial = target.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as fh:
        for page in range(1, pages + 1):
            fh.write(render_page(task.payload["report"], page))
    partial.replace(target)
    return {"report": str(target), "pages": pages}


def resize_image(task: Task) -> dict[str, Any]:
    """Resize one image (here: compute the new size)."""
    width, height = task.payload["width"], task.payload["height"]
    scale = task.payload.get("max_side", 1024) / max(width, height)
    return {"width": round(width * scale), "height": round(height * scale)}


def handle(task: Task) -> dict[str, Any]:
    """Run one task; raise to have it retried with backoff (then dead-lettered)."""
    if task.task_type == "render-report":
        return render_report(task)
    if task.task_type == "resize-image":
        return resize_image(task)
    raise ValueError(f"the reports worker does not handle {task.task_type!r} tasks")
