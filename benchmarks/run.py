"""``python -m benchmarks.run`` (``make bench``): run every benchmark and write RESULTS.md.

``--quick`` runs every benchmark at a small size (a minute or two) and writes to a
temporary file unless ``--output`` is given; the committed RESULTS.md comes from a full run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .workload import use_fake_aws_environment

RESULTS = Path(__file__).with_name("RESULTS.md")

FULL = dict(tasks=2000, long_tasks=40, long_task_seconds=3.0, long_visibility=2, lambda_records=500,
            overhead_tasks=2000, overhead_records=1000, rounds=7, cold_runs=15, in_flight=100, tier_tasks=300,
            round_trip_records=100, round_trip_rounds=5, task_hour_seconds=24.0)
QUICK = dict(tasks=100, long_tasks=10, long_task_seconds=3.0, long_visibility=2, lambda_records=50,
             overhead_tasks=200, overhead_records=100, rounds=5, cold_runs=10, in_flight=100, tier_tasks=60,
             round_trip_records=50, round_trip_rounds=3, task_hour_seconds=8.0)
ROUND_TRIP = 0.005  # seconds added to every canned AWS answer in the wall-time comparison


def _step(label: str) -> float:
    print(f"[{time.strftime('%H:%M:%S')}] {label} ...", flush=True)
    return time.monotonic()


def _done(started: float, summary: str) -> None:
    print(f"    {summary} ({time.monotonic() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (not for the committed RESULTS.md)")
    parser.add_argument("--output", type=Path, help=f"where to write the results (default {RESULTS})")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    output = args.output or (Path(tempfile.gettempdir()) / "sqstask-RESULTS-quick.md" if args.quick else RESULTS)

    use_fake_aws_environment()  # nothing here may reach AWS
    from . import calls, coldstart, heartbeat, overhead, priorities, report

    began, started_at = time.monotonic(), datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    t = _step(f"producer calls: send_many vs send_message loop, {sizes['tasks']:,} tasks on moto")
    producer = calls.producer_calls(sizes["tasks"])
    _done(t, f"{producer.sqstask_per_task:.3f} vs {producer.naive_per_task:.3f} calls per task")

    t = _step(f"consumer calls: Worker draining {sizes['tasks']:,} tasks on moto")
    worker = calls.worker_calls(sizes["tasks"], label="Worker, short tasks")
    _done(t, f"{worker.sqs_per_task:.3f} SQS calls per task")

    t = _step(f"consumer calls: Worker, {sizes['long_tasks']} tasks of {sizes['long_task_seconds']:g} s, "
              f"visibility timeout {sizes['long_visibility']} s")
    worker_long = calls.worker_calls(sizes["long_tasks"], groups=sizes["long_tasks"],
                                     task_seconds=sizes["long_task_seconds"],
                                     visibility_timeout=sizes["long_visibility"],
                                     label="Worker, tasks outliving the visibility timeout")
    _done(t, f"{worker_long.sqs_per_task:.3f} SQS calls per task")

    t = _step(f"consumer calls: Worker over 3 priority tiers, {sizes['tier_tasks']:,} tasks on moto")
    tier_runs = priorities.priority_runs(sizes["tier_tasks"])
    _done(t, ", ".join(f"{run.receives_per_task:.3f}" for run in tier_runs) + " receives per task")

    t = _step(f"consumer calls: receive(1)/delete(1) loop, {sizes['tasks']:,} tasks on moto")
    naive_consumer = calls.naive_consumer_calls(sizes["tasks"])
    _done(t, f"{naive_consumer.sqs_per_task:.3f} SQS calls per task")

    t = _step(f"Lambda path: DynamoDB calls, {sizes['lambda_records']} records, sqstask vs Powertools")
    lambda_sqstask, lambda_powertools = calls.lambda_calls(sizes["lambda_records"])
    _done(t, f"fresh {lambda_sqstask.fresh_per_record:.2f} vs {lambda_powertools.fresh_per_record:.2f}, "
             f"duplicate {lambda_sqstask.duplicate_per_record:.2f} vs {lambda_powertools.duplicate_per_record:.2f}")

    t = _step(f"Lambda path, batch mode: DynamoDB calls, {sizes['lambda_records']} records")
    lambda_batch = calls.lambda_batch_calls(sizes["lambda_records"])
    _done(t, f"fresh {lambda_batch.fresh_per_record:.2f}, duplicate {lambda_batch.duplicate_per_record:.2f}")

    t = _step(f"overhead: producer, {sizes['overhead_tasks']:,} tasks x {sizes['rounds']} rounds, canned SQS")
    producer_overhead = overhead.producer_overhead(sizes["overhead_tasks"], rounds=sizes["rounds"])
    _done(t, f"send_many/loop time ratio {producer_overhead.ratio('sqstask send_many', 'boto3 send_message loop'):.2f}")

    t = _step(f"overhead: Lambda handlers, {sizes['overhead_records']:,} records x {sizes['rounds']} rounds, fresh")
    handler_fresh = overhead.handler_overhead(sizes["overhead_records"], rounds=sizes["rounds"])
    _done(t, f"lease/Powertools {handler_fresh.ratio(overhead.LEASE_SIDE, overhead.POWERTOOLS_SIDE):.2f}, "
             f"batch/Powertools {handler_fresh.ratio(overhead.BATCH_SIDE, overhead.POWERTOOLS_SIDE):.2f}")

    t = _step(f"overhead: the smallest DynamoDB write, {sizes['overhead_records']:,} calls x {sizes['rounds']} rounds")
    bare_call = overhead.bare_call_us(sizes["overhead_records"], rounds=sizes["rounds"])
    lean_bare_call = overhead.bare_call_us(sizes["overhead_records"], rounds=sizes["rounds"], lean=True)
    _done(t, f"{statistics.median(bare_call):,.0f} µs per call, {statistics.median(lean_bare_call):,.0f} µs "
             "through the SDK's client")

    t = _step(f"overhead: Lambda handlers, {sizes['overhead_records']:,} records x {sizes['rounds']} rounds, duplicates")
    handler_duplicate = overhead.handler_overhead(sizes["overhead_records"], rounds=sizes["rounds"], duplicates=True)
    _done(t, f"sqstask/Powertools time ratio {handler_duplicate.ratio('sqstask batch_handler', 'Powertools'):.2f}")

    t = _step(f"wall time: Lambda handlers, {sizes['round_trip_records']} records x {sizes['round_trip_rounds']} "
              f"rounds, {ROUND_TRIP * 1000:g} ms per AWS call")
    round_trip = overhead.handler_overhead(sizes["round_trip_records"], rounds=sizes["round_trip_rounds"],
                                           round_trip=ROUND_TRIP)
    _done(t, f"batch/Powertools {round_trip.ratio(overhead.BATCH_SIDE, overhead.POWERTOOLS_SIDE):.2f}")

    t = _step(f"overhead: task metrics on vs off, {sizes['overhead_records']:,} records x {sizes['rounds']} rounds")
    metrics_cost = overhead.metrics_overhead(sizes["overhead_records"], rounds=sizes["rounds"])
    metrics_emit = overhead.emf_cost(sizes["overhead_records"], repeats=sizes["rounds"])
    _done(t, f"writing them costs {report.metrics_cost_percent(metrics_emit, metrics_cost):.2f} % per record "
             f"(end to end {report.metrics_added_percent(metrics_cost):+.1f} %)")

    t = _step(f"cold start: {sizes['cold_runs']} fresh interpreters per variant")
    cold = coldstart.cold_start(sizes["cold_runs"])
    _done(t, f"imports {cold.median_ms('sqstask', 'import_library'):.1f} ms vs "
             f"{cold.median_ms('powertools', 'import_library'):.1f} ms (Powertools)")

    t = _step(f"heartbeat: {sizes['in_flight']} messages in flight")
    beat = heartbeat.heartbeat_calls(sizes["in_flight"])
    _done(t, f"calls per round {beat.calls_per_round}")

    t = _step(f"heartbeat: entries per task-hour, fixed vs growing window ({sizes['task_hour_seconds']:g} s on moto)")
    beat_hour = heartbeat.task_hour_schedule(measured_seconds=sizes["task_hour_seconds"])
    _done(t, f"at 300 s: {beat_hour.schedule[300]['fixed']} vs {beat_hour.schedule[300]['growing']}")

    command = "make bench" if not args.quick and argv is None and _via_make() else \
        "python -m benchmarks.run " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    results = report.Results(
        command=command.strip(),
        started_at=started_at,
        seconds=time.monotonic() - began,
        cpus=os.cpu_count() or 0,
        python=sys.version.split()[0],
        versions={name: metadata.version(name) for name in ("sqstask", "boto3", "botocore", "moto",
                                                           "aws-lambda-powertools")},
        producer=producer,
        worker=worker,
        worker_long=worker_long,
        naive_consumer=naive_consumer,
        lambda_sqstask=lambda_sqstask,
        lambda_powertools=lambda_powertools,
        producer_overhead=producer_overhead,
        handler_fresh=handler_fresh,
        handler_duplicate=handler_duplicate,
        cold_start=cold,
        heartbeat=beat,
        lambda_batch=lambda_batch,
        handler_round_trip=round_trip,
        heartbeat_hour=beat_hour,
        metrics_overhead=metrics_cost,
        metrics_emit_us=metrics_emit,
        bare_call_us=bare_call,
        lean_bare_call_us=lean_bare_call,
        priorities=tier_runs,
    )
    path = report.write(results, output)
    print(f"wrote {path} ({results.seconds / 60:.1f} minutes)", flush=True)
    return 0


def _via_make() -> bool:
    """True when ``make`` started this process (it exports MAKELEVEL)."""
    return "MAKELEVEL" in os.environ


if __name__ == "__main__":
    sys.exit(main())
