"""pytest plugin for mutation runs: run the fastest tests first.

mutmut runs a mutant's tests with ``-x`` (stop at the first failure) in no particular order;
most mutants are killed by several tests, so starting with the quickest ones (by the durations
mutmut measured in its clean run) kills them sooner. A surviving mutant still runs every test.
Loaded with ``-p mutation_order`` in the scratch copy only; ``make test`` never sees it.
"""

from __future__ import annotations

from typing import Any


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Sort ``items`` by their measured duration, unknown (not yet measured) ones last."""
    try:
        from mutmut.state import state
    except ImportError:  # pragma: no cover - only ever loaded by mutmut
        return
    durations = state().duration_by_test
    if not durations:
        return  # the clean run that measures them: keep pytest's order
    items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
