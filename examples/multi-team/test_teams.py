"""examples/multi-team/teams.py: each team's config reaches that team's queue and no other."""

from __future__ import annotations

import io
import json

import pytest


@pytest.fixture
def sdk_configs(make_team):
    """What `terraform output -json sdk_configs` prints for two teams."""
    return json.dumps({team: json.dumps(make_team(team)) for team in ("payments", "search")})


def depth(queue) -> int:
    attributes = queue.sqs.get_queue_attributes(QueueUrl=queue.config.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_each_team_gets_a_queue_on_its_own_resources(sdk_configs, load_example):
    teams = load_example("multi-team/teams.py")
    queues = teams.team_queues(sdk_configs)
    assert {team: q.config.queue_name for team, q in queues.items()} == {"payments": "payments.fifo", "search": "search.fifo"}
    assert queues["payments"].config.idempotency_table == "payments-tasks"


def test_a_task_sent_with_one_teams_config_lands_on_that_teams_queue_only(sdk_configs, load_example):
    teams = load_example("multi-team/teams.py")
    queues = teams.team_queues(sdk_configs)
    queues["payments"].send("charge", {"order": 1}, group_id="customer-1")
    assert depth(queues["payments"]) == 1
    assert depth(queues["search"]) == 0


def test_the_readme_pipeline_writes_one_config_per_team(sdk_configs, load_example, tmp_path, monkeypatch, capsys):
    teams = load_example("multi-team/teams.py")
    monkeypatch.setattr("sys.stdin", io.StringIO(sdk_configs))

    assert teams.main([str(tmp_path / "configs")]) == 0

    written = sorted(p.name for p in (tmp_path / "configs").iterdir())
    assert written == ["payments.json", "search.json"]
    assert json.loads((tmp_path / "configs" / "search.json").read_text())["queue_url"].endswith("/search.fifo")
    assert capsys.readouterr().out.splitlines() == [f"wrote {tmp_path / 'configs' / n}" for n in written]


def test_an_operator_command_with_a_team_config_sees_that_teams_dlq(sdk_configs, load_example, tmp_path, capsys):
    teams = load_example("multi-team/teams.py")
    paths = teams.write_configs(sdk_configs, tmp_path)
    from sqstask import cli

    assert cli.main(["dlq", "list", "--config", str(paths[0])]) == 0
    assert capsys.readouterr().out.startswith("payments-dlq.fifo: 0 message(s) waiting")


def test_something_other_than_the_output_is_refused(load_example, monkeypatch, capsys, tmp_path):
    teams = load_example("multi-team/teams.py")
    monkeypatch.setattr("sys.stdin", io.StringIO("{}"))
    assert teams.main([str(tmp_path)]) == 1
    assert "expected the sdk_configs output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
