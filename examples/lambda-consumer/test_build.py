"""examples/lambda-consumer/build.py: a self-contained, reproducible function zip."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile


def test_the_zip_holds_the_handler_and_the_sqstask_package(load_example, tmp_path):
    build = load_example("lambda-consumer/build.py")
    path = build.build(tmp_path / "consumer.zip")
    names = zipfile.ZipFile(path).namelist()
    assert "handler.py" in names
    assert {"sqstask/__init__.py", "sqstask/handler.py", "sqstask/queue.py", "sqstask/py.typed"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_building_twice_gives_the_same_bytes_so_source_code_hash_is_stable(load_example, tmp_path):
    build = load_example("lambda-consumer/build.py")
    first = build.build(tmp_path / "a.zip").read_bytes()
    second = build.build(tmp_path / "b.zip").read_bytes()
    assert first == second


def test_lambda_can_import_the_handler_from_the_zip_alone(load_example, tmp_path):
    """As the Lambda runtime does: the zip on sys.path, `handler.handler` resolved from it."""
    build = load_example("lambda-consumer/build.py")
    path = build.build(tmp_path / "consumer.zip")
    code = "import handler, sqstask; print(sqstask.__file__); print(callable(handler.handler), handler.handler.handle.__name__)"
    env = dict(os.environ, PYTHONPATH=str(path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    origin, resolved = result.stdout.splitlines()
    assert origin.startswith(str(path)), f"sqstask was imported from {origin}, not from the zip"
    assert resolved == "True handler"


def test_the_readme_command_writes_build_consumer_zip(load_example, capsys):
    build = load_example("lambda-consumer/build.py")
    assert build.main([]) == 0
    assert build.DEFAULT_OUTPUT.is_file()
    assert capsys.readouterr().out.startswith(f"wrote {build.DEFAULT_OUTPUT} (")
