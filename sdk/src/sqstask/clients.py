"""How the SDK configures the boto3 clients it creates itself (injected clients are used as given).

Most of a small AWS call's client CPU is boto3's fixed work per call, not the request. Two
parts of it buy nothing for the SDK's own calls:

- the User-Agent header, which botocore assembles from a dozen components (and rebuilds once
  more before sending) on every call: a static string computed once carries the same
  attribution (sqstask, boto3, botocore, Python, the Lambda runtime);
- parameter validation, on the task table's client only (DynamoDB): every value the SDK puts
  in those requests is built by it from checked input (task ids from parsed messages, the
  table name checked as configuration, numbers it computes), so botocore's type checks never
  fire there, and DynamoDB itself still refuses what is wrong with a ``ClientError``. The
  other services keep it: their requests carry values a caller passes straight through
  (receive options, schedule expressions, DLQ and alarm filters), where botocore's
  ``ParamValidationError`` is the clear, early error.

Measured in benchmarks/RESULTS.md (the smallest DynamoDB write, default vs this config).
"""

from __future__ import annotations

import os
import platform
import re
from functools import lru_cache
from typing import Any

from . import __version__

# Services whose requests the SDK builds entirely from values it has already checked.
UNVALIDATED_SERVICES = frozenset({"dynamodb"})

_UNSAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+\-.^_`|~]")


def _token(value: str) -> str:
    """``value`` with the characters a User-Agent token may not hold replaced by ``-``."""
    return _UNSAFE.sub("-", value)


@lru_cache(maxsize=1)
def user_agent() -> str:
    """The User-Agent of the SDK's clients, e.g. ``sqstask/0.1.0 Boto3/1.40.0 lang/python#3.12.3``.

    A boto3 session appends ``Botocore/<version>`` (its user agent "extra") to it.
    """
    import boto3

    parts = [
        f"sqstask/{_token(__version__)}",
        f"Boto3/{_token(boto3.__version__)}",
        f"lang/python#{_token(platform.python_version())}",
    ]
    execution_env = os.environ.get("AWS_EXECUTION_ENV")  # e.g. AWS_Lambda_python3.12, as botocore reports it
    if execution_env:
        parts.append(f"exec-env/{_token(execution_env)}")
    return " ".join(parts)


def client_config(service: str) -> Any:
    """The ``botocore.config.Config`` the SDK creates its ``service`` client with."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard"},
        max_pool_connections=32,
        user_agent=user_agent(),
        parameter_validation=service not in UNVALIDATED_SERVICES,
    )
