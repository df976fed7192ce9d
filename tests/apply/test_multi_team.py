"""examples/multi-team applied to moto: three teams side by side; every principal of one team
is refused on every other team's queue, dead-letter queue, table and bucket; then destroy."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from localaws import Principal, matrix, policy_arn
from localaws.pool import Applied

pytestmark = pytest.mark.apply("multi-team")

ROLES = ("producer", "consumer", "operator")
FOREIGN_ACTIONS = [
    "queue:SendMessage", "queue:ReceiveMessage", "queue:DeleteMessage", "queue:PurgeQueue",
    "dlq:ReceiveMessage", "dlq:PurgeQueue", "table:GetItem", "table:PutItem", "table:UpdateItem", "table:Scan",
    "bucket:PutObject", "bucket:GetObject",
]
# What each role does on its own team: proves the principals work, so refusals mean something.
OWN_ACTIONS = {"producer": ["queue:SendMessage"], "consumer": ["queue:ReceiveMessage", "table:UpdateItem"], "operator": ["dlq:ReceiveMessage", "table:GetItem"]}


@pytest.fixture(scope="module")
def configs(applied: Applied) -> dict[str, dict[str, object]]:
    return {team: json.loads(text) if isinstance(text, str) else text for team, text in applied.deployment.output("sdk_configs").items()}


def test_every_team_gets_its_own_pipeline(applied: Applied, configs: dict[str, dict[str, object]]) -> None:
    assert applied.apply_line.startswith("Apply complete! Resources: ")
    assert sorted(configs) == ["payments", "reports", "search"]
    sqs = applied.server.client("sqs")
    for team, config in configs.items():
        redrive = sqs.get_queue_attributes(QueueUrl=config["queue_url"], AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
        assert json.loads(redrive)["deadLetterTargetArn"] == config["dlq_arn"], team
    assert json.loads(sqs.get_queue_attributes(QueueUrl=configs["payments"]["queue_url"], AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 3


def test_no_principal_of_one_team_can_touch_another_teams_resources(applied: Applied, configs: dict[str, dict[str, object]], apply_report: Callable[[str], None]) -> None:
    principals = {
        f"{team}-{role}": Principal.create(applied.server, f"{team}-{role}-user", policy_arns=[policy_arn(applied.server, f"{team}-{role}")])
        for team in configs for role in ROLES
    }
    checks = []
    for team in configs:
        for role in ROLES:
            checks += matrix.checks(f"{team}-{role}", team, allowed=OWN_ACTIONS[role], denied=[])
            for other in configs:
                if other != team:
                    checks += matrix.checks(f"{team}-{role}", other, allowed=[], denied=FOREIGN_ACTIONS)
    targets = {team: matrix.Target.from_sdk_config(config) for team, config in configs.items()}
    result = matrix.run(checks, principals, targets)
    apply_report("role matrix (examples/multi-team: every team's principals on every team):\n" + result.table())
    assert result.mismatches == [], "\n".join(f"{o.check}: {o.detail}" for o in result.mismatches)


def test_destroy_removes_everything(applied: Applied) -> None:
    assert applied.destroy().startswith("Destroy complete! Resources: ")
    assert applied.deployment.state_list() == []
    assert applied.server.client("sqs").list_queues().get("QueueUrls", []) == []
