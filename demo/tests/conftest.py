"""`make demo` as a user runs it starts when collection ends, in its own process, so its
Terraform apply and destroy (mostly waiting on the AWS provider) overlap the rest of the
suite; `test_make_demo_...` waits for it (bounded) and reads what it printed."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
END_TO_END = "test_make_demo_applies_the_module_runs_the_whole_flow_and_ends_with_the_exactly_once_summary"
DEMO_RUN = pytest.StashKey["DemoRun"]()


class DemoRun:
    """`python -m demo` running in the background; `wait()` returns (exit code, stdout, stderr)."""

    def __init__(self) -> None:
        self._out = tempfile.TemporaryFile(mode="w+")
        self._err = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([sys.executable, "-m", "demo"], cwd=ROOT, stdout=self._out,
                                        stderr=self._err, stdin=subprocess.DEVNULL, text=True)

    def wait(self, timeout: float) -> tuple[int, str, str]:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = -9
        self._out.seek(0)
        self._err.seek(0)
        return code, self._out.read(), self._err.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The end-to-end test only waits for the background run: last, so that everything else in
    # the session (the applied tests, when they run in the same process) overlaps the demo.
    items.sort(key=lambda item: item.name == END_TO_END)


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.name == END_TO_END for item in session.items):
        session.config.stash[DEMO_RUN] = DemoRun()


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(DEMO_RUN, None)
    if run is not None:
        run.stop()


@pytest.fixture
def demo_run(request: pytest.FixtureRequest) -> DemoRun:
    return request.config.stash[DEMO_RUN]
