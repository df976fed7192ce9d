"""``import sqstask`` is cheap: no boto3 until a client is needed, and no network."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_sqstask_does_not_import_boto3():
    out = run(
        """
        import sys, sqstask
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore")))
        """
    )
    assert out == "[]"


def test_building_a_queue_and_encoding_tasks_does_not_import_boto3():
    out = run(
        """
        import sys
        from sqstask import TaskQueue, TaskSpec, Heartbeat, QueueConfig
        q = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo")
        q.build_message(TaskSpec("x", {"a": 1}, "g").validated())
        print("boto3" in sys.modules)
        """
    )
    assert out == "False"


def test_public_names_resolve_lazily():
    out = run(
        """
        import sqstask
        names = ["TaskQueue", "Task", "TaskSpec", "Then", "Heartbeat", "QueueConfig", "PayloadStore",
                 "SqstaskError", "ConfigError", "InvalidTaskError", "PayloadTooLarge", "SendError",
                 "MalformedMessage", "SendResult", "BatchResult", "log_event"]
        print(all(getattr(sqstask, n) is not None for n in names), set(names) <= set(dir(sqstask)))
        """
    )
    assert out == "True True"


def test_an_unknown_name_is_an_attribute_error():
    out = run(
        """
        import sqstask
        try:
            sqstask.NoSuchThing
        except AttributeError as exc:
            print(exc)
        """
    )
    assert out == "module 'sqstask' has no attribute 'NoSuchThing'"


def _package_imports() -> dict[str, set[str]]:
    """Each sqstask module's imports of sibling modules, wherever they stand (top level,
    inside functions, under TYPE_CHECKING): all of them make the dependency."""
    import ast
    from pathlib import Path

    import sqstask

    package = Path(sqstask.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        graph[path.stem] = deps - {path.stem}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.append([*path, start])
            elif nxt not in path and nxt > start:
                walk(start, nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_module_of_the_package_imports_one_that_imports_it_back():
    cycles = _cycles(_package_imports())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_installed_package_holds_no_test_or_demo_code():
    """`pip install ./sdk` installs the SDK alone: nothing imports moto or pytest, no demo."""
    import ast
    from pathlib import Path

    import sqstask

    package = Path(sqstask.__file__).parent
    offenders = []
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("moto", "pytest", "demo")]
    assert not offenders
    assert not list(package.glob("demo*.py"))
