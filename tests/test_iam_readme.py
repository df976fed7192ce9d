"""modules/iam/README.md's permissions table says exactly what the policies grant.

One row per statement of the producer, consumer and operator policies (planned with every part
given): role, Sid, actions, resource (in words), the condition's key and values, and why.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from role_policies import ACCOUNT, ALARM_NAMES, KEY_ARN, REGION, ROLE_ARN, TEAM, plan_policies
from terraform_cli import ROOT

README = ROOT / "modules" / "iam" / "README.md"
ROLES = ("producer", "consumer", "operator")
# How the README names each resource of the planned policies.
RESOURCE_WORDS = {
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:{TEAM}.fifo": "the queue",
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:{TEAM}-dlq.fifo": "the DLQ",
    KEY_ARN: "the key",
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TEAM}-tasks": "the task table",
    f"arn:aws:s3:::{TEAM}-payloads/sqstask-payloads/*": "`<bucket>/<payload_prefix>*`",
    f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{TEAM}/*": "the group's schedules",
    f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{TEAM}/sqstask-at-*": "the group's delayed sends (`sqstask-at-*`)",
    ROLE_ARN: "the scheduler role",
    "*": "`*`",
    **{f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}": "this team's alarm ARNs" for name in ALARM_NAMES},
}


def table_rows(text: str) -> list[dict[str, str]]:
    """The rows between the permissions markers, as dicts keyed by the header."""
    block = text.split("<!-- permissions:begin -->", 1)[1].split("<!-- permissions:end -->", 1)[0]
    lines = [line.strip() for line in block.strip().splitlines()]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, rows = cells[0], cells[2:]
    return [dict(zip(header, row)) for row in rows]


def ticked(cell: str) -> list[str]:
    """The `code` spans of a cell, in order."""
    return re.findall(r"`([^`]+)`", cell)


def documented(rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["Role"], ticked(row["Statement"])[0])
        assert key not in found, f"{key} is listed twice"
        assert row["Why (code paths)"], f"{key} does not say why"
        condition = ticked(row["Condition"])
        found[key] = {
            "actions": set(ticked(row["Actions"])),
            "resources": {row["Resource"]},
            "condition": (condition[0], frozenset(condition[1:])) if condition else None,
        }
    return found


def planned(policies: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for role in ROLES:
        for statement in policies[role]["Statement"]:
            actions = statement["Action"]
            resources = statement["Resource"]
            condition = None
            for operator_values in statement.get("Condition", {}).values():
                for key, values in operator_values.items():
                    values = [values] if isinstance(values, str) else values
                    # kms:ViaService values are <service>.<region>.amazonaws.com: the README names the service.
                    names = {v.split(".", 1)[0] if key == "kms:ViaService" else v for v in values}
                    condition = (key, frozenset(names))
            found[(role, statement["Sid"])] = {
                "actions": set([actions] if isinstance(actions, str) else actions),
                "resources": {RESOURCE_WORDS[r] for r in ([resources] if isinstance(resources, str) else resources)},
                "condition": condition,
            }
    return found


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return plan_policies(tmp_path_factory.mktemp("readme-policies"))


def test_the_permissions_table_lists_every_statement_of_every_role_once(policies):
    assert set(documented(table_rows(README.read_text()))) == set(planned(policies))


def test_each_row_has_the_statements_actions_resource_and_condition(policies):
    table = documented(table_rows(README.read_text()))
    for key, statement in planned(policies).items():
        assert table[key] == statement, f"{key}: README says {table[key]}, the policy has {statement}"


def test_a_row_that_drifts_from_the_policy_is_caught(policies):
    text = README.read_text().replace("`dynamodb:BatchWriteItem` | the task table |", "`dynamodb:BatchWriteItem`, `dynamodb:PutItem` | the task table |", 1)
    table = documented(table_rows(text))
    assert table[("consumer", "RecordTaskState")] != planned(policies)[("consumer", "RecordTaskState")]
