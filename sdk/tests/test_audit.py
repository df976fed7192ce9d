"""Audit log: one JSON line per task state change on the ``sqstask`` logger."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timezone

import pytest

from sqstask.audit import JsonFormatter, configure_json_logging, log_event
from sqstask.task import Task


@pytest.fixture
def task() -> Task:
    return Task(
        task_id="t-1",
        task_type="resize",
        payload={"w": 1},
        group_id="g",
        receive_count=2,
        message_id="m-1",
        sent_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
    )


@pytest.fixture
def sqstask_logger():
    logger = logging.getLogger("sqstask")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield logger
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


def test_log_event_writes_one_json_line_with_the_task_identity(task, caplog):
    caplog.set_level(logging.INFO, logger="sqstask")
    log_event("succeeded", task, duration_ms=12, error=None)
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert json.loads(record.getMessage()) == {
        "event": "succeeded",
        "task_id": "t-1",
        "task_type": "resize",
        "group_id": "g",
        "attempt": 2,
        "message_id": "m-1",
        "duration_ms": 12,
    }


def test_failure_events_are_warnings(task, caplog):
    caplog.set_level(logging.INFO, logger="sqstask")
    log_event("failed", task, error_type="ValueError", error="bad")
    log_event("gave-up", task)
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]


def test_configure_json_logging_writes_json_lines_to_the_stream(task, sqstask_logger):
    stream = io.StringIO()
    handler = configure_json_logging("INFO", stream, force=True)
    assert isinstance(handler.formatter, JsonFormatter)
    log_event("started", task)
    sqstask_logger.info("plain %s", "text")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "started" and first["task_id"] == "t-1" and first["level"] == "INFO"
    assert first["ts"].endswith("Z")
    assert second["message"] == "plain text"


def test_configure_json_logging_leaves_an_application_configured_logging_alone(sqstask_logger, monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(io.StringIO())])
    assert configure_json_logging(logging.INFO) is None
    assert not any(isinstance(h.formatter, JsonFormatter) for h in sqstask_logger.handlers)


def test_configure_json_logging_is_idempotent(sqstask_logger):
    first = configure_json_logging(logging.INFO, io.StringIO(), force=True)
    assert configure_json_logging(logging.DEBUG, io.StringIO(), force=True) is first
    assert sum(isinstance(h.formatter, JsonFormatter) for h in sqstask_logger.handlers) == 1
