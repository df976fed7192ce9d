"""Roles under IAM enforcement with a customer managed key: the worker-tiers variant of
examples/worker is applied with `create_kms_key = true` (tests/apply/conftest.py), so its queues,
schedule DLQ and recurring schedule are encrypted with the team's key.

The localaws extension `customer_managed_keys_need_the_callers_grants` makes moto require, as AWS
does, the caller's KMS grants (through `kms:ViaService`) when SQS or EventBridge Scheduler use the
key on its behalf. Every entry point of tests/apply/role_cases.py runs as each role: the same
outcome as without a key. Then each role with its policy minus the key statements: every entry
point the role may run that uses the key is refused, the others still work — so the key grants
are both needed and sufficient.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localaws.pool import Applied
from localaws.principals import Principal, policy_arn

from apply.role_cases import CASES, ROLES, run_matrix, table, unexpected

pytestmark = pytest.mark.apply("worker-tiers")

ALLOWED = {case.name: case.allowed for case in CASES}
PURGE = "sqstask dlq purge --yes"
KEY_STATEMENT_SUFFIX = "WithTeamKey"  # modules/iam: the Sids of the statements that use the team key

# Entry points each role may run that make SQS or Scheduler use the team key for the caller
# (SendMessage: GenerateDataKey and Decrypt; ReceiveMessage and GetSchedule: Decrypt;
# UpdateSchedule: DescribeKey, GenerateDataKey and Decrypt). The rest need no key grant here: the
# delayed send's schedule uses an AWS owned key, and `status` and `alarms` read queue attributes,
# metrics and alarms, touching no encrypted data. (The offloaded payload's
# PutObject would also need its S3 key grant on AWS; S3 SSE-KMS is not modelled.)
USES_THE_KEY = {
    "producer": {"TaskQueue.send", "sqstask send", "TaskQueue.send (payload to S3)"},
    "consumer": {"receive + batch_handler", "change visibility (Heartbeat)"},
    "operator": {"TaskQueue.send", "sqstask send", "sqstask dlq list", "sqstask dlq redrive --dry-run",
                 "sqstask dlq redrive", "sqstask schedules list", "sqstask schedules disable",
                 "sqstask schedules enable", "sqstask schedules run"},
}


@pytest.fixture(scope="module")
def config(sdk_config: str) -> dict[str, Any]:
    return json.loads(sdk_config)


@pytest.fixture(scope="module", autouse=True)
def queues_left_empty(applied: Applied, config: dict[str, Any]) -> Any:
    """Other tests of this deployment (test_priorities.py) count what their worker runs: leave
    none of the matrix's tasks behind."""
    yield
    sqs = applied.server.client("sqs")
    for url in {*config["priority_queue_urls"].values(), config["queue_url"]}:  # the DLQ was purged by the matrix
        sqs.purge_queue(QueueUrl=url)


def _policy_document(applied: Applied, name: str) -> dict[str, Any]:
    iam = applied.server.client("iam")
    arn = policy_arn(applied.server, name)
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document


def test_the_variant_encrypts_queues_and_schedules_with_the_teams_key(applied: Applied, config: dict[str, Any]) -> None:
    sqs = applied.server.client("sqs")
    keys = {sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])["Attributes"].get("KmsMasterKeyId")
            for url in [*config["priority_queue_urls"].values(), config["dlq_url"]]}
    assert len(keys) == 1 and None not in keys, keys
    (queue_key,) = keys
    metadata = applied.server.client("kms").describe_key(KeyId=queue_key)["KeyMetadata"]
    assert metadata["KeyManager"] == "CUSTOMER"
    schedule = applied.server.client("scheduler").get_schedule(Name="nightly-report", GroupName=config["schedule_group"])
    assert schedule["KmsKeyArn"] == metadata["Arn"]
    for role in ROLES:
        sids = [statement.get("Sid", "") for statement in _policy_document(applied, f"{config['name']}-{role}")["Statement"]]
        assert any(sid.endswith(KEY_STATEMENT_SUFFIX) for sid in sids), f"{role}: no key statement in {sids}"


def test_each_role_may_do_its_job_and_nothing_else_with_a_customer_managed_key(
    applied: Applied, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, apply_report: Any
) -> None:
    principals = {
        role: Principal.create(applied.server, f"cmk-{role}", policy_arns=[policy_arn(applied.server, f"{config['name']}-{role}")])
        for role in ROLES
    }
    results = run_matrix(config, principals, monkeypatch)
    apply_report("\n" + table(f"team {config['name']}, own resources (IAM enforced, customer managed key)", results))
    wrong = unexpected(results, lambda name, role: role in ALLOWED[name])
    assert not wrong, "\n".join(wrong)


def test_without_its_key_statements_a_role_is_refused_exactly_where_it_uses_the_key(
    applied: Applied, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, apply_report: Any
) -> None:
    principals = {}
    for role in ROLES:
        document = _policy_document(applied, f"{config['name']}-{role}")
        kept = [s for s in document["Statement"] if not s.get("Sid", "").endswith(KEY_STATEMENT_SUFFIX)]
        assert len(kept) < len(document["Statement"]), f"{role}: no statement ends with {KEY_STATEMENT_SUFFIX}"
        principals[role] = Principal.create(
            applied.server, f"cmk-keyless-{role}", policy_documents={"keyless": {**document, "Statement": kept}})
    # Only what each role may do: what it may not is refused with or without key statements (the
    # matrix above). SQS allows one PurgeQueue per queue every 60 s, and the matrix above purged
    # the DLQ: `dlq purge` (which uses no key) is left out here rather than waited for.
    cases = [case for case in CASES if case.name != PURGE]
    results = run_matrix(config, principals, monkeypatch, cases, only=lambda case, role: role in case.allowed)
    apply_report("\n" + table(f"team {config['name']}, each role's policy without its key statements", results))
    for name in USES_THE_KEY["operator"] | USES_THE_KEY["producer"] | USES_THE_KEY["consumer"]:
        assert name in ALLOWED, f"USES_THE_KEY names an unknown entry point: {name}"
    wrong = unexpected(results, lambda name, role: role in ALLOWED[name] and name not in USES_THE_KEY[role])
    assert not wrong, "\n".join(wrong)
