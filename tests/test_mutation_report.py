"""benchmarks/mutation.py: scores and the MUTATION.md report (mutmut itself is not run here)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import mutation, mutation_plugin  # noqa: E402


def result(**statuses: str) -> mutation.ModuleResult:
    r = mutation.ModuleResult("backoff", ["tests/test_backoff.py"], dict(statuses), 90.0)
    r.diffs = {name: f"-old {name}\n+new {name}" for name, s in statuses.items() if s not in mutation.KILLED}
    return r


def test_timeouts_count_as_killed_and_skipped_mutants_do_not_count(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {})
    r = result(a="killed", b="timeout", c="survived", d="skipped", e="no tests")

    assert (r.total, r.killed, r.survivors) == (4, 2, ["c", "e"])
    assert r.score == 50.0


def test_equivalent_mutants_leave_the_denominator_and_are_listed_with_their_reason(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {"c": "jitter 0 draws 0 either way"})
    r = result(a="killed", b="killed", c="survived", e="survived")

    assert round(r.score, 1) == 66.7
    text = mutation.render([r], "2026-01-01 00:00 UTC", 90.0, 2)
    assert "| `backoff` | `tests/test_backoff.py` | 4 | 2 | 0 | 1 | 1 | 66.7 % | 1.5 |" in text
    assert "- `c` — equivalent: jitter 0 draws 0 either way" in text
    assert "- `e` — survived: not yet killed by a test" in text
    assert "-old e\n+new e" in text


def test_a_partial_run_keeps_the_other_modules_rows_from_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {})
    report = tmp_path / "MUTATION.md"
    report.write_text(mutation.render([result(a="killed", c="survived")], "then", 90.0, 2))

    previous = mutation._load_previous(report)

    assert previous["backoff"]["statuses"] == {"a": "killed", "c": "survived"}
    assert previous["backoff"]["diffs"] == {"c": "-old c\n+new c"}


def test_mutants_of_import_time_functions_are_excluded_and_summarised(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {})
    monkeypatch.setattr(mutation, "IMPORT_TIME", {"m.x_build__mutmut_": "runs at import"})
    r = result(a="killed", **{"m.x_build__mutmut_1": "survived", "m.x_build__mutmut_2": "survived"})

    assert (r.total, r.equivalent, r.score) == (3, 2, 100.0)
    text = mutation.render([r], "now", 60.0, 2)
    assert "- 2 mutants `m.x_build__mutmut_*` — never run (import time): runs at import" in text
    assert "+new m.x_build__mutmut_1" not in text.split("<!-- mutation-data")[0]  # no diff listed


def test_modules_without_a_run_are_listed_as_not_run(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {})
    monkeypatch.setitem(mutation.MODULES, "worker", ["tests/test_worker.py", "tests/test_worker_batch.py"])
    text = mutation.render([result(a="killed")], "now", 60.0, 2)

    assert "| `worker` | `tests/test_worker.py`, `tests/test_worker_batch.py` | not run yet |" in text
    assert "| `backoff` |" in text and "| `backoff` | `tests/test_backoff.py` | not run yet" not in text


def test_a_partial_run_says_how_many_mutants_it_did_not_reach(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {})
    r = result(a="killed", b="not checked", c="not checked")

    assert (r.total, r.not_run, r.score) == (1, 2, 100.0)
    assert "| 1 (+2 not run) | 1 |" in mutation.render([r], "now", 60.0, 2)


def test_mutants_killed_by_mutmut_s_timeout_are_counted_apart(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {})
    r = result(a="killed", b="timeout", c="timeout", d="survived")

    assert (r.killed, r.timed_out) == (3, 2)
    text = mutation.render([r], "now", 60.0, 2)
    assert "| 4 | 3 | 2 | 1 | 0 | 75.0 % |" in text
    assert "Overall: 3 of 4 killed (75.0 %), 2 of them by a time limit." in text


def test_only_listed_equivalent_mutants_with_the_last_report_s_diff_are_not_run_again(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {"m.f__mutmut_1": "same", "m.f__mutmut_2": "same",
                                                 "m.f__mutmut_3": "same"})
    previous = {"m.f__mutmut_1": "-a\n+b", "m.f__mutmut_2": "-a\n+c", "m.f__mutmut_4": "-a\n+d"}
    now = {"m.f__mutmut_1": "-a\n+b",  # unchanged: not run again
           "m.f__mutmut_2": "-a\n+x",  # renumbered or changed: runs
           "m.f__mutmut_3": "-a\n+y",  # listed, but the last report has no diff for it: runs
           "m.f__mutmut_4": "-a\n+d"}  # the same diff, but not listed as equivalent: runs

    assert mutation.unchanged_equivalents(now, previous) == ["m.f__mutmut_1"]


def test_a_mutant_not_run_again_counts_as_equivalent_and_says_so(monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {"c": "jitter 0 draws 0 either way"})
    r = result(a="killed", c=mutation.REUSED)

    assert (r.total, r.equivalent, r.score) == (2, 1, 100.0)
    text = mutation.render([r], "now", 60.0, 2)
    assert "- `c` — equivalent (the same diff as in the last run, not run again): jitter 0 draws 0" in text


def test_tests_that_killed_a_function_s_mutants_run_first_then_the_fastest(tmp_path):
    kills = tmp_path / "kills.jsonl"
    kills.write_text(
        '{"mutant": "m.x_f__mutmut_1", "test": "slow_killer"}\n'
        '{"mutant": "m.x_f__mutmut_2", "test": "slow_killer"}\n'
        '{"mutant": "m.x_f__mutmut_3", "test": "other_killer"}\n'
        '{"mutant": "m.x_g__mutmut_1", "test": "fast"}\n'  # another function's kill: no weight for f
        '{"mutant": "m.x_f__mutm'  # a line cut short by a killed child
    )
    counts = mutation_plugin.kills_of(kills, "m.x_f")
    durations = {"fast": 0.1, "slow_killer": 5.0, "other_killer": 9.0, "medium": 1.0}

    assert counts == {"slow_killer": 2, "other_killer": 1}
    assert mutation_plugin.order(["fast", "medium", "unmeasured", "other_killer", "slow_killer"], durations,
                                counts) == ["slow_killer", "other_killer", "fast", "medium", "unmeasured"]
    assert mutation_plugin.kills_of(tmp_path / "none.jsonl", "m.x_f") == {}


def test_no_mutant_is_listed_as_equivalent_twice():
    # A dict literal keeps the last of two equal keys without a word, and one reason would be lost.
    import ast

    source = Path(mutation.__file__).read_text(encoding="utf-8")
    [literal] = [node.value for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "EQUIVALENT"]
    names: list[str] = []
    for key, value in zip(literal.keys, literal.values):
        names.extend([ast.literal_eval(key)] if key is not None else eval(ast.unparse(value)))  # a ** comprehension
    duplicated = sorted({name for name in names if names.count(name) > 1})

    assert duplicated == [] and len(names) == len(mutation.EQUIVALENT)


def test_a_module_whose_mutmut_run_fails_is_an_error_naming_its_last_line_not_a_row_of_survivors(tmp_path,
                                                                                             monkeypatch):
    import subprocess

    import pytest

    monkeypatch.setattr(mutation, "SCRATCH", tmp_path)

    def failing_mutmut(workdir, *args, capture=False):
        (workdir / "mutmut.log").write_text("⠋ Running clean tests\r⠙ Running clean tests\nFailed to run clean test\n")
        return subprocess.CompletedProcess(args, 1)

    monkeypatch.setattr(mutation, "_mutmut", failing_mutmut)

    with pytest.raises(mutation.MutmutFailed, match=r"^backoff: mutmut exited with 1 \(Failed to run clean test\); "
                       r"see .*backoff/mutmut\.log$"):
        mutation.run_module("backoff", 2)


def test_a_re_render_keeps_the_figures_of_the_run_that_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(mutation, "EQUIVALENT", {})
    monkeypatch.setattr(mutation, "_importable", lambda name: False)
    monkeypatch.delitem(sys.modules, "sqstask", raising=False)
    report = tmp_path / "MUTATION.md"
    report.write_text(mutation.render([result(a="killed", c="survived")], "2026-01-01 00:00 UTC", 1800.0, 2, lanes=1))

    assert mutation.main(["--modules", "", "--output", str(report)]) == 1  # 50 %: below the target

    assert "on 2026-01-01 00:00 UTC, 2 CPU(s), 30 minutes (one module at a time)." in report.read_text()
