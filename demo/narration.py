"""How the demo tells its story: steps, facts, commands and progress lines, and the SDK's
audit events it collects along the way."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO


class Narrator:
    """Writes the demo's story: steps, facts, commands with their output, progress lines."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._progress_open = False
        self._last_progress = ""
        self._last_progress_at: float | None = None

    def _write(self, text: str) -> None:
        if self._progress_open:
            self.out.write("\n")
            self._progress_open = False
        self.out.write(text + "\n")
        self.out.flush()

    def title(self, text: str) -> None:
        self._write(text)

    def step(self, number: int, total: int, text: str) -> None:
        self._write(f"\n[{number}/{total}] {text}")

    def say(self, text: str = "") -> None:
        self._write(f"  {text}" if text else "")

    def fact(self, label: str, text: str) -> None:
        self._write(f"  {label:<14}{text}")

    def block(self, text: str, indent: str = "    ") -> None:
        lines = text.rstrip("\n").splitlines() or [""]
        self._write("\n".join(indent + line if line else "" for line in lines))

    def progress(self, text: str, *, every: float = 5.0) -> None:
        """A progress line: rewritten in place on a terminal, else printed at most every ``every`` s."""
        if text == self._last_progress:
            return
        now = time.monotonic()
        if self.tty:
            self.out.write("\r  " + text.ljust(max(len(self._last_progress), len(text))))
            self.out.flush()
            self._progress_open = True
        elif self._last_progress_at is None or now - self._last_progress_at >= every:
            self._write(f"  {text}")
        else:
            return
        self._last_progress, self._last_progress_at = text, now

    def done(self, text: str) -> None:
        """The final state of a progress line."""
        if self.tty and self._progress_open:
            self.out.write("\r  " + text.ljust(len(self._last_progress)) + "\n")
            self.out.flush()
            self._progress_open = False
        else:
            self._write(f"  {text}")
        self._last_progress, self._last_progress_at = "", None


# -- the audit log ---------------------------------------------------------------------------


class EventLog(logging.Handler):
    """Collects the SDK's audit events (the ``sqstask`` logger's JSON lines) while the demo runs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._events: list[dict[str, Any]] = []
        self._lock_events = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        data = getattr(record, "sqstask_event", None)
        if isinstance(data, dict):
            with self._lock_events:
                self._events.append(dict(data, level=record.levelname))

    def events(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """Recorded events named ``event`` whose fields equal ``match``."""
        with self._lock_events:
            found = list(self._events)
        return [
            e for e in found
            if (event is None or e.get("event") == event) and all(e.get(k) == v for k, v in match.items())
        ]

    def count(self, event: str, **match: Any) -> int:
        return len(self.events(event, **match))

    @contextlib.contextmanager
    def capturing(self) -> Iterator[EventLog]:
        """Attach to the ``sqstask`` logger (INFO), keeping JSON lines off the terminal."""
        from sqstask.audit import JsonFormatter

        logger = logging.getLogger("sqstask")
        saved = (logger.level, list(logger.handlers), logger.propagate)
        logger.handlers[:] = [h for h in logger.handlers if not isinstance(h.formatter, JsonFormatter)]
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        try:
            yield self
        finally:
            logger.setLevel(saved[0])
            logger.handlers[:] = saved[1]
            logger.propagate = saved[2]
