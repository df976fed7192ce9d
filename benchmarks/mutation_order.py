"""pytest plugin for mutation runs: run first the tests most likely to kill the mutant.

mutmut runs a mutant's tests with ``-x`` (stop at the first failure), so the order decides how
long a killed mutant takes. Mutants of one function are mostly killed by the same few tests:
each test that kills a mutant is written to the kills file (``SQSTASK_MUTATION_KILLS``, one JSON
line per kill), and a later mutant of the same function runs the tests that killed its siblings
first, most kills first; the rest follow fastest first (by the durations mutmut measured in its
clean run). A surviving mutant still runs every test. Loaded with ``-p mutation_order`` in the
scratch copy only; ``make test`` never sees it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

KILLS_VARIABLE = "SQSTASK_MUTATION_KILLS"


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
