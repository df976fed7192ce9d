"""Start applies in the background and collect them later.

The provider spends most of an apply waiting (about 25 s after creating each SQS queue), not
computing, so applies of several configurations overlap well with each other and with other
tests. `ApplyPool.submit(name, ...)` starts a moto server and an apply in a thread;
`ApplyPool.get(name)` waits (bounded) for it and re-raises its error. Destroys wait on the
provider as much, so `ApplyPool.destroy_all()` starts them together and `Applied.destroy()`
waits for its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from .moto import MotoServer
from .terraform import Deployment, Log

WAIT_TIMEOUT_SECONDS = 1200


@dataclass
class Applied:
    """A configuration applied to its own moto server."""

    server: MotoServer
    deployment: Deployment
    apply_line: str
    seconds: float
    destroying: Future[str] | None = None

    def destroy(self) -> str:
        """Terraform's "Destroy complete!" line: waits for the destroy `destroy_all` started, or
        destroys now."""
        if self.destroying is None:
            return self.deployment.destroy()
        return self.destroying.result(timeout=WAIT_TIMEOUT_SECONDS)


class ApplyPool:
    """Background applies, one moto server each, keyed by name."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self._futures: dict[str, Future[Applied]] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        name: str,
        example: str,
        *,
        variables: Mapping[str, Any] | Callable[[], Mapping[str, Any]] = {},
        module_arguments: Mapping[str, str] = {},
    ) -> None:
        """Start applying `example` (no-op when `name` is already submitted)."""
        with self._lock:
            if name in self._futures:
                return
            future: Future[Applied] = Future()
            self._futures[name] = future
        thread = threading.Thread(target=self._apply, args=(future, example, variables, module_arguments), name=f"apply-{name}", daemon=True)
        thread.start()

    def get(self, name: str, timeout: float = WAIT_TIMEOUT_SECONDS) -> Applied:
        """The applied configuration; raises what the apply raised."""
        with self._lock:
            future = self._futures.get(name)
        if future is None:
            raise KeyError(f"{name} was never submitted")
        return future.result(timeout=timeout)

    def destroy_all(self) -> None:
        """Start destroying every applied configuration, each in its own thread (idempotent)."""
        for applied in self._applied():
            with self._lock:
                if applied.destroying is not None or not applied.deployment.applied:
                    continue
                applied.destroying = Future()
            thread = threading.Thread(target=_destroy, args=(applied,), name=f"destroy-{applied.deployment.name}", daemon=True)
            thread.start()

    def close(self) -> None:
        """Destroy what is still applied (best effort) and stop every server."""
        for applied in self._applied():
            try:
                if applied.destroying is not None:
                    applied.destroying.result(timeout=WAIT_TIMEOUT_SECONDS)
                elif applied.deployment.applied:
                    applied.deployment.destroy()
            except Exception as error:  # noqa: BLE001 - cleanup must reach every server
                self.log(f"{applied.deployment.name}: cleanup destroy failed: {error}")
            finally:
                applied.server.stop()
                applied.deployment.cleanup()

    def _applied(self) -> list[Applied]:
        """Every configuration whose apply succeeded."""
        with self._lock:
            futures = list(self._futures.values())
        return [f.result() for f in futures if f.done() and f.exception() is None]

    def _apply(self, future: Future[Applied], example: str, variables: Any, module_arguments: Mapping[str, str]) -> None:
        started = time.monotonic()
        server = None
        try:
            server = MotoServer.start()
            values = variables() if callable(variables) else variables
            deployment = Deployment(example, server, variables=values, module_arguments=module_arguments, log=self.log)
            line = deployment.apply()
            future.set_result(Applied(server, deployment, line, time.monotonic() - started))
        except BaseException as error:  # noqa: BLE001 - handed to the waiting test
            if server is not None:
                server.stop()
            future.set_exception(error)


def _destroy(applied: Applied) -> None:
    assert applied.destroying is not None
    try:
        applied.destroying.set_result(applied.deployment.destroy())
    except BaseException as error:  # noqa: BLE001 - handed to the waiting test
        applied.destroying.set_exception(error)
