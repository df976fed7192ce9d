"""examples/worker applied to moto under IAM enforcement: a Worker with idempotency="batch",
acting as a principal that holds exactly the worker role's policies, runs every task once and
records it (BatchGetItem and BatchWriteItem are granted on the task table, nothing more needed)."""

from __future__ import annotations

import threading
import time

import pytest

from localaws import Principal
from localaws.pool import Applied

pytestmark = pytest.mark.apply("worker")


@pytest.fixture(scope="module")
def worker(applied: Applied) -> Applied:
    return applied


def test_a_batch_mode_worker_runs_and_records_tasks_with_the_modules_consumer_policies(worker: Applied) -> None:
    from sqstask import TaskQueue, Worker
    from sqstask.config import QueueConfig
    from sqstask.idempotency import TaskStore

    config = QueueConfig.from_json(worker.deployment.output_raw("sdk_config"))
    role = worker.deployment.output_raw("worker_role_arn").rsplit("/", 1)[-1]
    attached = worker.server.client("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    consumer = Principal.create(worker.server, "batch-mode-worker", policy_arns=[p["PolicyArn"] for p in attached])
    admin = TaskQueue.from_config(config, sqs_client=worker.server.client("sqs"),
                                  dynamodb_client=worker.server.client("dynamodb"), s3_client=worker.server.client("s3"))
    as_consumer = TaskQueue.from_config(config, sqs_client=consumer.client("sqs"),
                                        dynamodb_client=consumer.client("dynamodb"), s3_client=consumer.client("s3"))
    admin.send_many([{"task_type": "batch-mode", "payload": {"n": n}, "group_id": f"g{n % 2}",
                      "task_id": f"batch-mode-{n}"} for n in range(4)], raise_on_failure=True)
    ran: list[str] = []
    runner = Worker(as_consumer, lambda task: ran.append(task.task_id), idempotency="batch", concurrency=2,
                    wait_seconds=1)
    thread = threading.Thread(target=runner.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while len(ran) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.stop(timeout=10)
    thread.join(30)

    assert sorted(ran) == [f"batch-mode-{n}" for n in range(4)]
    assert runner.stats.succeeded == 4 and runner.stats.failed == 0  # every record written (no AccessDenied)
    store = TaskStore(worker.server.client("dynamodb"), config.idempotency_table)
    assert {store.get(f"batch-mode-{n}")["status"] for n in range(4)} == {"COMPLETED"}
    # Not asserted here: that the messages were deleted. moto's IAM enforcement asks for
    # sqs:DeleteMessageBatch, an action IAM does not have (AWS authorizes DeleteMessageBatch as
    # sqs:DeleteMessage), so any consumer's batched deletes are refused on the emulator.
