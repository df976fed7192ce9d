"""``sqstask worker MODULE:FUNC`` and ``sqstask lambda-local MODULE:HANDLER``."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .exceptions import ConfigError


def add_worker_commands(subparsers: Any, *, parents: Sequence[argparse.ArgumentParser] | None = None) -> None:
    """Register ``worker`` and ``lambda-local`` on the CLI's subparsers.

    ``parents`` defaults to the CLI's common options (--config, --queue-url, --region, ...).
    """
    if parents is None:
        from .cli import common_options

        parents = [common_options()]
    worker = subparsers.add_parser(
        "worker",
        parents=list(parents),
        help="run a long-poll worker: MODULE:FUNC handles each task",
        description=(
            "Receive tasks from the queue and run FUNC(task) for each, FUNC being a plain handler or a "
            "@batch_handler. Tasks of one message group run in order; groups run in parallel. "
            "SIGTERM/SIGINT drains (running tasks finish, the rest are released); a second signal exits at once."
        ),
    )
    worker.add_argument("target", metavar="MODULE:FUNC", help="e.g. myservice.tasks:handle (imported from the current directory too)")
    worker.add_argument("--concurrency", type=_positive_int, metavar="N", default=4, help="tasks run in parallel (default 4)")
    worker.add_argument("--prefetch", type=_non_negative_int, default=None, metavar="N",
                        help="messages held beyond the running ones (default: as many as --concurrency, at least 10)")
    worker.add_argument("--visibility-timeout", type=_positive_int, default=None, metavar="SECONDS",
                        help="seconds a received message stays invisible; the heartbeat extends it (default: the queue's)")
    worker.add_argument("--heartbeat-interval", type=float, default=None, metavar="SECONDS",
                        help="seconds between visibility extensions (default a third of the visibility timeout)")
    worker.add_argument("--wait-seconds", type=int, choices=range(0, 21), metavar="0..20", default=20,
                        help="long-poll wait per receive (default 20)")
    worker.add_argument("--backoff-base", type=float, default=5.0, metavar="SECONDS", help="retry delay after the first failure, seconds (default 5)")
    worker.add_argument("--backoff-cap", type=float, default=900.0, metavar="SECONDS", help="longest retry delay, seconds (default 900)")
    worker.add_argument("--backoff-jitter", type=float, default=0.5, metavar="FRACTION",
                        help="fraction of each retry delay randomised away, 0..1 (default 0.5)")
    worker.add_argument("--shutdown-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="seconds running tasks get to finish after SIGTERM (default 30)")
    worker.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                        help="exit 0 after this many seconds without messages")
    worker.add_argument("--no-idempotency", dest="idempotency", action="store_false",
                        help="run without the task table (every delivery runs)")
    worker.add_argument("--no-fifo", dest="fifo", action="store_false",
                        help="do not keep tasks of one message group in order")
    worker.add_argument("--priorities", metavar="TIER,...", default=None,
                        help="priority tiers to serve, comma-separated (default: every tier, highest first)")
    worker.add_argument("--lower-tier-share", type=float, default=0.1, metavar="FRACTION",
                        help="least share of receives lower tiers get while higher tiers are busy, 0..1 (default 0.1)")
    worker.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    worker.set_defaults(func=run_worker)

    local = subparsers.add_parser(
        "lambda-local",
        parents=list(parents),
        help="run a Lambda SQS handler against the queue, as Lambda's event source mapping would",
        description=(
            "Poll the queue and invoke HANDLER(event, context) with real-shaped SQS events; delete every message "
            "except the reported batchItemFailures (nothing when the handler raises). HANDLER may also be a plain "
            "FUNC(task), which is wrapped in @batch_handler."
        ),
    )
    local.add_argument("target", metavar="MODULE:HANDLER", help="e.g. myservice.lambda_function:handler")
    local.add_argument("--batch-size", type=int, choices=range(1, 11), metavar="1..10", default=10,
                       help="records per invocation (default 10)")
    local.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="simulated function timeout, seconds (default a sixth of the visibility timeout)")
    local.add_argument("--wait-seconds", type=int, choices=range(0, 21), metavar="0..20", default=20,
                       help="long-poll wait per receive (default 20)")
    local.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                       help="exit 0 after this many seconds without messages")
    local.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    local.set_defaults(func=run_lambda_local)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def load_target(target: str) -> Any:
    """Import ``package.module:attribute`` (the current directory is importable) and return it."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"{target!r} is not MODULE:FUNC (e.g. myservice.tasks:handle)")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} for {target}: {exc}") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(obj):
        raise ConfigError(f"{target} is a {type(obj).__name__}, not a function")
    return obj


def _queue(args: argparse.Namespace) -> Any:
    from .cli import queue_from_args

    return queue_from_args(args)


def _logging(args: argparse.Namespace) -> None:
    from .audit import configure_json_logging

    try:
        configure_json_logging("DEBUG" if getattr(args, "debug", False) else args.log_level, force=True)
    except ValueError as exc:
        raise ConfigError(f"--log-level: {exc}; use DEBUG, INFO, WARNING or ERROR") from None


def run_worker(args: argparse.Namespace) -> int:
    """``sqstask worker``: run a Worker until a signal (or --idle-exit); returns its exit code."""
    from .backoff import Backoff
    from .worker import Worker

    _logging(args)
    queue = _queue(args)
    handle = load_target(args.target)
    try:
        backoff = Backoff(base=args.backoff_base, cap=args.backoff_cap, jitter=args.backoff_jitter)
        worker = Worker(
            queue,
            handle,
            concurrency=args.concurrency,
            prefetch=args.prefetch,
            idempotency=args.idempotency,
            fifo=args.fifo,
            visibility_timeout=args.visibility_timeout,
            heartbeat_interval=args.heartbeat_interval,
            wait_seconds=args.wait_seconds,
            backoff=backoff,
            shutdown_timeout=args.shutdown_timeout,
            idle_exit=args.idle_exit,
            priorities=[p.strip() for p in args.priorities.split(",") if p.strip()] if args.priorities else None,
            lower_tier_share=args.lower_tier_share,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return worker.run()


def run_lambda_local(args: argparse.Namespace) -> int:
    """``sqstask lambda-local``: poll and invoke a Lambda handler until a signal (or --idle-exit)."""
    from .handler import batch_handler
    from .lambda_local import LambdaLocal

    _logging(args)
    queue = _queue(args)
    # As in Lambda, the function reads its configuration from the environment.
    os.environ["SQSTASK_CONFIG"] = json.dumps({k: v for k, v in asdict(queue.config).items() if v not in (None, ())})
    handler = load_target(args.target)
    if not hasattr(handler, "handle") and _positional_parameters(handler) == 1:
        handler = batch_handler(queue)(handler)
    try:
        runner = LambdaLocal(queue, handler, batch_size=args.batch_size, timeout=args.timeout,
                             wait_seconds=args.wait_seconds, idle_exit=args.idle_exit)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return runner.run()


def _positional_parameters(func: Any) -> int | None:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
