"""Fixtures for the examples' Python tests: fake credentials, in-process moto, a team's resources.

``make_team(name, **settings)`` creates the resources the SDK talks to (queue, DLQ with
redrive, task table, payload bucket: ``tests/sdk_resources.py``; the module itself is applied by
real Terraform in ``tests/apply``), points ``SQSTASK_CONFIG`` at them as the module's
``sdk_config`` output would, and returns that config. ``load_example("basic/producer.py")`` imports an example's module by path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; no SQSTASK_* or profile from the environment leaks in."""
    for name in list(os.environ):
        if name.startswith("SQSTASK_") or name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def aws() -> Iterator[Callable[[str], Any]]:
    """In-process moto for the test; yields a factory of boto3 clients."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                clients[service] = boto3.client(service, region_name=REGION)
            return clients[service]

        yield client


@pytest.fixture
def make_team(aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """Factory: create the resources the SDK uses for a team; set SQSTASK_CONFIG; return its config."""
    from sdk_resources import create_sdk_resources

    def make(name: str = "billing", **settings: Any) -> dict[str, Any]:
        config = create_sdk_resources(aws, name, region=REGION, **settings)
        monkeypatch.setenv("SQSTASK_CONFIG", json.dumps(config))
        return config

    return make


@pytest.fixture
def load_example() -> Iterator[Callable[[str], ModuleType]]:
    """Import ``<example>/<file>.py`` by path (its folder importable too, as when run there)."""
    added: list[str] = []
    loaded: list[str] = []

    def load(relative: str) -> ModuleType:
        path = EXAMPLES / relative
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
            added.append(folder)
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader, f"cannot load {path}"
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for folder in added:
        sys.path.remove(folder)
    for name in loaded:
        sys.modules.pop(name, None)
