"""pytest plugin for mutation runs: the test order, and a time limit per test.

mutmut runs a mutant's tests with ``-x`` (stop at the first failure), so the order decides how
long a killed mutant takes. Mutants of one function are mostly killed by the same few tests:
each test that kills a mutant is written to the kills file (``SQSTASK_MUTATION_KILLS``, one JSON
line per kill), and a later mutant of the same function runs the tests that killed its siblings
first, most kills first; the rest follow fastest first (by the durations mutmut measured in its
clean run). A surviving mutant still runs every test.

A mutant can also make the code under test loop or wait forever (a loop counter that no longer
moves), which no assertion can notice. Each test of a mutant therefore gets ``deadline()``
seconds; past it the process exits with mutmut's "timeout" code, so the report counts the mutant
as timed out (not as killed by a test) after seconds instead of mutmut's own limit of five times
the whole run. Loaded with ``-p mutation_plugin`` in the scratch copy only; ``make test`` never
sees it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

KILLS_VARIABLE = "SQSTASK_MUTATION_KILLS"
# A test's time limit: its clean-run duration times DEADLINE_FACTOR, plus DEADLINE_FLOOR: above the
# sdk tests' own bounded waits (15 s for a condition, then up to 30 s for a worker to stop) and the
# setup that mutmut's durations leave out, so a test that fails by itself is never cut short.
DEADLINE_FLOOR = 45.0
DEADLINE_FACTOR = 10.0
TIMEOUT_EXIT = 36  # mutmut's exit code for "timeout"


def _mutant() -> str:
    """The mutant under test in this process ('' in mutmut's clean and stats runs)."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else ""


def _function(mutant: str) -> str:
    return mutant.partition("__mutmut_")[0]


def kills_of(path: Path, function: str) -> Counter[str]:
    """How many mutants of ``function`` each test has killed, per the kills file at ``path``."""
    counts: Counter[str] = Counter()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return counts
    for line in lines:
        try:
            kill = json.loads(line)
        except ValueError:  # a line a killed child left half-written
            continue
        if _function(kill["mutant"]) == function:
            counts[kill["test"]] += 1
    return counts


def order(nodeids: list[str], durations: dict[str, float], kills: Counter[str]) -> list[str]:
    """``nodeids`` with the tests that killed most first, then the fastest, unmeasured ones last."""
    return sorted(nodeids, key=lambda n: (-kills[n], durations.get(n, float("inf"))))


def deadline(duration: float | None) -> float:
    """Seconds one test of a mutant may take, given its duration in the clean run (None: unmeasured)."""
    return DEADLINE_FLOOR + DEADLINE_FACTOR * (duration or 0.0)


_kills_file: Path | None = None


def pytest_configure(config: Any) -> None:
    """Read the kills file's path now: the sdk's conftest clears SQSTASK_* variables in each test."""
    global _kills_file
    value = os.environ.get(KILLS_VARIABLE)
    _kills_file = Path(value) if value else None


def pytest_collection_modifyitems(items: list[Any]) -> None:
    try:
        from mutmut.state import state
    except ImportError:  # pragma: no cover - only ever loaded by mutmut
        return
    durations = state().duration_by_test
    if not durations:
        return  # the clean run that measures them: keep pytest's order
    mutant, path = _mutant(), _kills_file
    kills = kills_of(path, _function(mutant)) if mutant and path else Counter()
    ranked = {nodeid: rank for rank, nodeid in enumerate(order([i.nodeid for i in items], durations, kills))}
    items.sort(key=lambda item: ranked[item.nodeid])


def pytest_runtest_logreport(report: Any) -> None:
    """Write down the test that killed this mutant (the first failure: mutmut runs with -x)."""
    mutant, path = _mutant(), _kills_file
    if report.failed and mutant and path:
        line = json.dumps({"mutant": mutant, "test": report.nodeid}) + "\n"
        # one short append per kill: concurrent children's lines do not interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


def _time_out(nodeid: str, seconds: float) -> None:
    try:
        sys.__stderr__.write(f"mutation run: {nodeid} ran past its {seconds:.0f} s limit\n")
    finally:
        os._exit(TIMEOUT_EXIT)  # the test's own thread may be the one that never returns


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: Any, nextitem: Any) -> Any:
    """Run the test under its time limit (a mutant's tests only: a clean run that hangs must show as such)."""
    if not _mutant():
        return (yield)
    from mutmut.state import state

    seconds = deadline(state().duration_by_test.get(item.nodeid))
    timer = threading.Timer(seconds, _time_out, args=(item.nodeid, seconds))
    timer.daemon = True
    timer.start()
    try:
        return (yield)
    finally:
        timer.cancel()
