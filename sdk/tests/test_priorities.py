"""Priority tiers: the 0-9 rule, send routing, and a Worker that prefers higher tiers without
starving the lower ones."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, replace

import pytest

from botocore.stub import Stubber

from sqstask import TaskQueue, TaskSpec
from sqstask.cli import main
from sqstask.config import QueueConfig
from sqstask.dlq import DeadLetterQueue, RedriveFilter
from sqstask.exceptions import ConfigError
from sqstask.priorities import PRIORITY_ATTRIBUTE, PriorityTiers, UnknownPriority, tier_for_level
from sqstask.queue import QUEUE_URL_KEY
from sqstask.worker import Worker

from .test_worker import WAIT_LIMIT, Running, ScriptedReceives, wait_for

def tiered_team(make_team, aws, name, tiers, default="default", **team):
    """A team whose module declared ``tiers`` (highest first): one FIFO queue per tier, one DLQ."""
    queue = make_team(name, **team)
    sqs = queue.sqs
    redrive = sqs.get_queue_attributes(QueueUrl=queue.config.queue_url, AttributeNames=["RedrivePolicy"])
    urls = {}
    for tier in tiers:
        if tier == default:
            urls[tier] = queue.config.queue_url
            continue
        urls[tier] = sqs.create_queue(
            QueueName=f"{name}-{tier}.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "30",
                        "RedrivePolicy": redrive["Attributes"]["RedrivePolicy"]},
        )["QueueUrl"]
    config = replace(queue.config, priorities=tuple(tiers), default_priority=default, priority_queue_urls=urls)
    return TaskQueue(config=config, sqs_client=sqs, dynamodb_client=queue.dynamodb, s3_client=queue.s3)


def visible(queue, tier):
    attrs = queue.sqs.get_queue_attributes(QueueUrl=queue.tiers.url(tier),
                                           AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


# -- the 0-9 rule and tier names ---------------------------------------------------------------


def test_integer_priorities_map_onto_tiers_in_equal_bands_from_the_top():
    three = ("urgent", "default", "bulk")
    assert [tier_for_level(p, three) for p in range(9, -1, -1)] == ["urgent"] * 4 + ["default"] * 3 + ["bulk"] * 3
    assert {tier_for_level(p, ("only",)) for p in range(10)} == {"only"}
    assert [tier_for_level(p, ("high", "low")) for p in (9, 5, 4, 0)] == ["high", "high", "low", "low"]
    ten = tuple(f"p{n}" for n in range(9, -1, -1))  # p9 highest
    assert [tier_for_level(p, ten) for p in range(10)] == [f"p{p}" for p in range(10)]


@pytest.mark.parametrize("bad", [10, -1, True, 2.5])
def test_integer_priorities_outside_0_to_9_are_rejected(bad):
    tiers = PriorityTiers(("high", "default"), {"high": "u1", "default": "u2"}, "default")
    with pytest.raises(UnknownPriority, match="0..9|tier name or an integer"):
        tiers.resolve(bad)


def test_an_unknown_tier_name_is_a_clear_error_listing_the_tiers():
    tiers = PriorityTiers(("high", "default"), {"high": "u1", "default": "u2"}, "default")
    with pytest.raises(UnknownPriority, match=r"unknown priority 'urgent': this queue's tiers are high, default"):
        tiers.resolve("urgent")


def test_sdk_config_tiers_are_read_and_checked():
    base = {"queue_url": "https://sqs/q.fifo", "priorities": ["high", "default"], "default_priority": "default",
            "priority_queue_urls": {"high": "https://sqs/q-high.fifo", "default": "https://sqs/q.fifo"}}
    config = QueueConfig.from_json(json.dumps(base))
    assert config.tiers.ordered() == [("high", "https://sqs/q-high.fifo"), ("default", "https://sqs/q.fifo")]
    with pytest.raises(ConfigError, match="no URL for tier"):
        QueueConfig.from_json(json.dumps({**base, "priority_queue_urls": {"default": "https://sqs/q.fifo"}}))
    with pytest.raises(ConfigError, match="list of tier names"):
        QueueConfig.from_json(json.dumps({**base, "priorities": "high"}))
    # Without tiers there is one, the queue itself.
    assert QueueConfig(queue_url="https://sqs/q.fifo").tiers.ordered() == [("default", "https://sqs/q.fifo")]


# -- sending ------------------------------------------------------------------------------------


def test_send_and_send_many_go_to_the_priority_s_tier(make_team, aws):
    queue = tiered_team(make_team, aws, "p1", ["urgent", "default", "bulk"])
    queue.send("t", {}, group_id="g1", priority="urgent")
    queue.send("t", {}, group_id="g2", priority=1)  # 2-0 -> bulk
    queue.send("t", {}, group_id="g3")  # the default tier
    result = queue.send_many([
        TaskSpec("t", {}, "g4", priority=9),
        {"task_type": "t", "payload": {}, "group_id": "g5", "priority": "bulk"},
        TaskSpec("t", {}, "g6", priority="default"),
    ])
    assert result.ok and len(result.sent) == 3
    assert [visible(queue, t) for t in ("urgent", "default", "bulk")] == [2, 2, 2]
    message = queue.receive(wait_seconds=0, queue_url=queue.tiers.url("bulk"))[0]
    assert message["MessageAttributes"][PRIORITY_ATTRIBUTE]["StringValue"] == "bulk"


def test_an_unknown_priority_sends_nothing(make_team, aws):
    queue = tiered_team(make_team, aws, "p2", ["urgent", "default"])
    with pytest.raises(UnknownPriority):
        queue.send("t", {}, group_id="g", priority="bulk")
    with pytest.raises(UnknownPriority):
        queue.send_many([TaskSpec("t", {}, "g", priority="urgent"), TaskSpec("t", {}, "g", priority="bulk")])
    assert visible(queue, "urgent") + visible(queue, "default") == 0


def test_a_queue_without_tiers_sends_no_priority_attribute(make_team):
    queue = make_team("p3")
    queue.send("t", {}, group_id="g", priority="default")
    message = queue.receive(wait_seconds=0)[0]
    assert PRIORITY_ATTRIBUTE not in message.get("MessageAttributes", {})


# -- the Worker -----------------------------------------------------------------------------------


def test_high_tier_tasks_sent_after_low_tier_tasks_run_first(make_team, aws):
    queue = tiered_team(make_team, aws, "p4", ["high", "default"], default="default")
    for n in range(5):
        queue.send("low", {"n": n}, group_id=f"low{n}", task_id=f"low{n}")
    first_started, highs_sent = threading.Event(), threading.Event()
    ran: list[str] = []

    def handle(task):
        if task.task_id == "low0":
            first_started.set()
            assert highs_sent.wait(WAIT_LIMIT), "the test did not send the high-tier tasks"
        ran.append(task.task_id)

    # One task at a time, nothing prefetched: each receive round picks the next task, so the
    # order shows the worker's choice; share 0 serves strictly by priority.
    worker = Worker(queue, handle, concurrency=1, prefetch=0, wait_seconds=0, lower_tier_share=0)
    with Running(worker):
        wait_for(first_started.is_set, "the worker to start a low-tier task")
        for n in range(5):
            queue.send("high", {"n": n}, group_id=f"high{n}", task_id=f"high{n}", priority="high")
        highs_sent.set()
        wait_for(lambda: len(ran) == 10, "all 10 tasks to run")

    assert ran == ["low0"] + [f"high{n}" for n in range(5)] + [f"low{n}" for n in range(1, 5)]
    assert worker.stats.by_priority == {"high": 5, "default": 5}


def test_lower_tiers_still_progress_while_a_higher_tier_is_busy(make_team, aws):
    queue = tiered_team(make_team, aws, "p5", ["high", "default"])
    queue.send_many([TaskSpec("t", {}, f"h{n}", f"high{n:02d}", priority="high") for n in range(24)])
    queue.send_many([TaskSpec("t", {}, f"l{n}", f"low{n:02d}") for n in range(6)])
    ran: list[str] = []

    worker = Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, prefetch=0, wait_seconds=0,
                    lower_tier_share=0.25)
    with Running(worker):
        wait_for(lambda: len(ran) == 30, "all 30 tasks to run")

    # Every fourth receive round starts at the lower tier while the high tier is still busy.
    tiers = ["L" if t.startswith("low") else "H" for t in ran]
    assert "".join(tiers[:24]) == "HHHL" * 6
    assert sorted(ran) == sorted([f"high{n:02d}" for n in range(24)] + [f"low{n:02d}" for n in range(6)])


def test_a_worker_polls_the_tiers_it_is_given_highest_first_and_no_other():
    base = "https://sqs.us-east-1.amazonaws.com/123456789012/team"
    urls = {"urgent": base + "-urgent.fifo", "default": base + ".fifo", "bulk": base + "-bulk.fifo"}
    queue = TaskQueue(config=QueueConfig(queue_url=urls["default"], priorities=("urgent", "default", "bulk"),
                                         default_priority="default", priority_queue_urls=urls))

    def polled(priorities):
        return Worker(queue, lambda task: None, priorities=priorities, idempotency=False).tiers

    assert polled(None) == [(tier, urls[tier]) for tier in ("urgent", "default", "bulk")]
    assert polled(["bulk", "urgent"]) == [("urgent", urls["urgent"]), ("bulk", urls["bulk"])]
    assert polled([9]) == [("urgent", urls["urgent"])]  # an integer priority serves the tier it maps to
    assert polled(["bulk"]) == [("bulk", urls["bulk"])]


def test_a_worker_serving_one_tier_acknowledges_on_that_tier(make_team, aws):
    queue = tiered_team(make_team, aws, "p6", ["urgent", "default"])
    queue.send("t", {}, group_id="g", task_id="u1", priority="urgent")
    queue.send("t", {}, group_id="g", task_id="d1")
    ran: list[str] = []
    with Running(Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, wait_seconds=0,
                        priorities=["urgent"], ack_interval=0)):
        wait_for(lambda: ran == ["u1"] and visible(queue, "urgent") == 0, "the urgent task to run")
    attrs = queue.sqs.get_queue_attributes(
        QueueUrl=queue.tiers.url("urgent"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    assert visible(queue, "default") == 1


# -- operators: dead letters and status per tier -------------------------------------------------


def bury_one_per_tier(queue, tiers):
    """Send a task to each tier and let SQS dead-letter it (max_receive_count 1)."""
    for tier in tiers:
        queue.send("t", {"tier": tier}, group_id=f"g-{tier}", task_id=f"task-{tier}", priority=tier)
        url = queue.tiers.url(tier)
        assert queue.receive(wait_seconds=0, visibility_timeout=0, queue_url=url)  # receive 1 of 1
        assert queue.receive(wait_seconds=0, queue_url=url) == []  # over the limit: moved to the DLQ


def test_dead_letters_name_their_tier_and_redrive_returns_each_to_it(make_team, aws):
    tiers = ["urgent", "default", "bulk"]
    queue = tiered_team(make_team, aws, "p7", tiers, max_receive_count=1)
    bury_one_per_tier(queue, tiers)
    dlq = DeadLetterQueue(queue, wait_seconds=0, progress=lambda line: None)

    letters = dlq.peek()
    assert {letter.task_id: letter.priority for letter in letters} == {f"task-{t}": t for t in tiers}
    assert all(letter.summary(0)["priority"] == letter.priority for letter in letters)

    report = dlq.redrive(RedriveFilter.build(priorities=["urgent"]))
    assert (report.moved, [visible(queue, t) for t in tiers]) == (1, [1, 0, 0])
    report = dlq.redrive()  # moto has no StartMessageMoveTask: the selective path, per tier
    assert report.moved == 2 and report.method == "receive"
    assert [visible(queue, t) for t in tiers] == [1, 1, 1]
    assert dlq.depth().total == 0
    bulk = queue.receive(wait_seconds=0, queue_url=queue.tiers.url("bulk"))[0]
    assert queue.to_task(bulk).task_id == "task-bulk"


def test_the_source_queue_sqs_names_wins_over_the_sent_attribute(make_team, aws):
    queue = tiered_team(make_team, aws, "p8", ["urgent", "default"])
    dlq = DeadLetterQueue(queue, wait_seconds=0)
    message = {
        "MessageId": "m1", "Body": "{}",
        "Attributes": {"DeadLetterQueueSourceArn": "arn:aws:sqs:eu-west-1:123456789012:p8-urgent.fifo"},
        "MessageAttributes": {"sqstask-priority": {"DataType": "String", "StringValue": "default"}},
    }
    assert dlq.tier_of(message) == "urgent"
    assert dlq.tier_of({"MessageId": "m2", "Body": "{}"}) == "default"  # nothing says: the default tier


def test_the_fast_redrive_lets_sqs_return_each_message_to_its_own_tier():
    client = __import__("boto3").client("sqs", region_name="us-east-1")
    base = "https://sqs.us-east-1.amazonaws.com/123456789012/"
    config = QueueConfig(
        queue_url=base + "team.fifo", dlq_url=base + "team-dlq.fifo",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:team.fifo",
        dlq_arn="arn:aws:sqs:us-east-1:123456789012:team-dlq.fifo",
        priorities=("urgent", "default"), default_priority="default",
        priority_queue_urls={"urgent": base + "team-urgent.fifo", "default": base + "team.fifo"},
    )
    queue, stub = TaskQueue(config=config, sqs_client=client), Stubber(client)
    stub.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "2"}})
    # No DestinationArn: the DLQ mixes tiers, and SQS then moves each message back to its source.
    stub.add_response("start_message_move_task", {"TaskHandle": "h"}, {"SourceArn": config.dlq_arn})
    stub.add_response("list_message_move_tasks", {"Results": [{"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 2}]},
                      {"SourceArn": config.dlq_arn, "MaxResults": 1})
    with stub:
        report = DeadLetterQueue(queue, sleep=lambda s: None, progress=lambda line: None).redrive()
    stub.assert_no_pending_responses()
    assert (report.method, report.moved) == ("move-task", 2)


def test_cli_send_status_and_dlq_list_show_the_tiers(make_team, aws, tmp_path, capsys):
    tiers = ["urgent", "default", "bulk"]
    queue = tiered_team(make_team, aws, "p9", tiers, max_receive_count=1)
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps(asdict(queue.config)))

    assert main(["send", "report", "--group", "g", "--priority", "urgent", "--config", str(path)]) == 0
    assert main(["send", "report", "--group", "g", "--priority", "1", "--config", str(path)]) == 0  # 2-0 -> bulk
    out = capsys.readouterr().out
    assert "to p9-urgent.fifo" in out and "to p9-bulk.fifo" in out
    assert main(["send", "report", "--group", "g", "--priority", "nope", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert "unknown priority 'nope'" in err and "Traceback" not in err

    assert main(["status", "--config", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["priorities"]
    assert [(r["priority"], r["queue"], r["visible"]) for r in rows] == [
        ("urgent", "p9-urgent.fifo", 1), ("default", "p9.fifo", 0), ("bulk", "p9-bulk.fifo", 1)]
    assert main(["status", "--config", str(path)]) == 0
    assert "PRIORITY" in capsys.readouterr().out

    for tier in ("urgent", "bulk"):  # dead-letter both
        url = queue.tiers.url(tier)
        queue.receive(wait_seconds=0, visibility_timeout=0, queue_url=url)
        queue.receive(wait_seconds=0, queue_url=url)
    assert main(["dlq", "list", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PRIORITY" in out and "urgent" in out and "bulk" in out


def test_worker_cli_rejects_an_unknown_tier_in_one_line(make_team, aws, tmp_path, capsys):
    queue = tiered_team(make_team, aws, "p10", ["urgent", "default"])
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps(asdict(queue.config)))
    code = main(["worker", "json:loads", "--priorities", "urgent,express", "--config", str(path)])
    err = capsys.readouterr().err
    assert code != 0 and "unknown priority 'express'" in err and "Traceback" not in err


def test_threads_start_higher_tier_tasks_first_with_the_guard_s_share_for_the_oldest(make_team, aws):
    from collections import deque

    from sqstask.worker import _Held

    queue = tiered_team(make_team, aws, "p11", ["high", "default"])
    worker = Worker(queue, lambda task: None, concurrency=1, lower_tier_share=0.25)
    # Held and ready, oldest first: four low-tier groups, then four high-tier groups.
    for n, rank in enumerate([1, 1, 1, 1, 0, 0, 0, 0]):
        key = f"group:{'default' if rank else 'high'}/g{n}"
        worker._groups[key] = deque([_Held({"MessageId": f"m{n}"}, key, rank=rank)])
        worker._ready.append(key)
    picked = [worker._next_ready() for _ in range(8)]
    # Every fourth start is the guard's: the oldest ready group, whatever its tier.
    assert picked == ["group:high/g4", "group:high/g5", "group:high/g6", "group:default/g0",
                      "group:high/g7", "group:default/g1", "group:default/g2", "group:default/g3"]


def test_each_guard_turn_uses_up_exactly_one_whole_credit(make_team, aws):
    from collections import deque

    from sqstask.worker import _Held

    queue = tiered_team(make_team, aws, "p11b", ["high", "default"])
    worker = Worker(queue, lambda task: None, concurrency=1, lower_tier_share=0.5)
    for n, rank in enumerate([1, 1, 1, 0, 0, 0, 0]):
        key = f"group:{'default' if rank else 'high'}/g{n}"
        worker._groups[key] = deque([_Held({"MessageId": f"m{n}"}, key, rank=rank)])
        worker._ready.append(key)
    picked = [worker._next_ready() for _ in range(6)]
    # A share of 0.5: every second start is the guard's, while higher-tier groups are still ready.
    assert picked == ["group:high/g3", "group:default/g0", "group:high/g4", "group:default/g1",
                      "group:high/g5", "group:default/g2"]


def test_a_heartbeat_extends_each_message_on_the_queue_it_came_from(make_team, aws):
    from sqstask.heartbeat import Heartbeat
    from sqstask.queue import QUEUE_URL_KEY

    queue = tiered_team(make_team, aws, "p12", ["urgent", "default"])
    queue.send("t", {}, group_id="g1", priority="urgent")
    queue.send("t", {}, group_id="g2")
    messages = []
    for tier in ("urgent", "default"):
        url = queue.tiers.url(tier)
        message = queue.receive(wait_seconds=0, queue_url=url)[0]
        messages.append({**message, QUEUE_URL_KEY: url})
    calls: list[tuple[str, int]] = []
    real = queue.sqs.change_message_visibility_batch

    def recording(QueueUrl, Entries):  # noqa: N803 - boto3's argument names
        calls.append((QueueUrl, len(Entries)))
        return real(QueueUrl=QueueUrl, Entries=Entries)

    queue.sqs.change_message_visibility_batch = recording
    rounds: list[list[dict]] = []
    try:
        with Heartbeat(queue, messages, visibility_timeout=30, interval=0.2, on_extend=rounds.append):
            wait_for(lambda: len(rounds) >= 1, "one extension round")
    finally:
        del queue.sqs.change_message_visibility_batch
    assert sorted(calls[:2]) == sorted([(queue.tiers.url("urgent"), 1), (queue.tiers.url("default"), 1)])
    assert len(rounds[0]) == 2  # SQS accepted both receipt handles on their own queues


def test_a_follow_up_goes_to_the_tier_it_names(make_team, aws):
    from sqstask import Then, batch_handler
    from sqstask.lambda_local import LambdaLocal

    queue = tiered_team(make_team, aws, "p13", ["urgent", "default"])

    @batch_handler(queue)
    def handle(task):
        if task.task_type == "first":
            return [Then("next", {}, priority="urgent"), Then("later", {})]
        return None

    queue.send("first", {}, group_id="g")
    LambdaLocal(queue, handle, wait_seconds=0).run_once(wait_seconds=0)
    urgent = [queue.to_task(m).task_type for m in queue.receive(wait_seconds=0, queue_url=queue.tiers.url("urgent"))]
    default = [queue.to_task(m).task_type for m in queue.receive(wait_seconds=0)]
    assert (urgent, default) == (["next"], ["later"])


def test_the_starvation_guard_starts_receive_rounds_at_each_lower_tier_in_turn(make_team, aws):
    queue = tiered_team(make_team, aws, "p12", ["urgent", "high", "default"])
    worker = Worker(queue, lambda task: None, lower_tier_share=0.5)

    rounds = [[tier for tier, _ in worker._poll_order()] for _ in range(6)]

    # Every second round (share 0.5) starts at the next lower tier, then asks the rest highest first.
    urgent_first = ["urgent", "high", "default"]
    assert rounds == [urgent_first, ["high", "urgent", "default"], urgent_first, ["default", "urgent", "high"],
                      urgent_first, ["high", "urgent", "default"]]
    strict = Worker(queue, lambda task: None, lower_tier_share=0)
    assert [strict._poll_order()[0][0] for _ in range(4)] == ["urgent"] * 4
    always = Worker(queue, lambda task: None, lower_tier_share=1)
    assert [always._poll_order()[0][0] for _ in range(4)] == ["high", "default", "high", "default"]


def test_a_receive_round_short_polls_each_tier_highest_first_then_long_polls_the_highest(make_team, aws):
    base = tiered_team(make_team, aws, "p13", ["urgent", "high", "default"])
    base.send("t", {}, group_id="g", task_id="h1", priority="high")
    high = base.receive(wait_seconds=0, queue_url=base.tiers.url("high"))
    nothing = list
    # Round 1: every tier empty. Round 2: the urgent tier empty, the high tier has h1.
    sqs = ScriptedReceives(aws.client("sqs"), [nothing, nothing, nothing, nothing, nothing, lambda: high])
    queue = TaskQueue(config=base.config, sqs_client=sqs, dynamodb_client=base.dynamodb, s3_client=base.s3)
    worker = Worker(queue, lambda task: None, visibility_timeout=50, lower_tier_share=0)
    urls = {tier: queue.tiers.url(tier) for tier in ("urgent", "high", "default")}

    assert worker._receive(4, 7) == []
    assert [(c["QueueUrl"], c["MaxNumberOfMessages"], c["WaitTimeSeconds"], c["VisibilityTimeout"])
            for c in sqs.calls] == [(urls["urgent"], 4, 0, 50), (urls["high"], 4, 0, 50),
                                    (urls["default"], 4, 0, 50), (urls["urgent"], 4, 7, 50)]
    assert worker.stats.receive_calls == 4

    sqs.calls.clear()
    messages = worker._receive(4, 7)
    # The first tier with messages wins; the round stops there, each message tagged with its queue.
    assert [queue.to_task(m).task_id for m in messages] == ["h1"]
    assert [m[QUEUE_URL_KEY] for m in messages] == [urls["high"]]
    assert [c["QueueUrl"] for c in sqs.calls] == [urls["urgent"], urls["high"]]
    assert worker.stats.by_priority == {"high": 1}

    worker.stop()
    sqs.calls.clear()
    assert worker._receive(4, 0) == [] and sqs.calls == []  # a stopping worker asks no tier


def test_the_same_group_id_in_two_tiers_is_two_groups_that_run_in_parallel(make_team, aws):
    queue = tiered_team(make_team, aws, "p14", ["urgent", "default"])
    queue.send("t", {}, group_id="g", task_id="u1", priority="urgent")
    queue.send("t", {}, group_id="g", task_id="d1")
    both_running = threading.Barrier(2, timeout=3)  # broken (the task fails) unless both run at once
    ran: list[str] = []

    def handle(task):
        both_running.wait()
        ran.append(task.task_id)

    worker = Worker(queue, handle, concurrency=2, wait_seconds=0)
    with Running(worker):
        wait_for(lambda: len(ran) == 2 or worker.stats.failed, "both tasks")
    assert sorted(ran) == ["d1", "u1"] and worker.stats.failed == 0


def test_a_thread_starts_a_held_higher_tier_task_before_an_older_lower_tier_one(make_team, aws):
    queue = tiered_team(make_team, aws, "p15", ["urgent", "default"])
    queue.send("t", {}, group_id="a", task_id="first")
    started, go_on = threading.Event(), threading.Event()
    ran: list[str] = []

    def handle(task):
        if task.task_id == "first":
            started.set()
            assert go_on.wait(WAIT_LIMIT), "the test never let the first task finish"
        ran.append(task.task_id)

    # prefetch 20: a full receive batch still fits while three messages are held
    worker = Worker(queue, handle, concurrency=1, prefetch=20, wait_seconds=0, lower_tier_share=0)
    with Running(worker):
        wait_for(started.is_set, "the first task to start")
        queue.send("t", {}, group_id="b", task_id="older-default")
        wait_for(lambda: len(worker._held) == 2, "the default-tier task held")
        queue.send("t", {}, group_id="c", task_id="newer-urgent", priority="urgent")
        wait_for(lambda: len(worker._held) == 3, "the urgent task held")
        go_on.set()
        wait_for(lambda: len(ran) == 3, "all three tasks")
    assert ran == ["first", "newer-urgent", "older-default"]
