"""Smoke tests for benchmarks/: each benchmark runs once at a tiny size, so none can rot.

They assert the call counts, which are deterministic; never timings (``make bench`` measures
those and writes benchmarks/RESULTS.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the repository
    sys.path.insert(0, str(ROOT))

from benchmarks import calls, coldstart, heartbeat, overhead, priorities, report  # noqa: E402
from benchmarks.workload import fake_aws_environment  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def fake_aws():
    """Fake credentials for the whole module; no profile, endpoint or SQSTASK_* settings leak in."""
    import os

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("SQSTASK_", "POWERTOOLS_")) or name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
                patch.delenv(name)
        for name, value in fake_aws_environment().items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def producer():
    # At least 10 groups: send_many puts at most one task of a group in a call (group order).
    return calls.producer_calls(25, groups=10)


@pytest.fixture(scope="module")
def worker():
    return calls.worker_calls(20, groups=5, concurrency=4, wait_seconds=1)


@pytest.fixture(scope="module")
def worker_long():
    return calls.worker_calls(3, groups=3, concurrency=3, task_seconds=2.5, visibility_timeout=2, wait_seconds=1,
                              label="Worker, long tasks")


@pytest.fixture(scope="module")
def naive_consumer():
    return calls.naive_consumer_calls(15, groups=5)


@pytest.fixture(scope="module")
def lambda_path():
    return calls.lambda_calls(20, groups=5)


@pytest.fixture(scope="module")
def lambda_batch():
    return calls.lambda_batch_calls(20, groups=5)


@pytest.fixture(scope="module")
def round_trip():
    return overhead.handler_overhead(20, rounds=1, round_trip=0.005)


@pytest.fixture(scope="module")
def beat_hour():
    return heartbeat.task_hour_schedule(measured_seconds=3.5)


@pytest.fixture(scope="module")
def beat():
    return heartbeat.heartbeat_calls(25, rounds=2, visibility_timeout=2, interval=0.5)


@pytest.fixture(scope="module")
def producer_overhead():
    return overhead.producer_overhead(25, rounds=1)


@pytest.fixture(scope="module")
def handler_fresh():
    return overhead.handler_overhead(20, rounds=1)


@pytest.fixture(scope="module")
def handler_duplicate():
    return overhead.handler_overhead(20, rounds=1, duplicates=True)


@pytest.fixture(scope="module")
def metrics_cost():
    return overhead.metrics_overhead(20, rounds=1)


@pytest.fixture(scope="module")
def tier_runs():
    return priorities.priority_runs(30)


@pytest.fixture(scope="module")
def cold():
    return coldstart.cold_start(runs=1)


def test_send_many_sends_ten_tasks_per_batch_call_and_the_loop_one(producer):
    assert producer.sqstask_calls == {"SendMessageBatch": 3}
    assert producer.sqstask_entries == 25
    assert producer.naive_calls == {"SendMessage": 25}


def test_worker_runs_each_task_with_two_dynamodb_writes_and_acknowledges_every_message(worker):
    assert worker.dynamodb_calls == {"UpdateItem": 40}
    assert worker.messages_received == 20
    assert worker.deleted_entries == 20
    assert set(worker.sqs_calls) == {"ReceiveMessage", "DeleteMessageBatch"}
    assert worker.sqs_calls["ReceiveMessage"] >= 2  # at most 10 per receive


def test_worker_run_records_the_slots_and_ack_deadline_the_report_quotes(worker, worker_long):
    assert (worker.max_held, worker.ack_deadline) == (4 + 10, 1.0)  # default prefetch: a full receive batch
    assert (worker_long.max_held, worker_long.ack_deadline) == (3 + 10, 0.5)  # a quarter of the 2 s visibility


def test_worker_heartbeat_extends_tasks_that_outlive_the_visibility_timeout(worker_long):
    assert worker_long.sqs_calls.get("ChangeMessageVisibilityBatch", 0) >= 1
    assert worker_long.visibility_entries >= 3
    assert worker_long.deleted_entries == 3
    assert worker_long.dynamodb_calls["UpdateItem"] > 6  # claim + complete, plus lease renewals


def test_plain_consumer_loop_makes_one_receive_and_one_delete_per_task(naive_consumer):
    assert naive_consumer.sqs_calls == {"ReceiveMessage": 15, "DeleteMessage": 15}


def test_batch_handler_makes_two_dynamodb_calls_per_fresh_record_and_one_per_duplicate(lambda_path):
    ours, _ = lambda_path
    assert ours.fresh_calls == {"UpdateItem": 40}
    assert ours.duplicate_calls == {"UpdateItem": 20}
    assert ours.other_calls == {}


def test_powertools_baseline_makes_put_and_update_per_fresh_record_and_one_put_per_duplicate(lambda_path):
    _, theirs = lambda_path
    assert theirs.fresh_calls == {"PutItem": 20, "UpdateItem": 20}
    assert theirs.duplicate_calls == {"PutItem": 20}


def test_batch_mode_makes_one_read_and_one_write_per_batch_of_ten_and_one_read_for_duplicates(lambda_batch):
    assert lambda_batch.fresh_calls == {"BatchGetItem": 2, "BatchWriteItem": 2}
    assert lambda_batch.duplicate_calls == {"BatchGetItem": 2}
    assert lambda_batch.keys_read == {"fresh": 20, "duplicate": 20}
    assert lambda_batch.items_written == {"fresh": 20, "duplicate": 0}
    assert max(lambda_batch.item_sizes) <= 1024  # one write unit per record


def test_wall_time_comparison_makes_each_sides_calls_with_the_round_trip(round_trip):
    assert round_trip.round_trip_ms == 5
    assert round_trip.calls == {"sqstask batch_handler": {"UpdateItem": 40},
                                "sqstask batch_handler, batch mode": {"BatchGetItem": 2, "BatchWriteItem": 2},
                                "Powertools": {"PutItem": 20, "UpdateItem": 20}}
    # 40 sequential calls at 5 ms cannot take less than 0.2 s; 4 calls take at least 20 ms
    assert min(round_trip.seconds["sqstask batch_handler"]) >= 0.2
    assert min(round_trip.seconds["sqstask batch_handler, batch mode"]) >= 0.02


def test_a_task_hour_costs_at_most_ten_entries_with_the_growing_window(beat_hour):
    assert beat_hour.schedule == {30: {"fixed": 359, "growing": 9}, 60: {"fixed": 179, "growing": 8},
                                  300: {"fixed": 35, "growing": 7}}
    assert beat_hour.predicted == {"fixed": 5, "growing": 3}
    assert beat_hour.measured["growing"] < beat_hour.measured["fixed"]


def test_heartbeat_extends_every_message_in_ceil_n_over_10_calls_per_round(beat):
    assert beat.calls_per_round == [3, 3]
    assert beat.entries_per_round == [25, 25]
    assert beat.still_in_flight == 25


def test_producer_overhead_sides_make_the_expected_canned_calls(producer_overhead):
    assert producer_overhead.calls == {
        "sqstask send_many": {"SendMessageBatch": 3},
        "boto3 send_message loop": {"SendMessage": 25},
        "boto3 send_message_batch loop (reference)": {"SendMessageBatch": 3},
    }
    assert all(len(times) == 1 for times in producer_overhead.seconds.values())


def test_handler_overhead_sides_make_the_same_calls_as_on_moto(handler_fresh, handler_duplicate):
    assert handler_fresh.calls == {"sqstask batch_handler": {"UpdateItem": 40},
                                   "sqstask batch_handler, batch mode": {"BatchGetItem": 2, "BatchWriteItem": 2},
                                   "Powertools": {"PutItem": 20, "UpdateItem": 20}}
    assert handler_duplicate.calls == {"sqstask batch_handler": {"UpdateItem": 20},
                                       "sqstask batch_handler, batch mode": {"BatchGetItem": 2},
                                       "Powertools": {"PutItem": 20}}


def test_cpu_comparisons_use_cpu_time_and_round_trips_wall_time(handler_fresh, round_trip):
    assert overhead.comparison_clock(handler_fresh) is overhead.time.process_time
    assert overhead.comparison_clock(round_trip) is overhead.time.perf_counter


def test_bare_call_floor_is_one_canned_write_per_call_and_the_lease_miss_quotes_it(handler_fresh):
    for lean in (False, True):
        floor = overhead.bare_call_us(5, rounds=2, lean=lean)
        assert len(floor) == 2 and all(us > 0 for us in floor)
    text = report.lease_cpu_miss(handler_fresh, [400.0, 500.0], [300.0, 300.0])
    assert "Missed 0.80 (lease mode CPU)" in text
    # lease mode runs on the SDK's clients, so its floor is theirs
    assert ("through the SDK's client costs 300 µs of boto3 CPU (each round: 300 300), "
            "so 2 writes cost at least 600 µs") in text
    text = report.lease_cpu_miss(handler_fresh, [400.0, 500.0])
    assert ("through a default client costs 450 µs of boto3 CPU (each round: 400 500), "
            "so 2 writes cost at least 900 µs") in text
    assert "smallest DynamoDB write" not in report.lease_cpu_miss(handler_fresh, None)


def test_the_lambda_comparison_runs_sqstask_on_the_sdks_clients_and_powertools_on_defaults(monkeypatch):
    import sqstask.clients

    configured = []
    real = sqstask.clients.client_config

    def spy(service):
        configured.append(service)
        return real(service)

    monkeypatch.setattr(sqstask.clients, "client_config", spy)
    comparison = overhead.handler_overhead(10, rounds=1)
    # lease mode and batch mode each build their own DynamoDB and SQS clients; Powertools none
    assert sorted(configured) == ["dynamodb", "dynamodb", "sqs", "sqs"]
    assert set(comparison.calls) == {overhead.LEASE_SIDE, overhead.BATCH_SIDE, overhead.POWERTOOLS_SIDE}


def test_task_metrics_add_no_aws_call(metrics_cost):
    assert metrics_cost.calls == {overhead.METRICS_ON: {"UpdateItem": 40}, overhead.METRICS_OFF: {"UpdateItem": 40}}
    assert all(len(times) == 1 for times in metrics_cost.seconds.values())


def test_cold_start_probe_runs_each_variant_in_a_fresh_interpreter(cold):
    assert {variant: len(samples) for variant, samples in cold.samples.items()} == {
        "boto3": 1, "sqstask": 1, "powertools": 1}
    assert cold.calls("sqstask") == {"UpdateItem": 2}
    assert cold.calls("powertools") == {"PutItem": 1, "UpdateItem": 1}


def test_worker_over_tiers_runs_every_task_higher_tiers_first_and_counts_its_receives(tier_runs):
    spread, lowest = tier_runs
    assert spread.tasks_by_tier == {"urgent": 10, "default": 10, "bulk": 10} and lowest.tasks_by_tier == {"bulk": 30}
    # All queued up front: the higher tiers run first (tasks run in parallel, so only the order of
    # the means is certain, not exact positions).
    assert spread.mean_position["urgent"] < spread.mean_position["default"] < spread.mean_position["bulk"]
    # At least one receive per 10 tasks; with work on the lowest tier only, every round that
    # finds it also paid an empty short poll on each of the two tiers above.
    assert spread.receives >= 3 and lowest.receives >= 3 * 3
    assert lowest.empty_receives >= 2 * 3 and lowest.receives_per_task > spread.receives_per_task


def test_report_puts_every_measurement_beside_its_target(
    tmp_path, producer, worker, worker_long, naive_consumer, lambda_path, beat, producer_overhead, handler_fresh,
    handler_duplicate, cold, lambda_batch, round_trip, beat_hour, metrics_cost, tier_runs,
):
    results = report.Results(
        command="python -m benchmarks.run --quick", started_at="2026-01-01 00:00 UTC", seconds=60.0, cpus=2,
        python="3.11", versions={"sqstask": "0"}, producer=producer, worker=worker, worker_long=worker_long,
        naive_consumer=naive_consumer, lambda_sqstask=lambda_path[0], lambda_powertools=lambda_path[1],
        producer_overhead=producer_overhead, handler_fresh=handler_fresh, handler_duplicate=handler_duplicate,
        cold_start=cold, heartbeat=beat, lambda_batch=lambda_batch, handler_round_trip=round_trip,
        heartbeat_hour=beat_hour, metrics_overhead=metrics_cost, metrics_emit_us=overhead.emf_cost(20, repeats=2),
        priorities=tier_runs,
    )
    text = report.write(results, tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "Made by `python -m benchmarks.run --quick`" in text
    for target in ("<= 0.11", ">= 2,700 tasks/s", "<= 0.25", "below Powertools", "<= 50 ms and below Powertools",
                   "ceil(25/10) = 3", "<= 0.80", "<= 0.30", "<= 0.2", "<= 0.1", "<= 1/5 of Powertools", "< 3 %",
                   "Lambda handler: task metrics (EMF) on vs off", "**Task metrics.**"):
        assert target in text, target
    # 25 tasks need 3 batch calls: 0.12 per task, above the target, so the row is marked as a miss
    assert ("| Producer: SendMessage* calls per task | 0.120 | 1.000 (send_message loop) | <= 0.11 | **MISSED** |"
            in text)
    assert "$0.50 per million requests" in text
    assert "| Lambda, batch mode: DynamoDB calls per fresh record | 0.20 | 2.00 (Powertools) | <= 0.2 | met |" in text
    assert "| Heartbeat: visibility entries per task-hour, 300 s visibility timeout, max window 900 s | 7 | 35 " \
           "(fixed window) | <= 10 | met |" in text
    assert "#### Idempotency modes side by side" in text
    assert "### Consumer with priority tiers" in text and "3 tiers, tasks on the lowest tier only" in text
