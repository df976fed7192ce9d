"""Every code block and command in README.md is exercised.

Each fenced block is preceded by a marker line `<!-- test: KIND [ARG] -->` saying how:

- `excerpt PATH`: the block is a verbatim excerpt (indentation aside) of PATH, a tested file;
- `make`: `make TARGET` lines; the Makefile's recipe is checked (the demo smoke test in
  demo/tests/test_demo.py runs what `make demo` runs; `make test` is what runs this file);
- `sqstask [DIR]`: `sqstask ...` lines, run in order, in-process, in DIR, against a team's
  resources on moto (a dead-lettered task stands for `TASK_ID`); long-running commands get
  `--idle-exit 1 --wait-seconds 0` so they return once the queue is empty;
- `terraform`: `scripts/terraform ...` lines, run as written;
- `tools`: `.venv/bin/python ...` lines, run with an output redirected to a temporary file and
  compared with the committed one;
- `figure`: a diagram (a ```text block).

Commands quoted inline in the prose (`sqstask ...`, `export ...`, `pip install ...`) are checked
too: they parse with the CLI, or name what exists.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import hcl2
import pytest

from terraform_cli import ROOT, output_of

README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
MARKER = re.compile(r"^<!-- test: (\w+)(?: (\S+))? -->$")
FENCE = re.compile(r"^```(\w*)$")
TASK_ID = "receipt-4242"
LONG_RUNNING = {"worker", "lambda-local"}


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    kind: str | None
    arg: str | None
    body: str

    @property
    def commands(self) -> list[str]:
        return [line.strip() for line in self.body.splitlines() if line.strip() and not line.strip().startswith("#")]

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.kind} {self.arg or ''})".strip()


def blocks(text: str = TEXT) -> list[Block]:
    """The fenced code blocks of ``text`` with the test marker before each (if any)."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start = i
        end = next(j for j in range(i + 1, len(lines)) if lines[j] == "```")
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous.strip())
        found.append(Block(start + 1, fence.group(1), marker and marker.group(1), marker and marker.group(2),
                           "\n".join(lines[start + 1:end])))
        i = end + 1
    return found


BLOCKS = blocks()


def of_kind(kind: str) -> list[Block]:
    return [b for b in BLOCKS if b.kind == kind]


# -- the markers -----------------------------------------------------------------------------


def test_every_code_block_says_how_it_is_tested():
    unmarked = [str(b) for b in BLOCKS if b.kind is None]
    assert BLOCKS, "README.md has no code blocks"
    assert not unmarked, f"code blocks without a <!-- test: ... --> marker: {unmarked}"


def test_every_marker_is_a_known_kind():
    known = {"excerpt", "make", "sqstask", "terraform", "tools", "figure"}
    assert {b.kind for b in BLOCKS} <= known, sorted({b.kind for b in BLOCKS} - known)


def test_blocks_reads_markers_and_fences():
    text = "intro\n<!-- test: excerpt a/b.py -->\n```python\nx = 1\n```\n\n```sh\nls\n```\n"
    assert blocks(text) == [Block(3, "python", "excerpt", "a/b.py", "x = 1"), Block(7, "sh", None, None, "ls")]


def test_the_diagram_is_plain_text():
    assert [b.lang for b in of_kind("figure")] == ["text"]


# -- excerpts --------------------------------------------------------------------------------


def is_excerpt(snippet: str, text: str) -> bool:
    """True when the snippet's lines are consecutive lines of ``text`` (indentation aside)."""
    want = textwrap.dedent(snippet).strip("\n").splitlines()
    have = text.splitlines()
    for start in range(len(have) - len(want) + 1):
        if textwrap.dedent("\n".join(have[start:start + len(want)])).splitlines() == want:
            return True
    return False


def has_tests(path: Path) -> bool:
    """An example file is tested when its folder has pytest tests (.py) or terraform tests (.tf)."""
    folder = path.parent
    if path.suffix == ".py":
        return any(folder.glob("test_*.py"))
    return any((folder / "tests").glob("*.tftest.hcl"))


@pytest.mark.parametrize("block", of_kind("excerpt"), ids=str)
def test_excerpt_is_verbatim_from_a_tested_file(block: Block):
    path = ROOT / block.arg
    assert path.is_file(), f"{block}: {block.arg} does not exist"
    assert has_tests(path), f"{block}: {block.arg} has no tests beside it"
    assert is_excerpt(block.body, path.read_text(encoding="utf-8")), (
        f"{block}: the block is not an excerpt of {block.arg}; copy it from the file again"
    )


def test_is_excerpt_allows_dedent_but_not_changes():
    text = "def f():\n    a = 1\n    b = 2\n    return a + b\n"
    assert is_excerpt("a = 1\nb = 2", text)
    assert not is_excerpt("a = 1\nb = 3", text)
    assert not is_excerpt("a = 1\nreturn a + b", text)


EXAMPLE_READMES = sorted((ROOT / "examples").glob("*/README.md"))


@pytest.mark.parametrize("readme", EXAMPLE_READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_readme_code_is_an_excerpt_of_the_example(readme: Path):
    sources = {p: p.read_text(encoding="utf-8") for p in readme.parent.iterdir() if p.suffix in (".py", ".tf")}
    for block in blocks(readme.read_text(encoding="utf-8")):
        if block.lang in ("python", "hcl"):
            assert any(is_excerpt(block.body, text) for text in sources.values()), (
                f"{readme.relative_to(ROOT)}:{block.line}: not an excerpt of the example's files"
            )


# -- make ------------------------------------------------------------------------------------


def recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(target)}:", line))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        body.append(line.strip())
    return body


def test_the_make_commands_are_the_demo_and_the_test_suite():
    commands = [c for b in of_kind("make") for c in b.commands]
    assert commands == ["make demo", "make test"]
    assert recipe("demo") == ["$(DEMO_VENV)/bin/python -m demo"], "the demo smoke test runs python -m demo"
    assert recipe("test") == ["scripts/test"]
    runner = (ROOT / "scripts" / "test").read_text()
    # Together the runs cover every test path pytest.ini names, each once.
    testpaths = configparser.ConfigParser()
    testpaths.read(ROOT / "pytest.ini")
    runs = re.findall(r'-m pytest (?:-p no:cacheprovider )?((?:[\w/.-]+ ?)+?) (?:--ignore=([\w/.-]+) )?"\$@"', runner)
    covered = sorted(path for paths, _ in runs for path in paths.split())
    assert covered == sorted(["tests/apply", "demo", "sdk/tests", "examples", "tests"]), runs
    assert sorted(testpaths["pytest"]["testpaths"].split()) == ["demo", "examples", "sdk/tests", "tests"]
    assert [ignored for _, ignored in runs if ignored] == ["tests/apply"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_demo_smoke_test_runs_what_make_demo_runs():
    smoke = (ROOT / "demo" / "tests" / "conftest.py").read_text()
    assert '[sys.executable, "-m", "demo"]' in smoke


# -- sqstask commands ------------------------------------------------------------------------


@pytest.fixture
def team(tmp_path):
    """A team's resources on in-process moto with one dead-lettered task; SQSTASK_CONFIG set."""
    from moto import mock_aws

    from sqstask import TaskQueue, batch_handler
    from sdk_resources import create_sdk_resources
    from sqstask.lambda_local import LambdaLocal

    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("SQSTASK_", "AWS_")):
            del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    try:
        with mock_aws():
            import boto3

            config = create_sdk_resources(
                lambda service: boto3.client(service, region_name="us-east-1"), "orders", region="us-east-1",
                max_receive_count=1, alarm_names=("orders-dlq-not-empty",),
            )
            os.environ["SQSTASK_CONFIG"] = json.dumps(config)
            queue = TaskQueue.from_env()

            def fail(task):
                raise ValueError(f"order {task.payload['order']} has no e-mail address")

            queue.send("send-receipt", {"order": 4242, "email": None}, group_id="customer-13", task_id=TASK_ID)
            runner = LambdaLocal(queue, batch_handler(queue)(fail), wait_seconds=0)
            messages = queue.receive(wait_seconds=0)
            runner.invoke(messages)
            queue.change_visibility_many(messages, 0)
            assert queue.receive(wait_seconds=0) == []  # past max_receive_count: moved to the DLQ
            queue.cloudwatch.set_alarm_state(AlarmName="orders-dlq-not-empty", StateValue="ALARM",
                                             StateReason="Threshold Crossed: 1 datapoint [1.0] > 0.0")
            yield queue
    finally:
        os.environ.clear()
        os.environ.update(saved)


def depth(queue, url: str) -> int:
    attributes = queue.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def run_sqstask(command: str) -> tuple[int, str, str]:
    from sqstask import cli

    argv = shlex.split(command.replace("TASK_ID", TASK_ID))
    assert argv[0] == "sqstask", f"not an sqstask command: {command}"
    if argv[1] in LONG_RUNNING:
        argv += ["--idle-exit", "1", "--wait-seconds", "0", "--log-level", "ERROR"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv[1:])
    return code, out.getvalue(), err.getvalue()


SEEDS = {
    "examples/lambda-consumer": ("send-receipt", {"order": 1, "email": "a@example.com", "amount_cents": 100}),
    "examples/worker": ("resize-image", {"width": 2000, "height": 1000}),
}


@pytest.fixture
def fresh_example_modules():
    """The examples' modules (handler, tasks) are imported fresh by a command and forgotten after."""
    names = ("handler", "tasks")
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    yield
    for name in names:
        sys.modules.pop(name, None)
    sys.modules.update(saved)


@pytest.mark.parametrize("block", of_kind("sqstask"), ids=str)
def test_sqstask_commands_run(block: Block, team, monkeypatch, fresh_example_modules):
    if block.arg:
        monkeypatch.chdir(ROOT / block.arg)
        monkeypatch.syspath_prepend(str(ROOT / block.arg))
        task_type, payload = SEEDS[block.arg]
        team.send_many([{"task_type": task_type, "payload": payload, "group_id": f"g-{n}"} for n in range(3)])
    for command in block.commands:
        code, out, err = run_sqstask(command)
        expected = 2 if command == "sqstask alarms" else 0  # 2: an alarm is firing
        assert code == expected, f"{block}: `{command}` exited {code}\n{out}\n{err}"
        assert "error:" not in err, f"{block}: `{command}`: {err}"
        if "TASK_ID" in command and command.split()[1:3] in (["dlq", "show"], ["status", "TASK_ID"]):
            assert TASK_ID in out, f"{block}: `{command}` does not show {TASK_ID}:\n{out}"
    if block.arg:
        assert depth(team, team.config.queue_url) == 0, f"{block}: tasks are left on the queue"
    if any(c.startswith("sqstask dlq redrive") and "--dry-run" not in c for c in block.commands):
        assert depth(team, team.config.dlq_url) == 0, f"{block}: the redrive left the DLQ non-empty"


def test_the_runbook_covers_alarm_list_show_redrive():
    runbook = next(b for b in of_kind("sqstask") if "sqstask alarms" in b.commands)
    order = [c.split()[1:3] for c in runbook.commands]
    assert order.index(["alarms"]) < order.index(["dlq", "list"]) < order.index(["dlq", "show"]) < order.index(["dlq", "redrive"])


INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def inline_commands(prefix: str) -> list[str]:
    prose = TEXT
    for block in BLOCKS:
        prose = prose.replace(block.body, "")
    return sorted({m for m in INLINE.findall(prose) if m.startswith(prefix)})


@pytest.mark.parametrize("command", inline_commands("sqstask "), ids=str)
def test_inline_sqstask_commands_are_real_commands(command: str):
    from sqstask import cli

    argv = shlex.split(command.replace("TASK_ID", TASK_ID).replace("NAME", "nightly"))[1:]
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            cli.build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"`{command}` is not a valid command: {err.getvalue()}")


def test_inline_shell_commands_name_what_exists():
    exports = inline_commands("export ")
    assert exports == ['export SQSTASK_CONFIG="$(terraform output -raw sdk_config)"']
    for directory in (ROOT, ROOT / "examples" / "basic"):
        outputs = {label.strip('"') for path in directory.glob("*.tf") for entry in hcl2.load(path.open()).get("output", []) for label in entry}
        assert "sdk_config" in outputs, f"{directory} has no sdk_config output"
    assert inline_commands("pip install ") == ["pip install ./sdk"]
    assert 'name = "sqstask"' in (ROOT / "sdk" / "pyproject.toml").read_text()


# -- terraform and tools ---------------------------------------------------------------------


@pytest.mark.terraform
@pytest.mark.parametrize("block", of_kind("terraform"), ids=str)
def test_terraform_commands_run_as_written(block: Block):
    for command in block.commands:
        argv = shlex.split(command)
        assert argv[0] == "scripts/terraform", command
        result = subprocess.run([str(ROOT / argv[0]), *argv[1:]], cwd=ROOT, capture_output=True, text=True,
                                timeout=600, check=False, env=dict(os.environ, TF_CLI_ARGS="-no-color"))
        assert result.returncode == 0, f"{block}: `{command}`\n{output_of(result)}"


def tool_commands() -> dict[str, str]:
    commands = [c for b in of_kind("tools") for c in b.commands]
    return {shlex.split(c)[1]: c for c in commands}


def test_the_tools_are_the_schema_and_readme_generators_run_by_the_venv_python():
    assert sorted(tool_commands()) == ["tests/readme_tables.py", "tests/standin/schema_from_jsii.py"]
    for command in tool_commands().values():
        assert command.startswith(".venv/bin/python "), command


def test_the_readme_tables_are_up_to_date(tmp_path):
    command = shlex.split(tool_commands()["tests/readme_tables.py"])
    copy = tmp_path / "README.md"
    shutil.copy(README, copy)
    result = subprocess.run([str(ROOT / command[0]), *command[1:], "--readme", str(copy)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, output_of(result)
    assert copy.read_text() == TEXT, "README.md's Inputs/Outputs tables are stale: run .venv/bin/python tests/readme_tables.py"


@pytest.mark.terraform
def test_regenerating_the_standin_schema_reproduces_the_committed_one(tmp_path):
    command = shlex.split(tool_commands()["tests/standin/schema_from_jsii.py"])
    output = tmp_path / "aws-schema.json"
    result = subprocess.run([str(ROOT / command[0]), *command[1:], "--output", str(output)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, output_of(result)
    committed = json.loads((ROOT / "tests" / "standin" / "aws-schema.json").read_text())
    assert json.loads(output.read_text()) == committed, (
        "tests/standin/aws-schema.json differs from what the README's command generates: run it"
    )



@pytest.mark.parametrize("readme", EXAMPLE_READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_readme_tables_list_exactly_its_variables_and_outputs(readme: Path):
    from test_module_docs import declared, table_names

    text = readme.read_text(encoding="utf-8")
    for heading, block in (("Inputs", "variable"), ("Outputs", "output")):
        assert sorted(table_names(text, heading)) == sorted(declared(readme.parent, block)), (
            f"{readme.relative_to(ROOT)}: the {heading} table does not match the example's {block}s"
        )
