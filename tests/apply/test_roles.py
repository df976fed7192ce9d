"""Roles under IAM enforcement: examples/multi-team applied to moto, each SDK entry point and CLI
command (tests/apply/role_cases.py) run as a principal holding exactly one of the module's policies.

Each case is run as the team's producer, consumer and operator (IAM users holding exactly
`<team>-producer`, `<team>-consumer`, `<team>-operator`): allowed where the role should be,
AccessDenied elsewhere. Then every case is run against another team's resources as this team's
principals: AccessDenied for every role. The outcome is printed as a table. The teams here use
SQS-managed SSE; tests/apply/test_roles_customer_key.py runs the same cases with a customer
managed key.

moto evaluates identity policies only (with the extensions of tests/localaws): key policies and
resource policies are asserted as documents in `terraform test`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localaws.pool import Applied
from localaws.principals import Principal, policy_arn

from apply.role_cases import CASES, ROLES, run_matrix, table, unexpected

pytestmark = pytest.mark.apply("multi-team")

TEAM = "payments"
OTHER = "search"

ALLOWED = {case.name: case.allowed for case in CASES}


@pytest.fixture(scope="module")
def principals(applied: Applied) -> dict[str, Principal]:
    return {
        role: Principal.create(applied.server, f"matrix-{TEAM}-{role}", policy_arns=[policy_arn(applied.server, f"{TEAM}-{role}")])
        for role in ROLES
    }


def sdk_config(applied: Applied, team: str) -> dict[str, Any]:
    return json.loads(applied.deployment.output("sdk_configs")[team])


def test_each_role_may_do_its_job_and_nothing_else(applied, principals, monkeypatch, apply_report):
    results = run_matrix(sdk_config(applied, TEAM), principals, monkeypatch)
    apply_report("\n" + table(f"team {TEAM}, own resources (IAM enforced, SQS-managed SSE)", results))
    wrong = unexpected(results, lambda name, role: role in ALLOWED[name])
    assert not wrong, "\n".join(wrong)


# Across teams everything is refused. `sqstask schedules list` too: ListSchedules is granted on
# "*" (it supports no resource-level permissions), but the command reads each schedule it lists
# with GetSchedule, which stays limited to the team's own group.
CROSS_TEAM_ALLOWED: dict[str, set[str]] = {}


def test_no_role_of_one_team_reaches_another_teams_resources(applied, principals, monkeypatch, apply_report):
    results = run_matrix(sdk_config(applied, OTHER), principals, monkeypatch)
    apply_report("\n" + table(f"team {TEAM}'s principals on team {OTHER}'s resources", results))
    wrong = unexpected(results, lambda name, role: role in CROSS_TEAM_ALLOWED.get(name, set()))
    assert not wrong, "\n".join(wrong)
