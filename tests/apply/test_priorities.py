"""examples/worker with three priority tiers applied to moto: one queue per tier sharing the DLQ,
sdk_config lists them, and the SDK sends to, works off and redrives each tier on them."""

from __future__ import annotations

import json
import threading

import pytest

from localaws.pool import Applied

pytestmark = pytest.mark.apply("worker-tiers")

TIERS = ["urgent", "default", "bulk"]


@pytest.fixture(scope="module")
def tiers(applied: Applied) -> Applied:
    return applied


def test_each_tier_is_a_queue_that_dead_letters_into_the_shared_dlq(tiers: Applied) -> None:
    config = json.loads(tiers.deployment.output_raw("sdk_config"))
    assert config["priorities"] == TIERS and config["default_priority"] == "default"
    names = {tier: url.rsplit("/", 1)[-1] for tier, url in config["priority_queue_urls"].items()}
    assert names == {"urgent": "reports-tiers-urgent.fifo", "default": "reports-tiers.fifo", "bulk": "reports-tiers-bulk.fifo"}
    assert config["priority_queue_urls"]["default"] == config["queue_url"]
    sqs = tiers.server.client("sqs")
    arns = {}
    for tier in TIERS:
        attributes = sqs.get_queue_attributes(QueueUrl=config["priority_queue_urls"][tier], AttributeNames=["All"])["Attributes"]
        arns[tier] = attributes["QueueArn"]
        assert attributes["FifoQueue"] == "true"
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == config["dlq_arn"]
        assert json.loads(attributes["Policy"])["Statement"][0]["Sid"] == "DenyInsecureTransport"
    dlq = sqs.get_queue_attributes(QueueUrl=config["dlq_url"], AttributeNames=["RedriveAllowPolicy"])["Attributes"]
    assert json.loads(dlq["RedriveAllowPolicy"])["sourceQueueArns"] == [arns[t] for t in TIERS]


def test_the_sdk_sends_to_each_tier_and_a_worker_takes_the_highest_first(tiers: Applied) -> None:
    from sqstask import TaskQueue, TaskSpec, Worker
    from sqstask.config import QueueConfig

    config = QueueConfig.from_json(tiers.deployment.output_raw("sdk_config")).with_overrides(
        endpoint_url=tiers.server.endpoint)
    queue = TaskQueue(config=config, session=tiers.server.session())
    # Lowest first, so a worker that ignored the tiers would run them in this order.
    result = queue.send_many([TaskSpec("t", {}, f"g-{tier}", f"task-{tier}", priority=tier) for tier in reversed(TIERS)])
    assert result.ok
    ran: list[str] = []
    lock = threading.Lock()

    def handle(task):
        with lock:
            ran.append(task.task_id)

    worker = Worker(queue, handle, concurrency=1, prefetch=0, wait_seconds=1, idle_exit=3, lower_tier_share=0)
    assert worker.run(install_signal_handlers=False) == 0
    assert ran == [f"task-{tier}" for tier in TIERS]
    assert worker.stats.by_priority == {tier: 1 for tier in TIERS}


def test_destroy_removes_every_tier(tiers: Applied) -> None:
    tiers.destroy()
    assert tiers.deployment.state_list() == []
    assert tiers.server.client("sqs").list_queues().get("QueueUrls", []) == []
