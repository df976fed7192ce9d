"""The ``python`` code blocks of sdk/README.md run, in order, against a team's queue."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_readme_has_runnable_examples():
    assert len(python_blocks()) >= 5


def test_the_readme_python_examples_run(make_team):
    namespace = {"queue": make_team()}
    for number, block in enumerate(python_blocks(), start=1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"README python block {number} failed: {exc!r}\n{block}") from exc
