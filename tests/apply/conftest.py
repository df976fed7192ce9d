"""Applied tests: every example applied by real Terraform and the real AWS provider to its own
moto server (tests/localaws), checked, then destroyed.

Applies start in the background as soon as collection ends and the applied tests run last, so
the applies overlap the rest of the suite. `make test-apply` runs these alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from localaws.pool import Applied, ApplyPool

ROOT = Path(__file__).resolve().parents[2]


def _lambda_package() -> Mapping[str, Any]:
    """examples/lambda-consumer needs its zip: build it into a temporary folder."""
    import importlib.util
    import tempfile

    spec = importlib.util.spec_from_file_location("lambda_consumer_build", ROOT / "examples" / "lambda-consumer" / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    output = Path(tempfile.mkdtemp(prefix="localaws-lambda-")) / "consumer.zip"
    return {"package": str(build.build(output))}


# Example folder -> the variables its apply needs (or a function computing them).
EXAMPLES: dict[str, Mapping[str, Any] | Callable[[], Mapping[str, Any]]] = {
    "basic": {},
    "worker": {},
    "lambda-consumer": _lambda_package,
    "multi-team": {},
}

# Further applies of an example with other variables: name -> (example folder, variables).
VARIANTS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "worker-tiers": ("worker", {"name": "reports-tiers", "priorities": ["urgent", "default", "bulk"]}),
}

# Extra module arguments per example (or variant): basic and multi-team get one schedule so that
# `sqstask schedules list|enable|disable|run` have something to act on (no example declares
# schedules); worker-tiers also runs with a customer managed key (`create_kms_key`), so the role
# matrix runs once with SQS-managed SSE and once with the team's key, without another apply.
MODULE_ARGUMENTS: dict[str, dict[str, str]] = {
    "basic": {
        "schedules": '{ nightly-report = { expression = "cron(0 2 * * ? *)", task_type = "nightly-report", payload = "{\\"scope\\":\\"all\\"}", group_id = "reports" } }',
    },
    "multi-team": {
        "schedules": '{ nightly-report = { expression = "cron(0 2 * * ? *)", task_type = "nightly-report", payload = "{}", group_id = "reports" } }',
    },
    "worker-tiers": {
        "create_kms_key": "true",
        "schedules": '{ nightly-report = { expression = "cron(0 2 * * ? *)", task_type = "nightly-report", payload = "{}", group_id = "reports" } }',
    },
}

_POOL_KEY = pytest.StashKey[ApplyPool]()
_SUMMARY_KEY = pytest.StashKey[list[str]]()


def _examples_of(items: list[pytest.Item]) -> list[str]:
    names: list[str] = []
    for item in items:
        marker = item.get_closest_marker("apply")
        if marker is not None and marker.args and marker.args[0] not in names:
            names.append(marker.args[0])
    return names


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    # Applied tests last (stable order otherwise): their applies run meanwhile.
    # Destroys after every other applied test: several test files share one example's deployment.
    items.sort(key=lambda item: (item.get_closest_marker("apply") is not None, item.name.startswith("test_destroy")))


def pytest_collection_finish(session: pytest.Session) -> None:
    examples = _examples_of(session.items)
    if not examples:
        return
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    lock = threading.Lock()
    summary: list[str] = []
    started = time.monotonic()

    def log(line: str) -> None:
        text = f"[localaws +{time.monotonic() - started:.0f}s] {line}"
        with lock:
            if "Apply complete!" in line or "Destroy complete!" in line or "applying with" in line or "caps SQS" in line or "added to" in line:
                summary.append(line)
            if reporter is not None:
                reporter.write_line(text)

    pool = ApplyPool(log)
    config.stash[_POOL_KEY] = pool
    config.stash[_SUMMARY_KEY] = summary
    for example in examples:
        folder, variables = VARIANTS.get(example, (example, EXAMPLES.get(example, {})))
        pool.submit(example, folder, variables=variables, module_arguments=MODULE_ARGUMENTS.get(example, {}))


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Destroy tests run after every other applied test: start all destroys together, so their
    # provider waits overlap; each destroy test waits for its own (Applied.destroy).
    if item.name.startswith("test_destroy") and item.get_closest_marker("apply") is not None:
        pool = item.config.stash.get(_POOL_KEY, None)
        if pool is not None:
            pool.destroy_all()


def pytest_sessionfinish(session: pytest.Session) -> None:
    pool = session.config.stash.get(_POOL_KEY, None)
    if pool is not None:
        pool.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summary = config.stash.get(_SUMMARY_KEY, None)
    if summary:
        terminalreporter.section("applied examples (tests/localaws)")
        for line in summary:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def apply_report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Add text (e.g. a role matrix) to the "applied examples" section of pytest's summary."""
    summary = request.config.stash.get(_SUMMARY_KEY, None)

    def report(text: str) -> None:
        print(text)
        if summary is not None:
            summary.append(text)

    return report


@pytest.fixture(scope="module")
def applied(request: pytest.FixtureRequest, apply_pool: ApplyPool) -> Applied:
    """The deployment the test module's `apply` marker names."""
    marker = request.node.get_closest_marker("apply")
    if marker is None or not marker.args:
        pytest.fail(f"{request.node.name} has no apply marker naming its example")
    return apply_pool.get(marker.args[0])


@pytest.fixture(scope="module")
def sdk_config(applied: Applied) -> str:
    """`terraform output -raw sdk_config` of that deployment: what the SDK and CLI are given."""
    return applied.deployment.output_raw("sdk_config")


@pytest.fixture(scope="session")
def apply_pool(request: pytest.FixtureRequest) -> ApplyPool:
    pool = request.config.stash.get(_POOL_KEY, None)
    if pool is None:
        pytest.fail("no applies were started: applied tests need the apply marker with the example's name")
    return pool
