"""Who may do what: principal x action checks against applied resources, printed as a table.

An `Action` is one AWS call on one kind of resource of a team (`Target`); a `Check` says which
principal does it on which team's resources and whether it must be allowed. Add a command or a
variant (e.g. a customer managed key) by adding actions and checks: nothing else changes.
A call counts as allowed when IAM let it through, even if the service then refused it for
another reason (a made-up receipt handle, a missing object): only the IAM decision is tested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .principals import Principal, access_denied

FAKE_RECEIPT = "AQEBlocalawsfakereceipthandle=="
# The table probes' item. Not "matrix-probe": that is the task id of the queue probe's message
# (its deduplication id), which a later consumer flow on the same queue may receive and claim;
# an item the probes wrote under that id would look like a claim in progress.
TABLE_PROBE_KEY = {"task_id": {"S": "matrix-table-probe"}}


@dataclass(frozen=True)
class Target:
    """One team's resources, as its sdk_config names them."""

    team: str
    queue_url: str
    dlq_url: str
    table: str
    bucket: str | None
    payload_prefix: str = "sqstask-payloads/"

    @classmethod
    def from_sdk_config(cls, config: Mapping[str, Any] | str) -> Target:
        values = json.loads(config) if isinstance(config, str) else config
        return cls(values["name"], values["queue_url"], values["dlq_url"], values["idempotency_table"], values.get("payload_bucket"))


Call = Callable[[Principal, Target], object]


@dataclass(frozen=True)
class Action:
    """A named AWS call on a team's resources."""

    name: str
    call: Call


def _sqs(principal: Principal) -> Any:
    return principal.client("sqs")


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in [
        Action("queue:SendMessage", lambda p, t: _sqs(p).send_message(QueueUrl=t.queue_url, MessageBody="{}", MessageGroupId="matrix", MessageDeduplicationId="matrix-probe")),
        Action("queue:ReceiveMessage", lambda p, t: _sqs(p).receive_message(QueueUrl=t.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0)),
        Action("queue:DeleteMessage", lambda p, t: _sqs(p).delete_message(QueueUrl=t.queue_url, ReceiptHandle=FAKE_RECEIPT)),
        Action("queue:ChangeMessageVisibility", lambda p, t: _sqs(p).change_message_visibility(QueueUrl=t.queue_url, ReceiptHandle=FAKE_RECEIPT, VisibilityTimeout=0)),
        Action("queue:GetQueueAttributes", lambda p, t: _sqs(p).get_queue_attributes(QueueUrl=t.queue_url, AttributeNames=["ApproximateNumberOfMessages"])),
        Action("queue:PurgeQueue", lambda p, t: _sqs(p).purge_queue(QueueUrl=t.queue_url)),
        Action("dlq:ReceiveMessage", lambda p, t: _sqs(p).receive_message(QueueUrl=t.dlq_url, MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0)),
        Action("dlq:DeleteMessage", lambda p, t: _sqs(p).delete_message(QueueUrl=t.dlq_url, ReceiptHandle=FAKE_RECEIPT)),
        Action("dlq:SendMessage", lambda p, t: _sqs(p).send_message(QueueUrl=t.dlq_url, MessageBody="{}", MessageGroupId="matrix", MessageDeduplicationId="matrix-probe")),
        Action("dlq:PurgeQueue", lambda p, t: _sqs(p).purge_queue(QueueUrl=t.dlq_url)),
        Action("table:GetItem", lambda p, t: p.client("dynamodb").get_item(TableName=t.table, Key=TABLE_PROBE_KEY)),
        Action("table:PutItem", lambda p, t: p.client("dynamodb").put_item(TableName=t.table, Item=TABLE_PROBE_KEY)),
        Action("table:UpdateItem", lambda p, t: p.client("dynamodb").update_item(
            TableName=t.table, Key=TABLE_PROBE_KEY, UpdateExpression="SET probe = :p",
            ExpressionAttributeValues={":p": {"S": "matrix"}})),
        Action("table:Scan", lambda p, t: p.client("dynamodb").scan(TableName=t.table, Limit=1)),
        Action("bucket:PutObject", lambda p, t: p.client("s3").put_object(Bucket=t.bucket, Key=f"{t.payload_prefix}matrix-probe", Body=b"{}")),
        Action("bucket:GetObject", lambda p, t: p.client("s3").get_object(Bucket=t.bucket, Key=f"{t.payload_prefix}matrix-probe")),
    ]
}


@dataclass(frozen=True)
class Check:
    """`principal` doing `action` on `team`'s resources must be allowed (or denied)."""

    principal: str
    action: str
    team: str
    allowed: bool


@dataclass
class Outcome:
    check: Check
    allowed: bool
    detail: str

    @property
    def as_expected(self) -> bool:
        return self.allowed == self.check.allowed


@dataclass
class MatrixResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def mismatches(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.as_expected]

    def table(self) -> str:
        """principal x action, one cell per team checked: allowed / denied (! when unexpected)."""
        principals = list(dict.fromkeys(o.check.principal for o in self.outcomes))
        columns = list(dict.fromkeys(f"{o.check.action}@{o.check.team}" for o in self.outcomes))
        cells = {(o.check.principal, f"{o.check.action}@{o.check.team}"): o for o in self.outcomes}
        width = max(len(p) for p in principals)
        lines = []
        for column in columns:
            row = [f"{column:<40}"]
            for principal in principals:
                outcome = cells.get((principal, column))
                text = "-" if outcome is None else ("allowed" if outcome.allowed else "denied") + ("" if outcome.as_expected else "!")
                row.append(f"{text:<{max(width, 8)}}")
            lines.append(" ".join(row))
        header = " ".join([f"{'action@team':<40}", *(f"{p:<{max(width, 8)}}" for p in principals)])
        return "\n".join([header, *lines])


def run(checks: Iterable[Check], principals: Mapping[str, Principal], targets: Mapping[str, Target]) -> MatrixResult:
    """Make every check's call as its principal and record whether IAM allowed it."""
    result = MatrixResult()
    for check in checks:
        action = ACTIONS[check.action]
        try:
            action.call(principals[check.principal], targets[check.team])
            result.outcomes.append(Outcome(check, True, "ok"))
        except Exception as error:  # noqa: BLE001 - classified below
            denied = access_denied(error)
            result.outcomes.append(Outcome(check, not denied, f"{type(error).__name__}: {str(error)[:160]}"))
    return result


def checks(principal: str, team: str, allowed: Sequence[str], denied: Sequence[str]) -> list[Check]:
    """Checks for one principal on one team: the actions it must be allowed and refused."""
    return [Check(principal, a, team, True) for a in allowed] + [Check(principal, a, team, False) for a in denied]
