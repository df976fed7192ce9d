"""``python -m benchmarks.mutation`` (``make mutation``): mutation score of the correctness-critical SDK modules.

Each module is mutated by mutmut in its own scratch copy of ``sdk/`` (``.mutation/<module>``),
with only the fast tests that exercise it; mutmut runs, for each mutant, just the tests that
call the mutated function and stops at the first failure. The scores, and every mutant that
survived with its diff and the reason it is harmless (``EQUIVALENT`` below), go to
``benchmarks/MUTATION.md``. A surviving mutant is either killed by a new test or listed in
``EQUIVALENT`` with why no test can tell it apart.

``--modules backoff,payloads`` runs some modules only (the report then keeps the other
modules' rows from the last full run); ``--output`` writes elsewhere. Runs in its own virtual
environment (``benchmarks/requirements-mutation.txt``) without the editable ``sqstask``, so
the tests import the mutated copy.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "sdk"
SCRATCH = ROOT / ".mutation"
REPORT = Path(__file__).with_name("MUTATION.md")
TARGET = 90.0
PLUGIN = Path(__file__).with_name("mutation_plugin.py")
KILLS = "kills.jsonl"  # in a module's scratch copy: which test killed each mutant

# Module -> the fast test files that exercise it (paths under sdk/).
MODULES: dict[str, list[str]] = {
    "backoff": ["tests/test_backoff.py"],
    "payloads": ["tests/test_payloads.py"],
    "idempotency": ["tests/test_idempotency.py", "tests/test_handler.py"],
    # batch mode (idempotency="batch") runs through TaskRunner.run_known and record_batch.
    "handler": ["tests/test_handler.py", "tests/test_batch_idempotency.py"],
    "heartbeat": ["tests/test_heartbeat.py"],
    "queue": ["tests/test_queue.py", "tests/test_payloads.py"],
    "dlq": ["tests/test_dlq.py"],
    # priority tiers (_poll_order, _next_ready) are exercised by the Worker tests of test_priorities.
    "worker": ["tests/test_worker.py", "tests/test_worker_batch.py", "tests/test_priorities.py"],
}

# Tests left out of one module's runs: slow (real-time waits on SQS visibility) where faster
# tests of the same module check the same behaviour; make test runs them.
SLOW: dict[str, list[str]] = {
    "heartbeat": [
        "test_a_heartbeat_keeps_a_message_invisible_for_3x_its_visibility_timeout_then_lets_go",
        "test_messages_can_be_added_and_removed_while_it_runs",
    ],
    "worker": [
        # tasks must outlast a 2 s visibility timeout; the lease window and interval, the retry
        # delay of a task another consumer holds, and duplicate skipping have fast tests.
        "test_two_workers_never_run_the_same_task_concurrently",
    ],
}

# Lines not mutated: calls that only write a log line (the audit log's event names and fields,
# human-readable reasons). Each such call yields ~10 mutants (an argument dropped, None, "XX..XX"),
# and killing them takes a test per line of log text, not a test of behaviour; the audit log's
# format is specified by tests of sqstask.audit itself. A whole call starting on such a line
# is skipped, continuation lines included.
LOG_LINES = [
    r"^\s*(self\.|self\.runner\.|audit\.)?(log|log_event)\(",
    r"^\s*logger\.(debug|info|warning|error|exception)\(",
]

# Left out of mutation runs (a marker expression, so no test is dropped for a word in its name):
# the tests over a moto server (HTTP adds time, not checks of sqstask's logic; the extended-client
# interop tests are among them, a subprocess each). sdk/tests/conftest.py sets the marker; make
# test runs them.
DESELECT = "not moto_server"

# Mutants that survive because no behaviour can tell them apart from the original, keyed by
# mutmut's mutant name, with the reason. Anything surviving that is not listed here is a gap.
EQUIVALENT: dict[str, str] = {
    # -- backoff --
    "sqstask.backoff.xǁBackoffǁdelay__mutmut_5": (
        "'if self.jitter or True': with jitter 0 the draw is uniform(0, 0) == 0, the same delay."
    ),
    "sqstask.backoff.xǁBackoffǁceiling__mutmut_10": (
        "'exponent >= 60' instead of '> 60': at exponent 60 both give the cap unless base < cap / 2**60 "
        "(about a femtosecond); a zero base gives 0 either way."
    ),
    "sqstask.backoff.xǁBackoffǁceiling__mutmut_11": (
        "'exponent > 61' instead of '> 60': at exponent 61 both give the cap unless base < cap / 2**61 "
        "(below a femtosecond); a zero base gives 0 either way."
    ),
    # -- payloads --
    "sqstask.payloads.xǁPayloadStoreǁoffload__mutmut_9": 'encode("UTF-8"): codec names are case-insensitive.',
    "sqstask.payloads.xǁPayloadStoreǁresolve__mutmut_20": 'decode("UTF-8"): codec names are case-insensitive.',
    "sqstask.payloads.x_parse_pointer__mutmut_11": (
        "body[:121] instead of [:120]: a fast-path window; every pointer names its class at offset 2, so "
        "any window reaching past it accepts the same pointers."
    ),
    # -- idempotency --
    "sqstask.idempotency.x__epoch_n__mutmut_5": (
        "'%.3F' instead of '%.3f': the same digits for every finite number; only inf/nan are spelled in capitals."
    ),
    "sqstask.idempotency.xǁTaskStoreǁ_refuse__mutmut_36": (
        "lease 'or 1' instead of 'or 0' for an IN_PROGRESS record without a lease: epoch 0 and 1 are both "
        "long past, so the lease reads as ended either way."
    ),
    "sqstask.idempotency.xǁTaskStoreǁclaim__mutmut_3": (
        "first_delivery None: a first delivery then ADDs ':one' instead of ':receive_count', which is 1 too; "
        "one more value in the request, the same record."
    ),
    "sqstask.idempotency.xǁTaskStoreǁfollow_ups_sent__mutmut_14": (
        "'remove' instead of 'REMOVE': DynamoDB's update expression keywords are case-insensitive."
    ),
    "sqstask.idempotency.xǁTaskStoreǁgive_up__mutmut_68": (
        "'remove' instead of 'REMOVE': DynamoDB's update expression keywords are case-insensitive."
    ),
    "sqstask.idempotency.xǁTaskStoreǁgive_up__mutmut_16": (
        "owner 'XXXX' instead of '' for a claim without owner: neither matches a stored owner."
    ),
    "sqstask.idempotency.xǁTaskStoreǁfail__mutmut_16": (
        "owner 'XXXX' instead of '' for a claim without owner: neither matches a stored owner."
    ),
    "sqstask.idempotency.xǁTaskStoreǁrenew__mutmut_34": (
        "owner 'XXXX' instead of '' for a claim without owner: neither matches a stored owner."
    ),
    "sqstask.idempotency.xǁTaskStoreǁclaim__mutmut_19": (
        "os.urandom(5) instead of (4) in the owner id: still unique per claim; nothing reads its length."
    ),
    "sqstask.idempotency.x__iso__mutmut_11": (
        "'cached[1] != second' is always true, so the per-second prefix is recomputed every call: "
        "slower, the same text."
    ),
    "sqstask.idempotency.x_encode_result__mutmut_5": (
        "'len(text) * 5 <= limit': a narrower fast path; the exact byte count that follows decides the same."
    ),
    "sqstask.idempotency.x_encode_result__mutmut_6": (
        "'len(text) * 4 < limit': at equality the exact byte count that follows decides the same."
    ),
    "sqstask.idempotency.x_encode_result__mutmut_18": (
        "ensure_ascii=None is falsy, the same as ensure_ascii=False."
    ),
    # -- handler --
    **{f"sqstask.handler.x__receive_count__mutmut_{n}": (
        "_receive_count only fills the attempt field of the 'malformed' audit line (a LOG_LINES call)."
    ) for n in range(1, 7)},
    "sqstask.handler.x_child_task_id__mutmut_8": 'encode("UTF-8"): codec names are case-insensitive.',
    "sqstask.handler.xǁTaskRunnerǁ_move_to_dlq__mutmut_4": (
        "_message_id(raw) instead of task.message_id: raw is the task's own message, whose id that is."
    ),
    "sqstask.handler.xǁTaskRunnerǁ_move_to_dlq__mutmut_5": (
        "'if task or True': without a task the caller always passes message_id (parse), so the branch is not reached."
    ),
    "sqstask.handler.xǁTaskRunnerǁ_move_to_dlq__mutmut_6": (
        "_message_id(None): without a task the caller always passes message_id (parse), so it is not evaluated."
    ),
    "sqstask.handler.xǁTaskRunnerǁ_move_to_dlq__mutmut_7": (
        "'XXXX' instead of '' for a message without any id: Lambda events and SQS messages always carry one."
    ),
    "sqstask.handler.xǁTaskRunnerǁ_record_failure__mutmut_1": (
        "'if store.fail(...)' inverted: the FAILED record is written either way; only the lease-lost log line differs."
    ),
    "sqstask.handler.xǁTaskRunnerǁ_complete__mutmut_7": (
        "range(1, _COMPLETE_TRIES + 2): the loop returns at attempt _COMPLETE_TRIES, so the longer range is never reached."
    ),
    "sqstask.handler.xǁTaskRunnerǁ_handler_failed__mutmut_15": (
        "_record_failure(..., task=None): the task only names the lease-lost / record-failed log lines there."
    ),
    "sqstask.handler.xǁTaskRunnerǁ_handler_failed__mutmut_24": (
        "_gave_up_if_last(task, None): the error only fills the gave-up log line's fields."
    ),
    "sqstask.handler.xǁTaskRunnerǁrecord_batch__mutmut_2": (
        "error '' instead of None when the write did not raise: it only picks the record-failed log line's fields."
    ),
    "sqstask.handler.xǁTaskRunnerǁrun_known__mutmut_143": (
        "specs '' instead of None before the try: only follow_ups() can raise before specs is set, and '' iterates "
        "and tests false like None."
    ),
    **{f"sqstask.handler.xǁBatchProcessorǁprocess__mutmut_{n}": (
        "another reason for a failed record (None, 'XX..XX', upper case): it only fills the reasons count of the "
        "batch-done / batch-failed log line; the record is reported failed the same."
    ) for n in (58, 61, 62, 67, 70, 71, 81, 84, 85, 95, 160, 163, 164)},
    **{f"sqstask.handler.xǁBatchProcessorǁprocess__mutmut_{n}": (
        "another reason on a success whose record was not written: BatchProcessor reads only its status (for the "
        "metrics) afterwards."
    ) for n in (133, 136, 137, 138)},
    "sqstask.handler.x_batch_handler__mutmut_29": (
        "batch_handler(fifo=...) without the leading None: queue's default is None, the same call."
    ),
    **{f"sqstask.handler.x_batch_handler__mutmut_{n}": (
        "another key in one check of the double-checked processor lookup: the outer check then always takes the "
        "lock (and finds the processor), or the inner one is reached only on the first call, when nothing is "
        "stored yet; one processor is built either way."
    ) for n in (39, 40, 42, 43)},
    "sqstask.handler.xǁTaskRunnerǁrun__mutmut_84": (
        "ran=None instead of False: _give_up only tests it for truth."
    ),
    **{f"sqstask.handler.xǁTaskRunnerǁrun__mutmut_{n}": (
        "another reason text for _handler_failed (None, 'XX..XX', upper case): it only fills the failed log line."
    ) for n in (113, 119, 120, 146, 152, 153)},
    "sqstask.handler.xǁTaskRunnerǁrun__mutmut_129": (
        "specs '' instead of None before the try: only follow_ups() can raise before specs is set, and '' iterates "
        "and tests false like None."
    ),
    "sqstask.handler.xǁTaskRunnerǁrun__mutmut_180": (
        "_complete(..., task=None): the task only names the record-failed log line there."
    ),
    **{f"sqstask.handler.xǁTaskRunnerǁparse__mutmut_{n}": (
        "no message_id passed for a malformed message's DLQ copy: _move_to_dlq then reads the same id from the record."
    ) for n in (8, 12)},
    "sqstask.handler.xǁTaskRunnerǁparse__mutmut_3": (
        "'exc.message_id and _message_id(record)': the parser sets exc.message_id from the same record."
    ),
    "sqstask.handler.xǁTaskRunnerǁparse__mutmut_4": (
        "_message_id(None) as the fallback: the parser sets exc.message_id whenever the record has an id."
    ),
    **{f"sqstask.handler.x_batch_handler__mutmut_{n}": (
        "another 'where' in the refusal at first invocation: fifo=False is refused at decoration, so only the "
        "standard-queue message (which does not name it) can be raised there."
    ) for n in (52, 56, 57)},
    "sqstask.handler.xǁTaskRunnerǁ__init____mutmut_25": (
        "a given max_receive_count dropped (None, still 'known'): it only decides the gave-up log line without a "
        "task table."
    ),
    **{f"sqstask.handler.x__attributes__mutmut_{n}": (
        "the SQS message spelling 'Attributes' (a Worker's messages): read there only for the group and receive "
        "count of the 'malformed' log line; Lambda records use 'attributes'."
    ) for n in (3, 10, 11, 12, 13)},
    **{f"sqstask.handler.xǁAuditLogǁ__call____mutmut_{n}": (
        "which level or logger decides whether an audit line is built: the line, when written, is the same."
    ) for n in (3, 5)},
    **{f"sqstask.handler.x__describe__mutmut_{n}": (
        "_describe's error text (key spelling, None, one more character): it only fills log lines."
    ) for n in (4, 5, 6, 7)},
    "sqstask.handler.xǁ_BatchPassǁ__init____mutmut_4": (
        "priors None instead of {}: read only after a lookup that succeeded (which sets them); a failed lookup "
        "returns before."
    ),
    "sqstask.handler.xǁ_BatchPassǁ__init____mutmut_12": (
        "type(None) in the lookup failure's reason: read only by the 'failed' log line and Outcome.reason, which "
        "BatchProcessor does not read."
    ),
    "sqstask.handler.xǁ_BatchPassǁ__init____mutmut_15": (
        "no error on the lookup failure's Outcome: read only by the 'failed' log line; BatchProcessor does not read it."
    ),
    "sqstask.handler.xǁ_BatchPassǁ__init____mutmut_18": (
        "no error on the lookup failure's Outcome: read only by the 'failed' log line; BatchProcessor does not read it."
    ),
    # -- heartbeat --
    "sqstask.heartbeat.xǁHeartbeatǁ__init____mutmut_42": (
        "_stopping None instead of False at construction: only start() lets the thread run, and it sets False first."
    ),
    "sqstask.heartbeat.xǁHeartbeatǁ__init____mutmut_43": (
        "_stopping True instead of False at construction: only start() lets the thread run, and it sets False first."
    ),
    "sqstask.heartbeat.xǁHeartbeatǁstart__mutmut_1": (
        "_stopping None instead of False: it is only ever tested for truth, and None is falsy."
    ),
    "sqstask.heartbeat.xǁHeartbeatǁremove__mutmut_13": (
        "'left < 0' instead of '<= 0': at exactly 0 the mutant waits 0 s once more, then finds left < 0 and "
        "stops waiting: the same return, microseconds later."
    ),
    "sqstask.heartbeat.xǁHeartbeatǁremove__mutmut_15": (
        "'return' instead of 'break': the loop is the last statement of remove(), so both leave it the same way."
    ),
    # -- queue --
    "sqstask.queue.xǁTaskQueueǁ_client__mutmut_1": (
        "no lookup before the lock: every call takes the lock and finds the cached client there; slower, the "
        "same client."
    ),
    "sqstask.queue.xǁTaskQueueǁ_client__mutmut_2": (
        "the lookup before the lock asks for key None: it misses, and the lookup under the lock finds the cached "
        "client; slower, the same client."
    ),
    "sqstask.queue.xǁTaskQueueǁ_client__mutmut_4": (
        "no second lookup under the lock: differs only when two threads race for a service's first client (both "
        "would build one), an interleaving no deterministic test can force; later calls hit the first lookup."
    ),
    "sqstask.queue.xǁTaskQueueǁ_client__mutmut_5": (
        "the lookup under the lock asks for key None: as _client__mutmut_4, differs only in a race for the first "
        "client."
    ),
    "sqstask.queue.xǁTaskQueueǁsend_many__mutmut_73": "retry_needed starts None instead of False: both falsy.",
    "sqstask.queue.x__region_from_url__mutmut_6": (
        "'XXXX' instead of '' for a URL without a host: one label either way, so no region is inferred."
    ),
    "sqstask.queue.xǁTaskQueueǁsend__mutmut_28": (
        "task_id 'XXXX' instead of '' when the spec has none: validated() always assigns one first."
    ),
    "sqstask.queue.xǁTaskQueueǁ_send_chunk__mutmut_43": (
        "reason 'XXXX' instead of '' for an entry SQS accepted: send_many reads the reason of failed entries only."
    ),
    "sqstask.queue.xǁTaskQueueǁ_send_chunk__mutmut_44": (
        "retryable True instead of False for an entry SQS accepted: send_many reads it for failed entries only."
    ),
    # -- dlq --
    "sqstask.dlq.x__string_attribute__mutmut_11": (
        "'or True' on the value check: SQS returns a StringValue as a non-empty str or not at all, so the "
        "value is a str or None either way."
    ),
    "sqstask.dlq.x__string_attribute__mutmut_12": (
        "'isinstance(value, str) or value': SQS returns a StringValue as a non-empty str or not at all."
    ),
    "sqstask.dlq.x__parse_iso__mutmut_13": (
        "'Z' no longer rewritten to +00:00: Python 3.11+ fromisoformat reads 'Z' itself (the rewrite is for 3.10, "
        "which requires-python allows); lowercase 'z' is still rewritten and tested."
    ),
    "sqstask.dlq.x__parse_iso__mutmut_14": (
        "('z', 'z') instead of ('Z', 'z'): Python 3.11+ fromisoformat reads 'Z' itself (the rewrite is for 3.10)."
    ),
    "sqstask.dlq.xǁDeadLetterQueueǁredrive_entry__mutmut_61": 'encode("UTF-8"): codec names are case-insensitive.',
    "sqstask.dlq.xǁDeadLetterQueueǁfind__mutmut_14": (
        "decode(with_record=None) instead of False: both are falsy, so no record is read either way."
    ),
    "sqstask.dlq.xǁDeadLetterQueueǁ__init____mutmut_13": (
        "the default progress callback returns 0 instead of None: no caller reads what progress() returns."
    ),
    "sqstask.dlq.xǁDeadLetterQueueǁ__init____mutmut_19": (
        "_records_broken starts as None instead of False: it is only tested for truth."
    ),
    **{f"sqstask.dlq.xǁDeadLetterQueueǁdecode__mutmut_{n}": (
        "a missing receive count read as int(None) instead of int(0): the TypeError is caught and gives 0, the "
        "same count (tested)."
    ) for n in (82, 84)},
    # -- worker --
    "sqstask.worker.xǁWorkerǁ_work__mutmut_5": (
        "an idle thread's wait without a timeout: every change that gives a thread work (a group made ready, "
        "a stop) notifies the condition."
    ),
    "sqstask.worker.xǁWorkerǁ_work__mutmut_20": (
        "status None instead of failed for an error outside the handler: retry_delay reads the status only to "
        "spot in-progress, so the backoff is the same; only the log line shows it."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_8": (
        "the wait for room without a timeout: every change of what fits (a task finished, a message released, "
        "a stop) notifies the condition."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_12": (
        "return instead of break: nothing follows the loop in _receive_loop."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_16": (
        "return instead of break: nothing follows the loop in _receive_loop."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_62": (
        "return instead of break: nothing follows the loop in _receive_loop."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_15": (
        "idle_for > idle_exit instead of >=: equal only at one instant of a float clock."
    ),
    "sqstask.worker.xǁWorkerǁ_drain__mutmut_5": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_drain__mutmut_8": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_drain__mutmut_9": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_57": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_60": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_loop__mutmut_61": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_release_leftover__mutmut_4": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_release_leftover__mutmut_7": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_release_leftover__mutmut_8": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_retry_later__mutmut_22": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_retry_later__mutmut_25": (
        "the release reason only feeds the released log line."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_20": (
        "the rank default: a single-tier worker's messages carry no queue URL, and a message's rank is read "
        "only with several tiers."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_22": (
        "the rank default: a single-tier worker's messages carry no queue URL, and a message's rank is read "
        "only with several tiers."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_24": (
        "the rank default: a single-tier worker's messages carry no queue URL, and a message's rank is read "
        "only with several tiers."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_26": (
        "the rank default: a single-tier worker's messages carry no queue URL, and a message's rank is read "
        "only with several tiers."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_27": (
        "the rank default: a single-tier worker's messages carry no queue URL, and a message's rank is read "
        "only with several tiers."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_28": (
        "the rank default: a single-tier worker's messages carry no queue URL, and a message's rank is read "
        "only with several tiers."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_33": (
        "the tier's URL instead of its name in a group key: as unique per tier; the key is never shown."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_32": (
        "a single-tier worker keying groups by tier and group id: still one key per group."
    ),
    "sqstask.worker.xǁWorkerǁ_dispatch__mutmut_34": (
        "a single-tier worker keying groups by tier and group id: still one key per group."
    ),
    "sqstask.worker.xǁWorkerǁ__init____mutmut_117": (
        "visibility / 4 instead of / 3 as the default beat: (visibility - beat) / 2 stays above visibility / "
        "4, the bound that applies first."
    ),
    "sqstask.worker.xǁWorkerǁ__init____mutmut_186": (
        "_abandoned's first value: run() sets it in its shutdown before reading it."
    ),
    "sqstask.worker.xǁWorkerǁ__init____mutmut_187": (
        "_abandoned's first value: run() sets it in its shutdown before reading it."
    ),
    "sqstask.worker.xǁWorkerǁrun__mutmut_54": (
        "stop(None) or stop(1) after the receive loop: a stop has already set the deadline (the loop ends "
        "only so), and after an aborted loop nothing reads it."
    ),
    "sqstask.worker.xǁWorkerǁrun__mutmut_55": (
        "stop(None) or stop(1) after the receive loop: a stop has already set the deadline (the loop ends "
        "only so), and after an aborted loop nothing reads it."
    ),
    "sqstask.worker.xǁWorkerǁ_drain__mutmut_11": (
        "now <= deadline instead of <: equal only at one instant of a float clock."
    ),
    "sqstask.worker.xǁWorkerǁ_drain__mutmut_13": (
        "the deadline's 'or 0' fallback: _drain runs only after stop() set a deadline (with 'and 0' it polls "
        "every 10 ms instead, to the same end)."
    ),
    **{f"sqstask.worker.xǁ_Ackerǁ__init____mutmut_{n}": (
        "_urgent / _stopping start as None instead of False: both are only tested for truth."
    ) for n in (9, 11)},
    **{f"sqstask.worker.xǁWorkerǁ__init____mutmut_{n}": (
        "the runner without the worker's logger: its log lines go to the default audit logger; nothing reads it."
    ) for n in (140, 147)},
    **{f"sqstask.worker.xǁWorkerǁ__init____mutmut_{n}": (
        "the runner without a given max_receive_count: it then reads the queue's redrive policy, and the count "
        "only fills the gave-up log line (TaskRunner: 'for the log')."
    ) for n in (141, 148)},
    **{f"sqstask.worker.xǁWorkerǁrun__mutmut_{n}": (
        "the acknowledger without the worker's log (None or left out): its log lines go to the default audit "
        "logger instead of a logger the worker was given; nothing else reads it."
    ) for n in (18, 22)},
    **{f"sqstask.worker.xǁWorkerǁ_drain__mutmut_{n}": (
        "a longer wait between the drain's checks (at least 1.01 s, or the wake interval): every task that "
        "finishes wakes it at once; only a shutdown deadline is noticed up to _WAKE_INTERVAL (0.5 s) later."
    ) for n in (23, 24)},
    "sqstask.worker.xǁWorkerǁ_drain__mutmut_25": (
        "the deadline's 'or 0' fallback: _drain runs only after stop() set a deadline (with 'and 0' it polls "
        "every 10 ms instead, to the same end)."
    ),
    "sqstask.worker.xǁWorkerǁ_drain__mutmut_26": (
        "the deadline's 'or 0' fallback: _drain runs only after stop() set a deadline (with 'and 0' it polls "
        "every 10 ms instead, to the same end)."
    ),
    "sqstask.worker.xǁWorkerǁ_retry_later__mutmut_11": (
        "'fifo or' a group key: group keys exist only with fifo on, and a message key's queue is empty once "
        "its message runs."
    ),
    "sqstask.worker.xǁWorkerǁ_settle__mutmut_3": (
        "heartbeat=None is falsy like heartbeat=False."
    ),
    "sqstask.worker.xǁWorkerǁ_receive_size__mutmut_10": (
        "free >= 0: with no room it returns free, which is 0 as well."
    ),
    "sqstask.worker.xǁWorkerǁ_look_up__mutmut_8": (
        "priors' first value is read only for parsed tasks, and whenever there is one the lookup replaces it."
    ),
}

# Functions that run only while their module is imported (to build a constant): mutmut switches
# mutants per call after the import, so their mutants never run and cannot be killed. Excluded
# from the score like equivalent ones, and listed with the reason.
IMPORT_TIME: dict[str, str] = {
    "sqstask.idempotency.x__complete_request__mutmut_": (
        "builds the 8 entries of _COMPLETE_REQUESTS at import; what they do is tested through "
        "complete() (result kept or cleared, earlier error removed, duration recorded)."
    ),
}

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
# A listed equivalent mutant whose diff is the one the last report recorded for it: not run again,
# since no test could kill it then and the mutation is the same (``--all`` runs them anyway).
REUSED = "equivalent, not run again"
REUSED_FILE = "not-run-again.json"  # in a module's scratch copy
RUN_KEY = "_run"  # in the report's data: when the last run started, its minutes and CPUs


def _import_time(name: str) -> str | None:
    return next((reason for prefix, reason in IMPORT_TIME.items() if name.startswith(prefix)), None)


class MutmutFailed(Exception):
    """mutmut could not test a module's mutants."""


@dataclass
class ModuleResult:
    """Outcome of one module's run."""

    module: str
    tests: list[str]
    statuses: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    diffs: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(1 for s in self.statuses.values() if s not in ("skipped", "not checked"))

    @property
    def not_run(self) -> int:
        """Mutants an interrupted or partial run did not reach."""
        return sum(1 for s in self.statuses.values() if s == "not checked")

    @property
    def killed(self) -> int:
        return sum(1 for s in self.statuses.values() if s in KILLED)

    @property
    def timed_out(self) -> int:
        """Killed by a time limit (a test's, in mutation_plugin.py, or mutmut's), not by a failing test."""
        return sum(1 for s in self.statuses.values() if s == "timeout")

    @property
    def survivors(self) -> list[str]:
        return sorted(name for name, s in self.statuses.items() if s not in KILLED | {"skipped", "not checked"})

    @property
    def equivalent(self) -> int:
        """Survivors that cannot be told apart (EQUIVALENT) or never run (IMPORT_TIME)."""
        return sum(1 for name in self.survivors if name in EQUIVALENT or _import_time(name))

    @property
    def score(self) -> float:
        """Killed share of the mutants that could be told apart (equivalent ones excluded)."""
        relevant = self.total - self.equivalent
        return 100.0 * self.killed / relevant if relevant else 100.0

    def as_json(self) -> dict[str, object]:
        return {"module": self.module, "tests": self.tests, "statuses": self.statuses,
                "seconds": round(self.seconds), "diffs": self.diffs}


def _mutmut(workdir: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run mutmut in ``workdir``; its progress display goes to ``mutmut.log`` there."""
    command = [sys.executable, "-m", "mutmut", *args]
    # the plugin learns, per function, which tests kill its mutants (mutation_plugin.py)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", SQSTASK_MUTATION_KILLS=str(workdir.resolve() / KILLS))
    if capture:
        return subprocess.run(command, cwd=workdir, env=env, text=True, capture_output=True, check=False)
    with open(workdir / "mutmut.log", "a", encoding="utf-8") as log:
        return subprocess.run(command, cwd=workdir, env=env, text=True, stdout=log, stderr=subprocess.STDOUT,
                              check=False)


def _prepare(module: str, tests: list[str]) -> Path:
    """A fresh scratch copy of the sdk whose setup.cfg mutates ``module`` with ``tests``."""
    workdir = SCRATCH / module
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    shutil.copytree(SDK / "src", workdir / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(SDK / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(PLUGIN, workdir / PLUGIN.name)
    selection = "\n".join(f"    {t}" for t in tests)
    # -p no:cacheprovider: workers must not write .pytest_cache into the scratch copy.
    # -p mutation_plugin: the tests that killed the function's other mutants first, then the fastest,
    # so -x stops a killed mutant's run sooner.
    args = ["-p", "no:cacheprovider", "-p", PLUGIN.stem, "-m", DESELECT]
    if SLOW.get(module):
        args += ["-k", " and ".join(f"not {name}" for name in SLOW[module])]
    patterns = "\n".join(f"    {p}" for p in LOG_LINES)
    (workdir / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = src\n"
        f"only_mutate = src/sqstask/{module}.py\n"
        f"pytest_add_cli_args_test_selection =\n{selection}\n"
        "pytest_add_cli_args =\n" + "".join(f"    {arg}\n" for arg in args) +
        f"also_copy =\n    {PLUGIN.name}\n"
        f"do_not_mutate_patterns =\n{patterns}\n"
        # The tests use threads and moto: time a mutant out generously, not at once.
        "timeout_multiplier = 5.0\n"
        "timeout_constant = 10.0\n"
        "use_git_change_detection = false\n",
        encoding="utf-8",
    )
    # An empty pyproject would shadow setup.cfg; none is copied.
    return workdir


def _statuses(workdir: Path) -> dict[str, str]:
    from mutmut.stats import status_by_exit_code

    statuses: dict[str, str] = {}
    for meta in (workdir / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        for name, code in data.get("exit_code_by_key", {}).items():
            status = status_by_exit_code[code]
            # a run stopped by hand (Ctrl-C, kill) never finished this mutant's tests: not run, not a survivor
            statuses[name] = "not checked" if status == "check was interrupted by user" else status
    return statuses


def _refresh_tests(workdir: Path) -> list[str]:
    """Copy the current tests into an earlier run's scratch copy; return that run's survivors."""
    for target in (workdir / "tests", workdir / "mutants" / "tests"):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(SDK / "tests", target, ignore=shutil.ignore_patterns("__pycache__"))
    return sorted(
        name
        for name, s in _statuses(workdir).items()
        if s not in KILLED | {"skipped", "not checked"} and name not in EQUIVALENT and not _import_time(name)
    )


def run_module(module: str, max_children: int, *, only: list[str] | None = None, resume: bool = False,
               collect: bool = False, previous_seconds: float = 0.0, carry_on: bool = False,
               previous_diffs: dict[str, str] | None = None) -> ModuleResult:
    """Mutate one module and run its tests against every mutant.

    ``only``: mutant name patterns (fnmatch) to run, the rest stay unchecked. ``resume``: in the
    last run's scratch copy, with the current tests, run that run's survivors again (with ``only``,
    those matching it). ``carry_on``: in the last run's scratch copy, with the current tests, run
    the mutants an interrupted run did not reach. ``collect``:
    run nothing, read the last run's results from its scratch copy (an interrupted run included).
    ``previous_diffs``: the survivors' diffs of the last report; a full run does not run the listed
    equivalent mutants among them whose diff is unchanged (``REUSED``).
    """
    tests = MODULES[module]
    result = ModuleResult(module, tests)
    workdir = SCRATCH / module
    names = list(only or [])
    if collect:
        result.seconds = previous_seconds
        resume, names = True, []
    elif carry_on and (workdir / "mutants").exists():
        _refresh_tests(workdir)
        reused = _reused(workdir)
        names = [n for n, s in _statuses(workdir).items() if s == "not checked" and n not in reused]
        resume = not names  # nothing left: just collect
        result.seconds = previous_seconds
    elif resume and (workdir / "mutants").exists():
        survivors = _refresh_tests(workdir)
        # with ``only``: just the survivors matching it (e.g. the function a new test covers)
        names = [n for n in survivors if not names or any(fnmatch.fnmatchcase(n, p) for p in names)]
        result.seconds = previous_seconds
    else:
        workdir = _prepare(module, tests)
        if not names and previous_diffs:
            names = _all_but_unchanged_equivalents(workdir, previous_diffs)
    started = time.monotonic()
    if not (resume and not names):
        done = _mutmut(workdir, "run", "--max-children", str(max_children), *names)
        if done.returncode != 0:  # e.g. its clean run failed: what it recorded means nothing
            log = (workdir / "mutmut.log").read_text(encoding="utf-8", errors="replace")
            last = [line for line in log.replace("\r", "\n").splitlines() if line.strip()][-1:] or ["(no output)"]
            raise MutmutFailed(f"{module}: mutmut exited with {done.returncode} ({last[0].strip()}); "
                               f"see {workdir / 'mutmut.log'}")
    result.seconds += time.monotonic() - started
    result.statuses = _statuses(workdir)
    result.statuses.update({name: REUSED for name in _reused(workdir)})
    result.diffs = _diffs(workdir, [name for name in result.survivors if not _import_time(name)])
    return result


# Mutants are made by mutmut's own first step, without running any test (mutmut has no command for it).
_GENERATE = """
from pathlib import Path
import mutmut.__main__ as m
from mutmut.mutation.trampoline import set_mutant_under_test
set_mutant_under_test("mutant_generation")
Path("mutants").mkdir(exist_ok=True)
m.copy_src_dir()
m.copy_also_copy_files()
m.setup_source_paths()
m.store_lines_covered_by_tests()
m.create_mutants(1)
"""


def _all_but_unchanged_equivalents(workdir: Path, previous_diffs: dict[str, str]) -> list[str]:
    """Make the mutants; return every mutant's name but the unchanged listed equivalent ones
    (none left out: an empty list, i.e. run them all)."""
    subprocess.run([sys.executable, "-c", _GENERATE], cwd=workdir, capture_output=True, text=True, check=True)
    names = sorted(_statuses(workdir))
    reused = unchanged_equivalents(_diffs(workdir, [n for n in names if n in EQUIVALENT and n in previous_diffs]),
                                   previous_diffs)
    (workdir / REUSED_FILE).write_text(json.dumps(reused), encoding="utf-8")
    return sorted(set(names) - set(reused)) if reused else []


def unchanged_equivalents(diffs: dict[str, str], previous_diffs: dict[str, str]) -> list[str]:
    """The mutants of ``diffs`` listed in EQUIVALENT whose diff is the one the last report recorded.

    A changed diff means mutmut's numbering moved (the name is another mutant now) or the code
    around it changed: such a mutant runs, and a stale entry shows up as killed or as a new survivor.
    """
    return sorted(n for n, diff in diffs.items() if n in EQUIVALENT and previous_diffs.get(n) == diff)


def _reused(workdir: Path) -> set[str]:
    path = workdir / REUSED_FILE
    return set(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else set()


# One process computes every survivor's diff (a `mutmut show` per mutant costs a start-up each).
_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
out = {}
for name in json.load(sys.stdin):
    text = get_diff_for_mutant(name, path=find_mutant(name).path)
    out[name] = "\\n".join(line for line in text.splitlines() if not line.startswith(("---", "+++")))
print(json.dumps(out))
"""


def _diffs(workdir: Path, names: list[str]) -> dict[str, str]:
    """Each mutant's diff against the original function, without the file header lines."""
    if not names:
        return {}
    done = subprocess.run([sys.executable, "-c", _DIFFS], cwd=workdir, input=json.dumps(names), text=True,
                          capture_output=True, check=True)
    return dict(json.loads(done.stdout))


def _load_previous(output: Path) -> dict[str, dict[str, object]]:
    """Per-module data of the last run, kept in the report's JSON comment."""
    if not output.exists():
        return {}
    match = re.search(r"<!-- mutation-data\n(.*?)\n-->", output.read_text(encoding="utf-8"), re.S)
    return json.loads(match.group(1)) if match else {}


def render(results: list[ModuleResult], started_at: str, elapsed: float, cpus: int, lanes: int = 2) -> str:
    """MUTATION.md text for ``results``."""
    lines = [
        "# Mutation score",
        "",
        "Written by `make mutation` (`python -m benchmarks.mutation`, mutmut "
        f"{_mutmut_version()}) on {started_at}, {cpus} CPU(s), {elapsed / 60:.0f} minutes ("
        + ("one module at a time). " if lanes == 1 else f"{lanes} modules at a time; the minutes of each module overlap). ")
        + "Each module is mutated "
        f"on its own with the fast tests listed (`-m '{DESELECT}'`, and without the slow tests in `SLOW`: "
        f"{_slow_text()}); the tests that killed other mutants of the same function run first, then the fastest. "
        "A mutant is killed when a test fails; one whose test ran past its time limit (`mutation_plugin.py`) or "
        "mutmut's counts as killed too, under \"timed out\": code under test that loops or waits forever, "
        "which no assertion can see. Calls that only "
        "write a log line are not mutated (`LOG_LINES`). A listed equivalent mutant whose diff is the one the last "
        "report shows is not run again (`--all` runs it). "
        f"Score = killed / (mutants - equivalent ones); target {TARGET:.0f} %.",
        "",
        "| module | tests | mutants | killed | timed out | survived | equivalent | score | minutes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: list(MODULES).index(r.module)):
        lines.append(
            f"| `{r.module}` | {', '.join(f'`{t}`' for t in r.tests)} | "
            f"{r.total}{f' (+{r.not_run} not run)' if r.not_run else ''} | {r.killed} | {r.timed_out} | "
            f"{len(r.survivors) - r.equivalent} | {r.equivalent} | {r.score:.1f} % | {r.seconds / 60:.1f} |"
        )
    measured = {r.module for r in results}
    lines += [
        f"| `{module}` | {', '.join(f'`{t}`' for t in MODULES[module])} | not run yet | | | | | | |"
        for module in MODULES
        if module not in measured
    ]
    total = sum(r.total for r in results)
    killed = sum(r.killed for r in results)
    equivalent = sum(r.equivalent for r in results)
    overall = 100.0 * killed / (total - equivalent) if total - equivalent else 100.0
    timed_out = sum(r.timed_out for r in results)
    lines += ["", f"Overall: {killed} of {total - equivalent} killed ({overall:.1f} %), {timed_out} of them by "
              "a time limit.", ""]
    for r in results:
        if not r.survivors:
            continue
        lines += [f"## Surviving mutants of `{r.module}`", ""]
        never_run = [name for name in r.survivors if _import_time(name)]
        for prefix, reason in IMPORT_TIME.items():
            count = sum(1 for name in never_run if name.startswith(prefix))
            if count:
                lines += [f"- {count} mutants `{prefix}*` — never run (import time): {reason}", ""]
        for name in r.survivors:
            if name in never_run:
                continue
            reason = EQUIVALENT.get(name)
            label = f"equivalent: {reason}" if reason else f"{r.statuses[name]}: not yet killed by a test"
            if r.statuses[name] == REUSED:
                label = f"equivalent (the same diff as in the last run, not run again): {reason}"
            lines += [f"- `{name}` — {label}", "", "```diff", r.diffs.get(name, "").strip(), "```", ""]
    run = {"started_at": started_at, "seconds": round(elapsed), "cpus": cpus, "lanes": lanes}
    data = json.dumps({RUN_KEY: run, **{r.module: r.as_json() for r in results}}, indent=None, sort_keys=True)
    lines += ["<!-- mutation-data", data, "-->", ""]
    return "\n".join(lines)


def _slow_text() -> str:
    return "; ".join(f"{module}: {', '.join(f'`{t}`' for t in tests)}" for module, tests in SLOW.items()) or "none"


def _mutmut_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mutmut")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    """Run mutmut per module and write the report; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default=",".join(MODULES), help="comma-separated modules (default: all)")
    parser.add_argument("--output", type=Path, default=REPORT)
    # Two mutants per core: the tests spend most of their time waiting (long polls, visibility
    # timeouts, worker drains), not computing.
    parser.add_argument("--max-children", type=int, default=2 * (os.cpu_count() or 1),
                        help="mutants tested at once, shared by the modules that run at once")
    # Each module starts with steps one process long (making mutants, mutmut's stats and clean
    # runs): two modules side by side keep the cores busy through them.
    parser.add_argument("--lanes", type=int, default=2, help="modules run at once (default: 2)")
    parser.add_argument("--only", default="", help="comma-separated mutant name patterns to run (a partial run)")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing; report what the scratch copies hold (e.g. after an interrupted run)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="with --collect: how long the interrupted run took (default: the last report's time)")
    parser.add_argument("--continue", dest="carry_on", action="store_true",
                        help="run the mutants an interrupted run did not reach, with the current tests")
    parser.add_argument("--all", dest="run_all", action="store_true",
                        help="also run the listed equivalent mutants whose diff the last report already shows")
    parser.add_argument("--resume", action="store_true",
                        help="rerun the last run's survivors with the current tests (after adding tests)")
    args = parser.parse_args(argv)
    # --modules "" runs nothing and re-renders the report from its last data (e.g. after editing EQUIVALENT).
    chosen = [m.strip() for m in args.modules.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if "sqstask" in sys.modules or _importable("sqstask"):
        parser.error("sqstask is importable in this environment; run in the mutation venv (make mutation)")

    previous = _load_previous(args.output)
    last_run = previous.pop(RUN_KEY, None)
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    started = time.monotonic()
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    lanes = max(1, min(args.lanes, len(chosen)))
    children = max(1, args.max_children // lanes)

    def say(line: str) -> None:  # one write per line: the lanes print from their own threads
        sys.stdout.write(f"[{time.strftime('%H:%M:%S')}] {line}\n")
        sys.stdout.flush()

    failed: list[str] = []
    carried: dict[str, float] = {}  # earlier runs' minutes a collected, resumed or continued module builds on

    def one(module: str) -> ModuleResult | None:
        say(f"mutating {module} ...")
        before = float(previous.get(module, {}).get("seconds", 0.0))  # type: ignore[arg-type]
        if args.collect and args.seconds is not None:
            before = args.seconds
        if args.collect or args.resume or args.carry_on:
            carried[module] = before
        diffs = {} if args.run_all else dict(previous.get(module, {}).get("diffs", {}))  # type: ignore[call-overload]
        try:
            r = run_module(module, children, only=only, resume=args.resume, collect=args.collect,
                           previous_seconds=before, carry_on=args.carry_on, previous_diffs=diffs)
        except MutmutFailed as exc:  # the other modules go on; the report keeps this one's last row
            failed.append(str(exc))
            say(f"FAILED {exc}")
            return None
        say(f"{r.module}: {r.killed}/{r.total} killed, {len(r.survivors)} survived ({r.seconds / 60:.1f} min)")
        return r

    # the longest modules of the last run first, so that no long one starts last
    chosen.sort(key=lambda m: -float(previous.get(m, {}).get("seconds", 0.0)))  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        fresh = {m: r for m, r in zip(chosen, pool.map(one, chosen)) if r is not None}
    results = []
    for module in MODULES:
        if module in fresh:
            results.append(fresh[module])
        elif module in previous:
            old = previous[module]
            results.append(ModuleResult(module, list(old["tests"]), dict(old["statuses"]),  # type: ignore[arg-type]
                                        float(old["seconds"]), dict(old["diffs"])))  # type: ignore[arg-type]
    # wall-clock minutes: this run's, plus those of earlier runs (rows kept, resumed or collected modules)
    elapsed = (time.monotonic() - started + sum(carried.get(m, 0.0) for m in fresh)
               + sum(r.seconds for r in results if r.module not in fresh))
    cpus = os.cpu_count() or 0
    if not chosen and last_run:  # a re-render only (e.g. after editing EQUIVALENT): the last run's figures
        started_at, elapsed, cpus = last_run["started_at"], float(last_run["seconds"]), int(last_run["cpus"])
        lanes = int(last_run.get("lanes", 2))
    args.output.write_text(render(results, started_at, elapsed, cpus, lanes), encoding="utf-8")
    print(f"wrote {args.output}")
    below = [r.module for r in results if r.score < TARGET]
    if below:
        print(f"below {TARGET:.0f} %: {', '.join(below)}")
    for failure in failed:
        print(f"not measured: {failure}")
    return 2 if failed else 1 if below else 0


def _importable(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
