"""Cold start: what a handler's imports (and first invocation) add to ``import boto3``.

Each run is a fresh interpreter (``python -c`` with the code of ``coldstart_probe.py``) that
times ``import boto3``, then the library imports a handler module makes — sqstask's
``batch_handler``/``Task``, or the Powertools names for the same job — then the first
invocation of one record against canned DynamoDB answers (client creation included, and
whatever sqstask imports lazily). Variants run interleaved, after one untimed warm-up each.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .workload import fake_aws_environment

PROBE = Path(__file__).with_name("coldstart_probe.py")
VARIANTS = ("boto3", "sqstask", "powertools")
IMPORTS = {
    "boto3": "import boto3",
    "sqstask": "import boto3; import sqstask; from sqstask import batch_handler, Task",
    "powertools": (
        "import boto3; from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, "
        "process_partial_response; from aws_lambda_powertools.utilities.idempotency import "
        "DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function"
    ),
}


@dataclass
class ColdStart:
    """Per variant, the probe's measurements of every timed run."""

    runs: int
    python: str
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def median_ms(self, variant: str, key: str) -> float:
        """Median of ``key`` (import_boto3, import_library, first_invocation) in milliseconds."""
        return statistics.median(s[key] for s in self.samples[variant]) * 1000

    def calls(self, variant: str) -> dict[str, int]:
        """Canned DynamoDB calls of the first invocation (the same in every run)."""
        return self.samples[variant][0]["calls"]


def _event() -> str:
    from .overhead import synthetic_events

    return json.dumps(synthetic_events(1)[0])


def probe(variant: str, event: str, *, python: str = sys.executable) -> dict[str, Any]:
    """One fresh interpreter: the probe's JSON line for ``variant``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "SQSTASK_", "POWERTOOLS_", "PYTHON"))}
    env.update(fake_aws_environment())
    with tempfile.TemporaryDirectory() as cwd:  # nothing importable by accident from the cwd
        completed = subprocess.run(
            [python, "-c", PROBE.read_text(encoding="utf-8"), variant, event],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"cold-start probe {variant!r} failed: {completed.stderr.strip()[-2000:]}")
    sample = json.loads(completed.stdout.strip().splitlines()[-1])
    if sample["failures"]:
        raise RuntimeError(f"cold-start probe {variant!r}: the first invocation reported a failed record")
    return sample


def cold_start(runs: int = 15) -> ColdStart:
    """``runs`` timed fresh interpreters per variant, interleaved, after one warm-up each."""
    event = _event()
    result = ColdStart(runs, sys.version.split()[0], {v: [] for v in VARIANTS})
    for variant in VARIANTS:
        probe(variant, event)  # warm-up: byte-code caches, page cache
    for _ in range(runs):
        for variant in VARIANTS:
            result.samples[variant].append(probe(variant, event))
    return result
