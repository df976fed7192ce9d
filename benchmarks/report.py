"""Writes benchmarks/RESULTS.md: every measurement beside its target, misses marked with the reason."""

from __future__ import annotations

import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from . import pricing
from .calls import ConsumerCalls, LambdaCalls, ProducerCalls
from .coldstart import ColdStart
from .heartbeat import HeartbeatCalls, TaskHourSchedule
from .overhead import BATCH_SIDE, LEASE_SIDE, METRICS_OFF, METRICS_ON, POWERTOOLS_SIDE, Comparison
from .priorities import TierCalls

MET, MISSED = "met", "**MISSED**"
DEFAULT_VISIBILITY = 300  # the module's visibility_timeout_seconds default


def _batch_ms(comparison: Comparison, side: str) -> float:
    """Median milliseconds per Lambda batch of 10 records."""
    return comparison.median_us(side) * 10 / 1000


@dataclass
class Results:
    """Everything one ``make bench`` run measured, plus how and where it ran."""

    command: str
    started_at: str  # ISO-8601 UTC
    seconds: float
    cpus: int
    python: str
    versions: dict[str, str]
    producer: ProducerCalls
    worker: ConsumerCalls
    worker_long: ConsumerCalls
    naive_consumer: ConsumerCalls
    lambda_sqstask: LambdaCalls
    lambda_powertools: LambdaCalls
    producer_overhead: Comparison
    handler_fresh: Comparison
    handler_duplicate: Comparison
    cold_start: ColdStart
    heartbeat: HeartbeatCalls
    lambda_batch: LambdaCalls
    handler_round_trip: Comparison
    heartbeat_hour: TaskHourSchedule
    metrics_overhead: Comparison | None = None  # batch_handler with its EMF metrics on vs off
    metrics_emit_us: list[float] | None = None  # µs per record that writing the metrics costs, per repeat
    bare_call_us: list[float] | None = None  # CPU µs of the smallest DynamoDB write, per round
    lean_bare_call_us: list[float] | None = None  # the same through a client with the SDK's client_config
    notes: list[str] = field(default_factory=list)
    priorities: list[TierCalls] = field(default_factory=list)


# -- formatting ----------------------------------------------------------------------------------


def _n(value: float, digits: int = 3) -> str:
    return f"{value:,.{digits}f}"


def _ops(calls: dict[str, int]) -> str:
    return ", ".join(f"{op} {n:,}" for op, n in calls.items()) or "none"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _verdict(ok: bool) -> str:
    return MET if ok else MISSED


def _max_item(sizes: list[int]) -> int:
    return max(sizes) if sizes else 0


# -- derived numbers -----------------------------------------------------------------------------


def consumer_breakdown(run: ConsumerCalls) -> dict[str, float]:
    """SQS calls per task of a consumer run, by API action."""
    return pricing.calls_per_action(run.sqs_calls, run.tasks)


def consumer_miss_reason(run: ConsumerCalls, heartbeat_interval: float | None = None) -> str:
    """Why a consumer run made more than 0.25 SQS calls per task, from its own counts."""
    receives = run.sqs_calls.get("ReceiveMessage", 0)
    deletes = run.sqs_calls.get("DeleteMessageBatch", 0)
    changes = run.sqs_calls.get("ChangeMessageVisibilityBatch", 0)
    parts = []
    if receives:
        asked, got = run.messages_requested / receives, run.messages_received / receives
        text = (f"receives returned {got:.1f} messages on average ({receives / run.tasks:.3f} calls per task; "
                "0.100 is the floor)")
        if asked < 9.5:
            text += (f" because the Worker asked for only {asked:.1f} on average: it asks for 10 once 10 of its "
                     f"{run.max_held} slots (concurrency + prefetch) are free, and for fewer only when a thread has "
                     "nothing to run while less than a batch fits (`Worker._receive_size`)")
        elif got < 9.5:
            text += f"; the Worker asked for {asked:.1f} per receive, but "
            if run.empty_receives:
                text += (f"{run.empty_receives} of the {receives} receives came back empty (long polls that ended "
                         "with nothing visible, such as the one running when the run ended) and ")
            per_nonempty = run.messages_received / max(1, receives - run.empty_receives)
            text += f"{'the others' if run.empty_receives else 'the receives'} returned {per_nonempty:.1f} on average"
            if per_nonempty < 9.5:
                text += (": a receive returns only the messages visible at that moment, and a FIFO queue holds back "
                         "those whose group has a message in flight")
        parts.append(text)
    if deletes:
        per_batch = run.deleted_entries / deletes
        text = f"delete batches carried {per_batch:.1f} entries on average ({deletes / run.tasks:.3f} per task)"
        if per_batch < 9.5:
            bound = "moto-bound" if not run.task_seconds else (
                f"bound by {run.task_seconds:g} s tasks on {run.concurrency} threads")
            rate = run.tasks / run.seconds
            text += (" because the Worker sends a partial batch once its oldest delete has waited "
                     f"{run.ack_deadline:g} s (`ack_interval`, at most a quarter of the {run.visibility_timeout} s "
                     "visibility timeout) or when it runs out of work; the run averaged "
                     f"{rate:.1f} tasks/s ({bound}), about {rate * run.ack_deadline:.1f} per {run.ack_deadline:g} s")
        parts.append(text)
    if changes:
        from sqstask.heartbeat import extension_ages

        per_task = changes / run.tasks
        interval = heartbeat_interval or run.visibility_timeout / 3
        growing = len(extension_ages(run.task_seconds, visibility_timeout=run.visibility_timeout, interval=interval))
        fixed = len(extension_ages(run.task_seconds, visibility_timeout=run.visibility_timeout, interval=interval,
                                   max_window=run.visibility_timeout))
        parts.append(
            f"the heartbeat made {changes:,} ChangeMessageVisibilityBatch calls ({per_task:.3f} per task, "
            f"{run.visibility_entries / changes:.1f} entries per call): first after {interval:.2f} s (a third of the "
            f"{run.visibility_timeout} s visibility timeout), then with a window growing with the task's age, a "
            f"{run.task_seconds:g} s task is extended {growing} times ({fixed} with a fixed window), and prefetched "
            "messages waiting for a free thread, and finished ones waiting for their delete, are extended too. A task "
            "that outlives the visibility timeout needs at least one extension, 0.1 calls per task at 10 entries per "
            "call on top of the 0.2 floor of receives and deletes, so 0.25 holds for such tasks only when every "
            "receive, delete and extension call is full; tasks this short relative to the timeout cannot get there"
        )
    return "; ".join(parts) + "."


# -- sections ------------------------------------------------------------------------------------


def _summary(r: Results) -> list[str]:
    p, w, wl = r.producer, r.worker, r.worker_long
    ceiling, _ = pricing.throughput_ceiling(p.sqstask_calls, p.tasks)
    naive_ceiling, _ = pricing.throughput_ceiling(p.naive_calls, p.tasks)
    ls, lp = r.lambda_sqstask, r.lambda_powertools
    hf = r.handler_fresh
    ours, theirs = "sqstask batch_handler", "Powertools"
    cs = r.cold_start
    sq_import, pt_import = cs.median_ms("sqstask", "import_library"), cs.median_ms("powertools", "import_library")
    hb = r.heartbeat
    hb_ok = all(c == hb.expected_per_round for c in hb.calls_per_round)
    lb, rt, hh = r.lambda_batch, r.handler_round_trip, r.heartbeat_hour
    batch_wru = lb.items_written.get("fresh", 0) * pricing.write_units(_max_item(lb.item_sizes)) / lb.records
    wru_pt = pricing.write_units(_max_item(lp.item_sizes))
    default_v = DEFAULT_VISIBILITY if DEFAULT_VISIBILITY in hh.schedule else max(hh.schedule)
    rows = [
        ["Producer: SendMessage* calls per task", _n(p.sqstask_per_task), f"{_n(p.naive_per_task)} (send_message loop)",
         "<= 0.11", _verdict(p.sqstask_per_task <= 0.11)],
        ["Producer: throughput ceiling per FIFO queue (300 calls/s)", f"{ceiling:,.0f} tasks/s",
         f"{naive_ceiling:,.0f} tasks/s", ">= 2,700 tasks/s", _verdict(ceiling >= 2700)],
        [f"Consumer: SQS calls per task, Worker, short tasks ({w.tasks:,})", _n(w.sqs_per_task),
         f"{_n(r.naive_consumer.sqs_per_task)} (receive(1)/delete(1) loop)", "<= 0.25", _verdict(w.sqs_per_task <= 0.25)],
        [f"Consumer: SQS calls per task, Worker, tasks of {wl.task_seconds:g} s > visibility timeout "
         f"{wl.visibility_timeout} s ({wl.tasks})", _n(wl.sqs_per_task), "-", "<= 0.25",
         _verdict(wl.sqs_per_task <= 0.25)],
        ["Lambda: DynamoDB calls per fresh record", _n(ls.fresh_per_record, 2), f"{_n(lp.fresh_per_record, 2)} (Powertools)",
         "2", _verdict(ls.fresh_per_record == 2)],
        ["Lambda: DynamoDB calls per duplicate record", _n(ls.duplicate_per_record, 2),
         f"{_n(lp.duplicate_per_record, 2)} (Powertools)", "1", _verdict(ls.duplicate_per_record == 1)],
        ["Lambda: CPU time per fresh record, canned AWS (median)", f"{hf.median_us(ours):,.0f} µs",
         f"{hf.median_us(theirs):,.0f} µs (Powertools)", "below Powertools",
         _verdict(hf.median_us(ours) < hf.median_us(theirs))],
        ["Lambda, lease mode: CPU per fresh record / Powertools'", f"{hf.ratio(LEASE_SIDE, POWERTOOLS_SIDE):.2f}",
         "1.00", "<= 0.80", _verdict(hf.ratio(LEASE_SIDE, POWERTOOLS_SIDE) <= 0.8)],
        ["Lambda, batch mode: CPU per fresh record / Powertools'", f"{hf.ratio(BATCH_SIDE, POWERTOOLS_SIDE):.2f}",
         "1.00", "<= 0.30", _verdict(hf.ratio(BATCH_SIDE, POWERTOOLS_SIDE) <= 0.3)],
        ["Lambda, batch mode: DynamoDB calls per fresh record", _n(lb.fresh_per_record, 2),
         f"{_n(lp.fresh_per_record, 2)} (Powertools)", "<= 0.2", _verdict(lb.fresh_per_record <= 0.2)],
        ["Lambda, batch mode: DynamoDB calls per duplicate record", _n(lb.duplicate_per_record, 2),
         f"{_n(lp.duplicate_per_record, 2)} (Powertools)", "<= 0.1", _verdict(lb.duplicate_per_record <= 0.1)],
        ["Lambda, batch mode: write units per record", _n(batch_wru, 2), f"{_n(lp.fresh_per_record * wru_pt, 2)} "
         "(Powertools)", "<= 1", _verdict(batch_wru <= 1)],
        [f"Lambda, batch mode: wall time per batch of 10, {rt.round_trip_ms:g} ms per AWS call",
         f"{_batch_ms(rt, BATCH_SIDE):.1f} ms", f"{_batch_ms(rt, POWERTOOLS_SIDE):.1f} ms (Powertools)",
         "<= 1/5 of Powertools", _verdict(_batch_ms(rt, BATCH_SIDE) * 5 <= _batch_ms(rt, POWERTOOLS_SIDE))],
        ["Cold start: import time added to `import boto3` (median)", f"{sq_import:.1f} ms",
         f"{pt_import:.1f} ms (Powertools)", "<= 50 ms and below Powertools",
         _verdict(sq_import <= 50 and sq_import < pt_import)],
        [f"Heartbeat: visibility entries per task-hour, {default_v} s visibility timeout, max window "
         f"{hh.max_window} s", str(hh.schedule[default_v]["growing"]),
         f"{hh.schedule[default_v]['fixed']} (fixed window)", "<= 10",
         _verdict(hh.schedule[default_v]["growing"] <= 10)],
        [f"Heartbeat: ChangeMessageVisibilityBatch calls per interval, {hb.in_flight} in flight",
         " / ".join(str(c) for c in hb.calls_per_round), "-", f"ceil({hb.in_flight}/10) = {hb.expected_per_round}",
         _verdict(hb_ok)],
    ]
    if r.metrics_overhead is not None and r.metrics_emit_us:
        added = metrics_cost_percent(r.metrics_emit_us, r.metrics_overhead)
        rows.append(["Task metrics (EMF): writing them, share of the time per fresh record (median)",
                     f"{statistics.median(r.metrics_emit_us):,.1f} µs = {added:.2f} %",
                     f"{r.metrics_overhead.median_us(METRICS_OFF):,.0f} µs per record with metrics off", "< 3 %",
                     _verdict(added < 3)])
    return ["## Summary", ""] + _table(["measurement", "sqstask", "baseline", "target", "result"], rows)


def metrics_added_percent(comparison: Comparison) -> float:
    """How much longer a record took with the task metrics on, in percent of the time with them off
    (end to end; on a busy machine this difference is within the noise)."""
    return (comparison.ratio(METRICS_ON, METRICS_OFF) - 1) * 100


def metrics_cost_percent(emit_us: list[float], comparison: Comparison) -> float:
    """The measured cost of writing the metrics per record, in percent of a record's time without them."""
    return statistics.median(emit_us) / comparison.median_us(METRICS_OFF) * 100


def _producer(r: Results) -> list[str]:
    p = r.producer
    ceiling, _ = pricing.throughput_ceiling(p.sqstask_calls, p.tasks)
    naive_ceiling, _ = pricing.throughput_ceiling(p.naive_calls, p.tasks)
    lines = [
        "### Producer",
        "",
        f"{p.tasks:,} tasks (~100-byte JSON payloads) over {p.groups} message groups, sent to a FIFO queue on moto "
        f"while a drainer empties it behind the producer and confirms every message arrived.",
        "",
    ]
    lines += _table(
        ["producer", "calls", "calls per task", "ceiling per queue"],
        [
            ["sqstask `send_many`", _ops(p.sqstask_calls), _n(p.sqstask_per_task), f"{ceiling:,.0f} tasks/s"],
            ["boto3 `send_message` loop", _ops(p.naive_calls), _n(p.naive_per_task), f"{naive_ceiling:,.0f} tasks/s"],
        ],
    )
    lines += [
        f"`send_many` put {p.sqstask_entries / max(1, sum(p.sqstask_calls.values())):.1f} entries in each "
        f"SendMessageBatch call; the largest request was {p.max_batch_request_bytes:,} bytes, under the 64 KiB "
        "billing chunk, so each call is billed as one request.",
        "",
    ]
    return lines


def _consumer(r: Results) -> list[str]:
    rows = []
    for run in (r.worker, r.worker_long, r.naive_consumer):
        per = consumer_breakdown(run)
        rows.append([
            run.label,
            f"{run.tasks:,}",
            _ops(run.sqs_calls),
            _n(per.get("ReceiveMessage", 0)),
            _n(per.get("DeleteMessage", 0)),
            _n(per.get("ChangeMessageVisibility", 0)),
            f"**{_n(run.sqs_per_task)}**",
            _ops(run.dynamodb_calls),
            f"{run.seconds:.0f} s",
        ])
    w, wl = r.worker, r.worker_long
    deadline_note = "" if wl.ack_deadline == w.ack_deadline else (
        f" ({wl.ack_deadline:g} s in the long-task run: a quarter of its visibility timeout)")
    lines = [
        "### Consumer",
        "",
        f"Worker defaults (long polling 20 s; prefetch max(concurrency, 10), so {w.max_held} slots; a receive asks "
        "for 10 once 10 slots are free; deletes go out in full batches of 10, a partial one once its oldest "
        f"has waited {w.ack_deadline:g} s{deadline_note} or when the worker runs out of work), "
        f"concurrency {w.concurrency}, idempotency on (task table on moto), {w.groups} message groups. A feeder keeps "
        "up to 300 tasks queued (moto slows down with queue length), so the consumer sees a steady stream. "
        f"The long-task run uses a {wl.visibility_timeout} s visibility timeout and tasks that sleep "
        f"{wl.task_seconds:g} s, so every task needs the heartbeat. Every task ran exactly once in every run "
        "(checked). The last column is how long the run took on moto, not a property of sqstask. Unlike every "
        "other count here, the Worker's receive and delete counts depend on timing (how many messages are visible "
        "at each receive, and how many tasks finish before a partial delete batch is due), so they vary from run "
        "to run and with machine load.",
        "",
    ]
    lines += _table(["consumer", "tasks", "SQS calls", "receive/task", "delete/task", "visibility/task",
                     "SQS calls per task", "DynamoDB calls", "time on moto"], rows)
    for run in (w, wl):
        if run.sqs_per_task > 0.25:
            lines += [f"**Missed 0.25 ({run.label}):** {consumer_miss_reason(run)}", ""]
    renewals = wl.dynamodb_calls.get("UpdateItem", 0) - 2 * wl.tasks
    if renewals > 0:
        lines += [
            f"In the long-task run the heartbeat also renewed idempotency leases: {renewals:,} extra DynamoDB "
            f"UpdateItem calls ({renewals / wl.tasks:.1f} per task, one per running task per heartbeat round; "
            "DynamoDB has no conditional batch update).",
            "",
        ]
    return lines


def _priorities(r: Results) -> list[str]:
    if not r.priorities:
        return []
    rows = [[
        run.label,
        ", ".join(f"{tier} {n:,}" for tier, n in run.tasks_by_tier.items()),
        f"{run.receives:,} ({run.empty_receives:,} empty)",
        f"**{_n(run.receives_per_task)}**",
        _n(r.worker.sqs_calls.get("ReceiveMessage", 0) / r.worker.tasks if r.worker.tasks else 0.0),
        ", ".join(f"{tier} {pos:,.1f}" for tier, pos in run.mean_position.items()),
    ] for run in r.priorities]
    return [
        "### Consumer with priority tiers",
        "",
        "A Worker (concurrency 10, long poll 1 s) serving three tiers `urgent`, `default`, `bulk`, with every task "
        "queued before it starts. Each receive round short-polls the tiers highest first and takes the first that "
        "has messages, so rounds that find higher tiers empty pay one empty receive per tier above; the starvation "
        "guard (lower_tier_share 0.1) starts every tenth round at a lower tier. The single-queue column is the "
        "Worker run above, for comparison. Mean position is where a tier's tasks ran in the run order (0 = first): "
        "the higher tiers finish first. Counts depend on timing like the Worker's above.",
        "",
    ] + _table(["run", "tasks by tier", "ReceiveMessage calls", "receives/task", "receives/task, one queue",
                "mean position by tier"], rows)


def _lambda(r: Results) -> list[str]:
    rows = []
    for run in (r.lambda_sqstask, r.lambda_powertools):
        item = _max_item(run.item_sizes)
        rows.append([run.label, _ops(run.fresh_calls), _n(run.fresh_per_record, 2), _ops(run.duplicate_calls),
                     _n(run.duplicate_per_record, 2), f"{item:,} bytes ({pricing.write_units(item)} WRU per write)",
                     _ops(run.other_calls)])
    lines = [
        "### Lambda path",
        "",
        f"{r.lambda_sqstask.records:,} records in real-shaped SQS events of 10 (built from messages received from "
        "moto), handled once fresh and once more as redeliveries. Powertools is keyed on the same task id "
        "(`powertools_json(body).id`).",
        "",
    ]
    lb = r.lambda_batch
    item = _max_item(lb.item_sizes)
    rows.insert(1, [lb.label, _ops(lb.fresh_calls), _n(lb.fresh_per_record, 2), _ops(lb.duplicate_calls),
                    _n(lb.duplicate_per_record, 2), f"{item:,} bytes ({pricing.write_units(item)} WRU per write)",
                    _ops(lb.other_calls)])
    lines += _table(["handler", "fresh: calls", "per record", "duplicates: calls", "per record",
                     "largest item", "other calls"], rows)
    lines += _modes(r)
    return lines


def _modes(r: Results) -> list[str]:
    """Lease mode, batch mode and Powertools side by side: calls, units and $ per million tasks."""
    ls, lb, lp = r.lambda_sqstask, r.lambda_batch, r.lambda_powertools
    rows = []
    for name, run, reads in (("sqstask, lease mode (`idempotency=True`)", ls, None),
                             ("sqstask, batch mode (`idempotency=\"batch\"`)", lb, lb.keys_read),
                             ("Powertools", lp, None)):
        wru = pricing.write_units(_max_item(run.item_sizes))
        for kind, calls in (("fresh", run.fresh_calls), ("duplicate", run.duplicate_calls)):
            if reads is not None:  # batch mode: one RRU per key read (strongly consistent, under 4 KB)
                writes = run.items_written.get(kind, 0) * wru / run.records
                rru = reads.get(kind, 0) / run.records
            else:  # every call is a single-item write, billed even when its condition fails
                writes, rru = sum(calls.values()) * wru / run.records, 0.0
            cost = pricing.usd_per_million_tasks(0.0, writes, rru)
            rows.append([name, kind, _n(sum(calls.values()) / run.records, 2), _n(writes, 2), _n(rru, 2),
                         f"${cost['dynamodb']:.3f}"])
    return [
        "#### Idempotency modes side by side (DynamoDB, per record, batches of 10)",
        "",
        "Write units: each single-item write (claim, complete, PutItem, UpdateItem) is billed even when its condition "
        "fails; a BatchWriteItem is billed per item written. Read units: batch mode's strongly consistent "
        "BatchGetItem is counted at 1 RRU per key asked for (every item here is under 4 KB; a key with no item is "
        "counted too, to stay on the safe side).",
        "",
    ] + _table(["handler", "records", "DynamoDB calls", "WRU", "RRU", "DynamoDB $ / M tasks"], rows)


def _economics(r: Results) -> list[str]:
    p, w, wl, nc = r.producer, r.worker, r.worker_long, r.naive_consumer
    ls, lp = r.lambda_sqstask, r.lambda_powertools
    chunks = pricing.billed_sqs_requests(1, p.max_batch_request_bytes)
    wru_ours = pricing.write_units(_max_item(w.item_sizes) or _max_item(ls.item_sizes))
    wru_long = pricing.write_units(_max_item(wl.item_sizes) or _max_item(ls.item_sizes))
    wru_pt = pricing.write_units(_max_item(lp.item_sizes))

    def row(name: str, produce: float, consume: float, writes: float, wru: int, ceiling: str) -> list[str]:
        cost = pricing.usd_per_million_tasks(produce + consume, writes * wru)
        return [name, _n(produce + consume), _n(writes * wru, 2), ceiling, f"${cost['sqs']:.3f}",
                f"${cost['dynamodb']:.3f}", f"**${cost['total']:.3f}**"]

    def ceiling_of(*runs: tuple[dict[str, int], int]) -> str:
        merged: dict[str, float] = {}
        for calls, tasks in runs:
            for action, rate in pricing.calls_per_action(calls, tasks).items():
                merged[action] = merged.get(action, 0.0) + rate
        action, rate = max(merged.items(), key=lambda kv: kv[1])
        return f"{pricing.FIFO_CALLS_PER_SECOND_PER_ACTION / rate:,.0f} tasks/s ({action})"

    ours_send = p.sqstask_per_task * chunks
    lb = r.lambda_batch

    def row_batch() -> list[str]:
        writes = lb.items_written.get("fresh", 0) * pricing.write_units(_max_item(lb.item_sizes)) / lb.records
        reads = lb.keys_read.get("fresh", 0) / lb.records
        cost = pricing.usd_per_million_tasks(ours_send, writes, reads)
        return ["sqstask: send_many + Lambda batch_handler, batch mode (SQS polling by Lambda not counted)",
                _n(ours_send), f"{_n(writes, 2)} (+ {_n(reads, 2)} RRU)", ceiling_of((p.sqstask_calls, p.tasks)),
                f"${cost['sqs']:.3f}", f"${cost['dynamodb']:.3f}", f"**${cost['total']:.3f}**"]

    rows = [
        row("sqstask: send_many + Worker (idempotent), short tasks", ours_send, w.sqs_per_task,
            w.dynamodb_per_task, wru_ours, ceiling_of((p.sqstask_calls, p.tasks), (w.sqs_calls, w.tasks))),
        row(f"sqstask: send_many + Worker, {wl.task_seconds:g} s tasks with heartbeats", ours_send, wl.sqs_per_task,
            wl.dynamodb_per_task, wru_long, ceiling_of((p.sqstask_calls, p.tasks), (wl.sqs_calls, wl.tasks))),
        row("sqstask: send_many + Lambda batch_handler (SQS polling by Lambda not counted)", ours_send, 0.0,
            ls.fresh_per_record, pricing.write_units(_max_item(ls.item_sizes)),
            ceiling_of((p.sqstask_calls, p.tasks))),
        row_batch(),
        row("naive: send_message loop + receive(1)/delete(1) loop (no idempotency)", p.naive_per_task,
            nc.sqs_per_task, 0.0, 1, ceiling_of((p.naive_calls, p.tasks), (nc.sqs_calls, nc.tasks))),
        row("naive loops + Powertools-style idempotency (2 writes per task)", p.naive_per_task, nc.sqs_per_task,
            lp.fresh_per_record, wru_pt, ceiling_of((p.naive_calls, p.tasks), (nc.sqs_calls, nc.tasks))),
    ]
    lines = [
        "### Throughput ceiling and request cost per million tasks",
        "",
        "From the counts above. Ceiling: one FIFO queue without high-throughput mode allows "
        f"{pricing.FIFO_CALLS_PER_SECOND_PER_ACTION} calls per second per API action (a batch of 10 is one call), so "
        "the action with the most calls per task binds. Cost: SQS FIFO "
        f"${pricing.SQS_FIFO_USD_PER_MILLION_REQUESTS:.2f} per million requests (each 64 KiB chunk of a request is one "
        f"request; every request here is under 64 KiB), DynamoDB on-demand ${pricing.DYNAMODB_USD_PER_MILLION_WRU:.3f} "
        f"per million write request units (1 KB each) and ${pricing.DYNAMODB_USD_PER_MILLION_RRU:.3f} per million read "
        "request units; a conditional write whose condition fails is billed as a write. No free tier, US East list "
        "prices. The Lambda row leaves out the ReceiveMessage/DeleteMessageBatch calls Lambda's event source mapping "
        "makes on the function's behalf (the same for any Lambda consumer).",
        "",
    ]
    lines += _table(["path", "SQS requests per task", "DynamoDB WRU per task", "ceiling per queue",
                     "SQS $ / M tasks", "DynamoDB $ / M tasks", "total $ / M tasks"], rows)
    return lines


def _overhead(r: Results) -> list[str]:
    lines = [
        "## 2. Library overhead per task, network taken out",
        "",
        "Every AWS call is answered from memory by a botocore `before-send` hook, so only client-side CPU is timed, "
        "as this process's CPU time (`time.process_time`: other work on the shared machine does not count, as it "
        "would in wall time). "
        "Sides run interleaved (A, B, A, B, ...) after one untimed warm-up; medians per item. \"boto3 part\" replays "
        "the exact API calls the side made (recorded during the warm-up) straight through boto3: what its requests "
        "cost to build, validate, sign and parse. \"Own\" is the rest: the library's own Python. "
        "Each side uses the clients its users get: sqstask's Lambda handlers the clients the SDK builds itself "
        "(`sqstask.clients.client_config`: a static user agent, and no client-side parameter validation on the "
        "task table's client), Powertools a default boto3 client; the producer comparison injects default clients "
        "on every side.",
        "",
    ]
    if r.bare_call_us and r.lean_bare_call_us:
        bare, lean = statistics.median(r.bare_call_us), statistics.median(r.lean_bare_call_us)
        lines += [
            f"The smallest DynamoDB write (a key and one REMOVE) costs {bare:,.0f} µs of boto3 CPU through a default "
            f"client (each round: {' '.join(f'{v:,.0f}' for v in r.bare_call_us)}) and {lean:,.0f} µs through the "
            f"SDK's (each round: {' '.join(f'{v:,.0f}' for v in r.lean_bare_call_us)}), {1 - lean / bare:.0%} less: "
            "the per-call floor under every single-item write.",
            "",
        ]
    comparisons = [(r.producer_overhead, "boto3 send_message loop"), (r.handler_fresh, "Powertools"),
                   (r.handler_duplicate, "Powertools")]
    if r.metrics_overhead is not None:
        comparisons.append((r.metrics_overhead, METRICS_OFF))
    for comparison, baseline in comparisons:
        rows = []
        for side in comparison.seconds:
            own = comparison.own_us(side)
            rows.append([
                side,
                _ops(comparison.calls[side]),
                f"{comparison.request_bytes[side] / comparison.items:,.0f}",
                f"{comparison.median_us(side):,.1f}",
                f"{comparison.client_us(side):,.1f}",
                f"{own:,.1f}" if own > 0 else "≈0",
                f"{comparison.ratio(side, baseline):.2f}",
                " ".join(f"{s / comparison.items * 1e6:,.0f}" for s in comparison.seconds[side]),
            ])
        lines += [f"### {comparison.title} ({comparison.items:,} per round, {comparison.rounds} rounds)", ""]
        lines += _table([f"side", "calls per round", f"request bytes per {comparison.unit}",
                         f"median µs per {comparison.unit}", "boto3 part", "own", f"ratio to {baseline}",
                         f"each round, µs per {comparison.unit}"], rows)
    if r.metrics_overhead is not None and r.metrics_emit_us:
        lines += [
            f"**Task metrics.** Writing the EMF documents of a batch (collecting outcomes, one JSON line per task "
            f"type, written to the null device) costs {statistics.median(r.metrics_emit_us):,.1f} µs per record "
            f"(each repeat: {' '.join(f'{v:,.1f}' for v in r.metrics_emit_us)}), "
            f"{metrics_cost_percent(r.metrics_emit_us, r.metrics_overhead):.2f} % of a record's "
            f"{r.metrics_overhead.median_us(METRICS_OFF):,.0f} µs without them. The end-to-end comparison above "
            f"({metrics_added_percent(r.metrics_overhead):+.1f} %) is the same work measured through the whole "
            "handler, where round-to-round noise on a shared machine is larger than the cost itself.",
            "",
        ]
    lines += _round_trip(r)
    hf = r.handler_fresh
    ours, theirs = "sqstask batch_handler", "Powertools"
    if hf.ratio(LEASE_SIDE, POWERTOOLS_SIDE) > 0.8:
        lines += [lease_cpu_miss(hf, r.bare_call_us, r.lean_bare_call_us), ""]
    if hf.median_us(ours) >= hf.median_us(theirs):
        hd = r.handler_duplicate
        our_largest = max(hf.largest_values[ours].items(), key=lambda kv: len(kv[1]), default=("-", []))
        their_largest = max(hf.largest_values[theirs].items(), key=lambda kv: len(kv[1]), default=("-", []))
        lines += [
            f"**Missed \"below Powertools\":** per fresh record sqstask spends {hf.median_us(ours):,.0f} µs against "
            f"{hf.median_us(theirs):,.0f} µs. Both make two DynamoDB writes; the difference is "
            f"(1) request size — sqstask's writes carry {hf.request_bytes[ours] / hf.items:,.0f} bytes of parameters "
            f"per record against {hf.request_bytes[theirs] / hf.items:,.0f}; its largest call ({our_largest[0]}, the "
            f"claim) carries {len(our_largest[1])} attribute values ({', '.join(f'`{v}`' for v in our_largest[1])}) "
            f"against {len(their_largest[1])} in Powertools' largest ({their_largest[0]}) — which costs "
            f"{hf.client_us(ours) - hf.client_us(theirs):,.0f} µs more inside boto3 (parameter validation and "
            f"serialisation scale with the number of attribute values); and (2) its own Python, "
            f"{hf.own_us(ours):,.0f} µs against {hf.own_us(theirs):,.0f} µs. The duplicate path shows "
            f"{hd.median_us(ours):,.0f} vs {hd.median_us(theirs):,.0f} µs. Where to look: the request each side builds "
            "in `sdk/src/sqstask/idempotency.py` (fewer attribute values, values built in DynamoDB's wire format, "
            "expressions computed once); the ratio is within a few percent, so rerun on a quiet machine first.",
            "",
        ]
    return lines


def lease_cpu_miss(hf: Comparison, bare_call_us: list[float] | None,
                   lean_bare_call_us: list[float] | None = None) -> str:
    """Why lease mode misses 0.80 x Powertools' CPU per fresh record: where its time goes."""
    lease, theirs = hf.median_us(LEASE_SIDE), hf.median_us(POWERTOOLS_SIDE)
    calls = sum(hf.calls[LEASE_SIDE].values()) / hf.items
    text = (
        f"**Missed 0.80 (lease mode CPU):** lease mode spends {hf.ratio(LEASE_SIDE, POWERTOOLS_SIDE):.2f} x "
        f"Powertools' CPU per fresh record ({lease:,.0f} against {theirs:,.0f} µs). Both make {calls:g} single-item "
        f"DynamoDB writes per record. Of lease mode's {lease:,.0f} µs, boto3's work on its requests (serialisation, "
        f"signing, parsing) is {hf.client_us(LEASE_SIDE):,.0f} µs: by itself "
        f"{hf.client_us(LEASE_SIDE) / theirs:.2f} x Powertools' whole time. sqstask's own Python (parsing the "
        f"record, building the requests, the handler's bookkeeping, the task's work) is the rest, "
        f"{max(0.0, hf.own_us(LEASE_SIDE)):,.0f} µs."
    )
    floor_us = lean_bare_call_us or bare_call_us
    if floor_us:
        floor = statistics.median(floor_us)
        through = "the SDK's client" if lean_bare_call_us else "a default client"
        text += (
            f" The smallest DynamoDB write (a key and one REMOVE, nothing else) through {through} costs "
            f"{floor:,.0f} µs of boto3 CPU (each round: {' '.join(f'{v:,.0f}' for v in floor_us)}), so {calls:g} "
            f"writes cost at least {calls * floor:,.0f} µs, {calls * floor / theirs:.2f} x Powertools' whole time, "
            f"before any attribute value or line of sqstask runs; the other "
            f"{max(0.0, hf.client_us(LEASE_SIDE) - calls * floor):,.0f} µs of boto3 work are the attribute values "
            "the writes carry, i.e. the fields the task record stores."
        )
    return text + (
        f" So cutting sqstask's own Python cannot take lease mode below "
        f"{hf.client_us(LEASE_SIDE) / theirs:.2f} x while a record takes {calls:g} single-item writes; the SDK's "
        "clients (`sdk/src/sqstask/clients.py`: static user agent, no parameter validation on the task table's "
        "client) already take what a client config can. What would go further: fewer calls per record (lease mode "
        "writing the batch's completions with one BatchWriteItem at its end, complete being unconditional: about "
        "1.1 calls per record)."
    )


def _round_trip(r: Results) -> list[str]:
    rt = r.handler_round_trip
    rows = [[side, _ops(rt.calls[side]), f"{_batch_ms(rt, side):,.1f}",
             f"{_batch_ms(rt, side) / _batch_ms(rt, POWERTOOLS_SIDE):.2f}",
             " ".join(f"{s / rt.items * 1e4:,.1f}" for s in rt.seconds[side])] for side in rt.seconds]
    return [
        f"### Lambda handler: wall time per batch of 10 records with {rt.round_trip_ms:g} ms per AWS call "
        f"({rt.items:,} records per round, {rt.rounds} rounds)",
        "",
        f"The same canned answers, each after a fixed {rt.round_trip_ms:g} ms sleep standing for the network round "
        "trip to DynamoDB, so the time a Lambda invocation is billed for idempotency shows: lease mode and "
        "Powertools wait for two sequential round trips per record, batch mode for two per batch.",
        "",
    ] + _table(["side", "calls per round", "median ms per batch of 10", "ratio to Powertools",
                "each round, ms per batch"], rows)


def _cold_start(r: Results) -> list[str]:
    cs = r.cold_start
    rows = []
    for variant, label in (("boto3", "`import boto3` alone"), ("sqstask", "sqstask: `import sqstask; from sqstask "
                                                                           "import batch_handler, Task`"),
                           ("powertools", "Powertools: `SqsFifoPartialProcessor, process_partial_response`, "
                                          "`DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function`")):
        imports = cs.median_ms(variant, "import_library")
        first = cs.median_ms(variant, "first_invocation")
        rows.append([
            label,
            f"{cs.median_ms(variant, 'import_boto3'):.1f}",
            f"{imports:.1f}" if variant != "boto3" else "-",
            f"{first:.1f}" if variant != "boto3" else "-",
            f"{imports + first:.1f}" if variant != "boto3" else "-",
            _ops(cs.calls(variant)) if variant != "boto3" else "-",
            str(cs.samples[variant][0]["modules"]),
        ])
    deferred = cs.median_ms("sqstask", "first_invocation") - cs.median_ms("powertools", "first_invocation")

    def total(variant: str) -> float:
        return cs.median_ms(variant, "import_library") + cs.median_ms(variant, "first_invocation")

    note = (f"sqstask's first invocation takes {deferred:.1f} ms longer than Powertools'; part of that is the "
            "imports sqstask defers to first use (its queue, configuration, task-table and payload modules). "
            f"Imports plus first invocation: {total('sqstask'):.1f} ms for sqstask, {total('powertools'):.1f} ms "
            "for Powertools." if deferred > 0 else "")
    return [
        "## 3. Cold start",
        "",
        f"{cs.runs} fresh interpreters per variant (Python {cs.python}), interleaved, after one warm-up each. Each "
        "times `import boto3`, then the imports a handler module makes, then its first invocation: create the "
        "DynamoDB client, build the handler, handle one record against canned DynamoDB answers (this includes "
        "what sqstask imports lazily). Medians in milliseconds.",
        "",
    ] + _table(["variant", "import boto3", "library imports (target)", "first invocation", "imports + first invocation",
                "first invocation calls", "modules loaded"], rows) + ([note, ""] if note else [])


def _heartbeat(r: Results) -> list[str]:
    hb = r.heartbeat
    return [
        "## 4. Heartbeat",
        "",
        f"{hb.in_flight} received messages held by one `Heartbeat` (visibility timeout {hb.visibility_timeout} s, "
        f"interval {hb.interval:g} s) for {len(hb.calls_per_round)} rounds on moto; calls and entries are read "
        "after each round (the `on_extend` callback), so the numbers do not depend on timing.",
        "",
    ] + _table(["round", "ChangeMessageVisibilityBatch calls", "entries", "expected calls"],
               [[str(i + 1), str(c), str(e), str(hb.expected_per_round)]
                for i, (c, e) in enumerate(zip(hb.calls_per_round, hb.entries_per_round))]) + [
        f"After {len(hb.calls_per_round)} rounds ({len(hb.calls_per_round) * hb.interval:g} s, past the original "
        f"{hb.visibility_timeout} s visibility timeout) {hb.still_in_flight} of {hb.in_flight} messages were still "
        "in flight (these rounds use a fixed window, `max_window` = the visibility timeout).",
        "",
    ] + _task_hour(r)


def _task_hour(r: Results) -> list[str]:
    hh = r.heartbeat_hour
    rows = [[f"{v} s", str(counts["fixed"]), str(counts["growing"]), f"{counts['fixed'] / counts['growing']:.0f} x"]
            for v, counts in hh.schedule.items()]
    stands_for = hh.measured_seconds * hh.scaled_from / hh.measured_visibility
    return [
        "### Visibility extensions per task-hour: fixed window vs growing window",
        "",
        "Fixed: every third of the visibility timeout, the message gets the visibility timeout again (the old "
        f"schedule). Growing (the default): each extension grants the timeout plus the task's age, up to "
        f"`max_window` ({hh.max_window} s), when as much of the window is left as at the first extension; a "
        f"crashed consumer's task still reappears within {hh.max_window} s. Entries for one task running an hour, "
        "from the SDK's schedule (`sqstask.heartbeat.extension_ages`):",
        "",
    ] + _table(["visibility timeout", "fixed window", "growing window", "fewer"], rows) + [
        f"Checked on moto with a real `Heartbeat`, time scaled down: a {hh.measured_visibility} s visibility timeout "
        f"standing for {hh.scaled_from} s (max window {hh.measured_max_window} s), held for "
        f"{hh.measured_seconds:g} s (standing for {stands_for / 60:.0f} minutes): the fixed window sent "
        f"{hh.measured['fixed']} entries (schedule: {hh.predicted['fixed']}), the growing window "
        f"{hh.measured['growing']} (schedule: {hh.predicted['growing']}); neither message became visible.",
        "",
    ]


def render(r: Results) -> str:
    """The whole RESULTS.md document."""
    versions = ", ".join(f"{name} {version}" for name, version in r.versions.items())
    lines = [
        "# sqstask benchmarks",
        "",
        f"Made by `{r.command}` on {r.started_at} in {r.seconds / 60:.1f} minutes"
        + (" (`make bench` runs `.venv/bin/python -m benchmarks.run`)." if r.command == "make bench" else "."),
        f"Machine: {platform.system()} {platform.machine()}, {r.cpus} CPUs (`nproc`), Python {r.python}; {versions}.",
        "The machine was shared with other work while this ran; timings are medians of interleaved rounds, and "
        "ratios between sides of one comparison are more reliable than absolute numbers.",
        "",
        "Why counts and not tasks per second against moto: moto spends milliseconds per message (more as a queue "
        "grows), so wall-clock throughput would measure moto. On AWS the limits are per API call (300 calls/s per "
        "action on a FIFO queue) and cost is per request, so this reports calls per task, and client CPU with the "
        "network taken out.",
        "",
    ]
    lines += _summary(r)
    lines += ["## 1. API calls per task (moto, counted with botocore `before-call` hooks)", ""]
    lines += _producer(r) + _consumer(r) + _priorities(r) + _lambda(r) + _economics(r)
    lines += _overhead(r) + _cold_start(r) + _heartbeat(r)
    lines += ["## Sources for limits and prices", ""]
    lines += [f"- {name}: {url}" for name, url in pricing.SOURCES.items()]
    lines += ["- Prices as published for US East (N. Virginia) when this was written (SQS FIFO $0.50 per million "
              "requests; DynamoDB on-demand $0.625 per million WRU and $0.125 per million RRU since the November "
              "2024 reduction); re-check the pages above before relying on them.", ""]
    if r.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in r.notes] + [""]
    return "\n".join(lines)


def write(r: Results, path: Path) -> Path:
    """Write the document to ``path``."""
    path.write_text(render(r), encoding="utf-8")
    return path
