"""examples/worker: the tasks, a long one kept alive by the heartbeat, and the container's command."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path

import pytest

from sqstask import Task, TaskQueue, Worker

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


class Events(logging.Handler):
    """The SDK's audit events (the `sqstask` logger), kept for assertions."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        data = getattr(record, "sqstask_event", None)
        if isinstance(data, dict):
            self.events.append(data)

    def of(self, event: str, task_id: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == event and e.get("task_id") == task_id]


@pytest.fixture
def events():
    logger = logging.getLogger("sqstask")
    handler, level = Events(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def tasks(load_example, monkeypatch, tmp_path):
    module = load_example("worker/tasks.py")
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))
    return module


def task(task_type: str, payload: dict, task_id: str = "t-1") -> Task:
    return Task(task_id=task_id, task_type=task_type, payload=payload, group_id="g", receive_count=1,
                message_id="m-1", sent_at=None)


def queue_is_empty(queue: TaskQueue) -> bool:
    attributes = queue.sqs.get_queue_attributes(QueueUrl=queue.config.queue_url, AttributeNames=["All"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def dockerfile_instruction(name: str) -> list[str]:
    """The JSON-array argument of a Dockerfile instruction (ENTRYPOINT, CMD)."""
    for line in (HERE / "Dockerfile").read_text().splitlines():
        if line.startswith(f"{name} "):
            return json.loads(line[len(name) + 1:])
    raise AssertionError(f"the Dockerfile has no {name}")


def test_a_report_is_rendered_page_by_page_and_published_whole(tasks, tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "PAGE_SECONDS", 0)
    result = tasks.handle(task("render-report", {"report": "q3", "pages": 3}))
    assert result == {"report": str(tmp_path / "t-1.txt"), "pages": 3}
    assert (tmp_path / "t-1.txt").read_text() == "q3: page 1\nq3: page 2\nq3: page 3\n"
    assert not (tmp_path / "t-1.partial").exists()


def test_an_image_is_scaled_to_its_longest_side(tasks):
    assert tasks.handle(task("resize-image", {"width": 4000, "height": 3000, "max_side": 800})) == {"width": 800, "height": 600}


def test_an_unknown_task_type_fails(tasks):
    with pytest.raises(ValueError, match="does not handle 'send-email' tasks"):
        tasks.handle(task("send-email", {}))


def test_a_report_longer_than_the_visibility_timeout_is_received_and_rendered_once(make_team, tasks, tmp_path, monkeypatch, events):
    make_team("reports", visibility_timeout_seconds=4)
    monkeypatch.setattr(tasks, "PAGE_SECONDS", 2.0)  # 3 pages: 6 s on a 4 s visibility timeout
    pages: list[int] = []
    render = tasks.render_page
    monkeypatch.setattr(tasks, "render_page", lambda report, page: pages.append(page) or render(report, page))
    queue = TaskQueue.from_env()
    queue.send("render-report", {"report": "q3", "pages": 3}, group_id="finance", task_id="report-q3")

    worker = Worker(queue, tasks.handle, concurrency=2, visibility_timeout=4, heartbeat_interval=1,
                    wait_seconds=1, idle_exit=2)
    assert worker.run(install_signal_handlers=False) == 0

    assert pages == [1, 2, 3]
    assert len(events.of("received", "report-q3")) == 1, "the heartbeat must keep the message from being redelivered"
    assert events.of("succeeded", "report-q3")
    assert [e for e in events.events if e.get("event") == "extended"], "the heartbeat never extended the visibility"
    assert (tmp_path / "report-q3.txt").read_text().count("page") == 3
    assert queue_is_empty(queue)


def test_the_containers_command_runs_the_worker_on_the_queue(make_team, tasks, monkeypatch):
    """ENTRYPOINT + CMD of the Dockerfile, run in-process from the image's working directory."""
    make_team("reports")
    queue = TaskQueue.from_env()
    queue.send_many([
        {"task_type": "resize-image", "payload": {"width": 100 * n, "height": 50}, "group_id": f"album-{n % 2}"}
        for n in range(1, 6)
    ])
    from sqstask import cli

    entrypoint, cmd = dockerfile_instruction("ENTRYPOINT"), dockerfile_instruction("CMD")
    assert entrypoint[0] == "sqstask"
    monkeypatch.chdir(HERE)  # WORKDIR /app holds tasks.py

    code = cli.main([*entrypoint[1:], *cmd, "--idle-exit", "1", "--wait-seconds", "0", "--log-level", "WARNING"])

    assert code == 0
    assert queue_is_empty(queue)


def test_the_dockerfile_copies_files_that_exist_in_the_repository():
    copies = [shlex.split(line)[1:] for line in (HERE / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert copies, "the Dockerfile copies nothing"
    for *sources, _target in copies:
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository (the build context is its root)"
    assert ["examples/worker/tasks.py", "/app/tasks.py"] in copies
    assert (REPO / "sdk" / "pyproject.toml").is_file()
