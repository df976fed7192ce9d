"""Heartbeat: visibility extension for in-flight messages, its limits and its failure handling.

Visibility timeouts are 2 s so tests stay short. Invisibility is asserted by receives that
return nothing at checkpoints; visibility after letting go by a bounded poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sqstask import Heartbeat, TaskQueue, TaskSpec

BOTH = pytest.mark.parametrize("aws", ["inproc", "server"], indirect=True)
VT = 2


class FailedRounds(logging.Handler):
    """The errors of the extension rounds that raised during a test ("heartbeat round failed"),
    and the stops that gave up waiting for their thread."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.expected = False  # the failing_rounds fixture: the test makes rounds fail on purpose
        self.stops_given_up: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message == "heartbeat round failed":
            self.errors.append(repr(record.exc_info[1]) if record.exc_info else "(no exception)")
        elif "heartbeat thread did not stop" in message:
            self.stops_given_up.append(message)


FAILED_ROUNDS = FailedRounds()
# How long a test's stop() waits for the heartbeat's thread (30 s in use): a healthy stop takes
# milliseconds, and a thread that ignores its stop should fail the test now, not 30 s per stop later.
STOP_BOUND = 3.0


@pytest.fixture(autouse=True)
def watch_rounds_and_stops(monkeypatch: pytest.MonkeyPatch) -> Any:
    import sqstask.heartbeat as heartbeat_module

    monkeypatch.setattr(heartbeat_module, "_JOIN_TIMEOUT", STOP_BOUND)
    logger = logging.getLogger("sqstask")  # the audit logger, which the heartbeat writes to
    FAILED_ROUNDS.errors, FAILED_ROUNDS.expected, FAILED_ROUNDS.stops_given_up = [], False, []
    logger.addHandler(FAILED_ROUNDS)
    yield
    logger.removeHandler(FAILED_ROUNDS)
    if FAILED_ROUNDS.stops_given_up and not FAILED_ROUNDS.expected:
        pytest.fail(f"a heartbeat's stop() gave up waiting for its thread: {FAILED_ROUNDS.stops_given_up[0]}")


@pytest.fixture
def failing_rounds() -> None:
    """The test makes extension rounds fail on purpose: wait_until goes on waiting after one."""
    FAILED_ROUNDS.expected = True


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``condition``; fail after ``timeout`` s, or at once when a round of extensions raised
    (a bug: the heartbeat would only retry it) unless the test asked for ``failing_rounds``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        if FAILED_ROUNDS.errors and not FAILED_ROUNDS.expected and not condition():
            pytest.fail(f"a round of extensions raised {FAILED_ROUNDS.errors[0]} while waiting for {what}")
        time.sleep(0.05)


def returns_within(seconds: float, call: Callable[[], Any], what: str) -> Any:
    """``call()``; fails the test when ``what`` has not returned within ``seconds`` (a loop that
    never ends, a wait that should not be one), instead of hanging the session."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # raised again on the test's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)  # a daemon: a loop left running cannot hold the exit
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"{what} did not return within {seconds} s")
    returned, value = outcome[0]
    if not returned:
        raise value
    return value


def assert_stays_invisible(queue: TaskQueue, seconds: float) -> None:
    """Poll the queue for ``seconds``; any message received means one became visible."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = queue.receive(max_messages=10, wait_seconds=1)
        assert got == [], f"message {got[0]['MessageId']} became visible while it should be kept invisible"


def receive_within(queue: TaskQueue, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = queue.receive(max_messages=1, wait_seconds=1)
        if got:
            return got[0]
        assert time.monotonic() < deadline, f"no message became visible within {timeout} s"


def record_entries(client: Any) -> list[list[dict]]:
    calls: list[list[dict]] = []
    client.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibilityBatch",
        lambda params, **_: calls.append(list(params["Entries"])),
    )
    return calls


def heartbeat_threads() -> list[threading.Thread]:
    """The live background threads of heartbeats."""
    return [t for t in threading.enumerate() if t.name == "sqstask-heartbeat" and t.is_alive()]


class SteppedClock:
    """Stands in for the heartbeat module's ``time``: ``monotonic()`` is what the test sets."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class AcceptingSQS:
    """An SQS client that accepts every visibility change and records (clock time, entries)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.calls: list[tuple[float, list[dict]]] = []

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self.calls.append((self.clock(), [dict(e) for e in Entries]))
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def stub_queue(sqs: Any) -> TaskQueue:
    return TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo", sqs_client=sqs)


def sqstask_events(caplog: pytest.LogCaptureFixture, event: str) -> list[dict]:
    return [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "sqstask" and json.loads(r.getMessage()).get("event") == event
    ]


def in_flight(queue: TaskQueue, count: int, groups: int = 1) -> list[dict]:
    queue.send_many([TaskSpec("long", {"n": i}, f"g{i % groups}") for i in range(count)], raise_on_failure=True)
    messages: list[dict] = []
    while len(messages) < count:
        got = queue.receive(max_messages=10, wait_seconds=0)
        assert got, f"only {len(messages)} of {count} messages could be received"
        messages.extend(got)
    return messages


@BOTH
def test_a_heartbeat_keeps_a_message_invisible_for_3x_its_visibility_timeout_then_lets_go(make_team):
    queue = make_team(visibility_timeout=VT)
    (message,) = in_flight(queue, 1)
    extended: list[list[dict]] = []
    with Heartbeat(queue, [message], visibility_timeout=VT, interval=0.5, on_extend=extended.append) as heartbeat:
        threads = heartbeat_threads()
        assert len(threads) == 1, f"expected one heartbeat thread, found {threads}"
        assert_stays_invisible(queue, 3 * VT + 0.5)
        assert heartbeat.running
    assert not threads[0].is_alive(), "the heartbeat thread still runs after the context ended"
    assert any(message in batch for batch in extended)
    again = receive_within(queue, VT + 10)
    assert again["MessageId"] == message["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_messages_can_be_added_and_removed_while_it_runs(make_team):
    queue = make_team(visibility_timeout=VT)
    with Heartbeat(queue, visibility_timeout=VT, interval=0.4) as heartbeat:
        (message,) = in_flight(queue, 1)
        heartbeat.add(message)
        assert message in heartbeat
        assert_stays_invisible(queue, 2 * VT + 0.5)
        heartbeat.remove(message)
        assert len(heartbeat) == 0
        assert receive_within(queue, VT + 10)["MessageId"] == message["MessageId"]
        assert heartbeat.running


def test_a_receipt_handle_sqs_rejects_is_dropped_and_logged_not_retried(make_team, caplog):
    caplog.set_level("INFO", logger="sqstask")
    queue = make_team(visibility_timeout=VT)
    deleted, alive = in_flight(queue, 2, groups=2)
    assert queue.delete_many([deleted]) == []
    calls = record_entries(queue.sqs)
    extended: list[list[dict]] = []
    with Heartbeat(queue, [deleted, alive], visibility_timeout=VT, interval=0.3, on_extend=extended.append) as hb:
        wait_until(lambda: deleted not in hb, "the deleted message to be dropped")
        wait_until(lambda: len(extended) >= 3, "three more extension rounds")
        assert alive in hb
    handles = [e["ReceiptHandle"] for call in calls for e in call]
    assert handles.count(deleted["ReceiptHandle"]) == 1
    assert handles.count(alive["ReceiptHandle"]) >= 3
    (dropped,) = sqstask_events(caplog, "heartbeat-dropped")
    assert dropped["message_id"] == deleted["MessageId"]
    assert dropped["error_type"] == "ReceiptHandleIsInvalid"
    assert "no longer extending" in dropped["reason"]


def test_visibility_is_never_extended_beyond_max_total(make_team, caplog):
    caplog.set_level("INFO", logger="sqstask")
    queue = make_team(visibility_timeout=VT)
    (message,) = in_flight(queue, 1)
    extended: list[list[dict]] = []
    with Heartbeat(queue, [message], visibility_timeout=VT, interval=0.5, max_total=4, on_extend=extended.append) as hb:
        again = receive_within(queue, 4 + VT + 10)
        assert again["MessageId"] == message["MessageId"]
        assert hb.running and message not in hb
    assert extended, "the heartbeat never extended the message before reaching its cap"
    (dropped,) = sqstask_events(caplog, "heartbeat-dropped")
    assert dropped["reason"].startswith("visibility cannot be extended past 4 s")


def test_no_extension_reaches_past_12_hours_after_the_message_was_added(monkeypatch, caplog):
    import sqstask.heartbeat as heartbeat_module

    caplog.set_level("INFO", logger="sqstask")
    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    sqs = AcceptingSQS(clock.monotonic)
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    added_at = clock.now
    twelve_hours = 43200
    # A short interval (in the stepped clock's seconds) keeps the thread looking at the clock.
    with Heartbeat(stub_queue(sqs), [message], visibility_timeout=3600, interval=0.05) as hb:
        clock.now = added_at + 3600
        wait_until(lambda: sqs.calls, "an extension an hour after the receive")
        clock.now = added_at + twelve_hours - 100
        wait_until(lambda: sqs.calls[-1][0] == clock.now, "an extension 100 s before the 12-hour limit")
        clock.now = added_at + twelve_hours - 5
        wait_until(lambda: message not in hb, "the message to be let go at the 12-hour limit")

    ends = [(at - added_at) + entry["VisibilityTimeout"] for at, entries in sqs.calls for entry in entries]
    assert ends and max(ends) <= twelve_hours, f"visibility extended to {max(ends)} s after the receive"
    assert sqs.calls[0][1][0]["VisibilityTimeout"] == 3600  # far from the limit: the full timeout
    assert 0 < sqs.calls[-1][1][0]["VisibilityTimeout"] < 100  # near it: only what is left, minus a margin
    (dropped,) = sqstask_events(caplog, "heartbeat-dropped")
    assert dropped["message_id"] == "m-1" and "43200 s" in dropped["reason"]


def test_each_extension_comes_an_interval_after_the_last_well_before_the_message_expires():
    sqs = AcceptingSQS(time.monotonic)
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    vt = 3  # default interval: a third of it, 1 s
    started = time.monotonic()
    # A fixed window (max_window = the timeout); the growing window has tests of its own.
    with Heartbeat(stub_queue(sqs), [message], visibility_timeout=vt, max_window=vt):
        wait_until(lambda: len(sqs.calls) >= 1, "the first extension", timeout=vt)
        wait_until(lambda: len(sqs.calls) >= 2, "the second extension", timeout=vt)
    times = [started] + [at for at, _ in sqs.calls[:2]]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    # Each extension must land well before the visibility set by the previous one runs out.
    assert all(0.5 <= gap <= vt * 0.75 for gap in gaps), f"extensions {gaps} s apart with a {vt} s timeout"
    assert all(entry["VisibilityTimeout"] == vt for _, entries in sqs.calls for entry in entries)


def test_extensions_are_batched_ten_per_call(make_team):
    queue = make_team(visibility_timeout=30)
    messages = in_flight(queue, 25, groups=25)
    calls = record_entries(queue.sqs)
    rounds: list[list[dict]] = []
    with Heartbeat(queue, messages, visibility_timeout=30, interval=0.2, on_extend=rounds.append):
        wait_until(lambda: len(rounds) >= 1, "one extension round")
    assert [len(c) for c in calls[:3]] == [10, 10, 5]
    assert {e["VisibilityTimeout"] for c in calls for e in c} == {30}


class FlakyVisibility:
    """Fails every entry of the first ChangeMessageVisibilityBatch call with a server-side error."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self.calls += 1
        if self.calls == 1:
            failed = [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in Entries
            ]
            return {"Successful": [], "Failed": failed}
        return self.client.change_message_visibility_batch(QueueUrl=QueueUrl, Entries=Entries)


def test_a_transient_failure_is_retried_not_dropped(make_team):
    base = make_team(visibility_timeout=VT)
    (message,) = in_flight(base, 1)
    flaky = FlakyVisibility(base.sqs)
    queue = TaskQueue(config=base.config, sqs_client=flaky)
    extended: list[list[dict]] = []
    with Heartbeat(queue, [message], visibility_timeout=VT, interval=0.5, on_extend=extended.append) as hb:
        wait_until(lambda: bool(extended), "an extension after the failed one")
        assert message in hb
    assert flaky.calls >= 2


def test_stop_is_prompt_even_with_a_long_interval(make_team):
    queue = make_team()
    (message,) = in_flight(queue, 1)
    heartbeat = Heartbeat(queue, [message], visibility_timeout=600, interval=300).start()
    threads = heartbeat_threads()
    returns_within(10, heartbeat.stop, "stop() with a 300 s interval")
    assert len(threads) == 1 and not threads[0].is_alive(), "the heartbeat thread still runs after stop()"


def test_leaving_the_context_on_an_exception_stops_the_thread(make_team):
    queue = make_team()
    threads: list[threading.Thread] = []
    with pytest.raises(RuntimeError, match="task failed"):
        with Heartbeat(queue, visibility_timeout=60):
            threads.extend(heartbeat_threads())
            raise RuntimeError("task failed")
    assert len(threads) == 1 and not threads[0].is_alive(), "the heartbeat thread outlived its context"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"visibility_timeout": 0}, r"visibility_timeout must be 1\.\.43200 seconds, got 0"),
        ({"visibility_timeout": 50000}, r"visibility_timeout must be 1\.\.43200 seconds"),
        ({"visibility_timeout": 2.5}, r"visibility_timeout must be whole seconds"),
        ({"visibility_timeout": 10, "interval": 10}, r"interval must be above 0 and below visibility_timeout \(10 s\)"),
        ({"visibility_timeout": 10, "interval": 0}, r"interval must be above 0 .*, got 0$"),
        ({"visibility_timeout": 10, "max_total": 50000}, r"max_total must be 1\.\.43200 seconds"),
        ({"visibility_timeout": 10, "max_total": 0}, r"max_total must be 1\.\.43200 seconds \(SQS's 12-hour limit\), got 0$"),
        ({"visibility_timeout": 10, "max_window": 0}, r"max_window must be 1\.\.43200 seconds \(the longest one extension"),
        ({"visibility_timeout": 10, "max_window": 43201}, r"max_window must be 1\.\.43200 seconds .*, got 43201$"),
    ],
)
def test_bad_settings_are_rejected_with_what_is_allowed(kwargs, error):
    queue = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo", sqs_client=object())
    with pytest.raises(ValueError, match=error):
        Heartbeat(queue, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"visibility_timeout": 1},
        {"visibility_timeout": 43200},
        {"visibility_timeout": 10, "max_total": 1},
        {"visibility_timeout": 10, "max_window": 1},
        {"visibility_timeout": 10, "max_window": 43200},
    ],
)
def test_settings_at_their_limits_are_accepted(kwargs):
    queue = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo", sqs_client=object())
    heartbeat = Heartbeat(queue, **kwargs)
    assert (heartbeat.visibility_timeout, heartbeat.interval) == (kwargs["visibility_timeout"],
                                                                   kwargs["visibility_timeout"] / 3)


def test_a_message_without_a_receipt_handle_is_rejected():
    queue = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo", sqs_client=object())
    heartbeat = Heartbeat(queue, visibility_timeout=30)
    with pytest.raises(TypeError, match=r"message m-1 has no receipt handle"):
        heartbeat.add({"MessageId": "m-1"})
    with pytest.raises(TypeError, match=r"not an SQS message, Lambda SQS record or Task"):
        heartbeat.add("m-1")


# -- growing window -----------------------------------------------------------------------------


def test_the_window_grows_with_age_from_the_visibility_timeout_to_max_window():
    from sqstask.heartbeat import extension_window

    assert [extension_window(age, visibility_timeout=30, max_window=900) for age in (0, 10, 100, 870, 5000)] == [
        30, 40, 130, 900, 900]
    # a max_window at or below the visibility timeout keeps the fixed window
    assert {extension_window(age, visibility_timeout=30, max_window=30) for age in (0, 100, 5000)} == {30}
    assert extension_window(100, visibility_timeout=300, max_window=60) == 300


@pytest.mark.parametrize("visibility", [30, 60, 300])
def test_a_task_hour_costs_at_most_ten_extensions_at_the_default_max_window(visibility):
    from sqstask.heartbeat import extension_ages

    growing = returns_within(5, lambda: extension_ages(3600, visibility_timeout=visibility), "extension_ages()")
    fixed = returns_within(5, lambda: extension_ages(3600, visibility_timeout=visibility, max_window=visibility),
                           "extension_ages() with a fixed window")
    assert len(growing) <= 10, growing
    assert len(fixed) == 3600 // (visibility / 3) - 1  # the fixed window: every third of the timeout, before the hour
    # a crashed consumer's task reappears within max_window: no gap between extensions exceeds it
    assert max(b - a for a, b in zip(growing, growing[1:])) <= 900


def test_the_next_extension_keeps_the_first_rounds_headroom():
    from sqstask.heartbeat import extension_window, next_extension_in

    for age in (10, 95, 400, 3000):
        window = extension_window(age, visibility_timeout=30, max_window=900)
        assert window - next_extension_in(age, visibility_timeout=30, interval=10, max_window=900) == 20


def test_each_extension_grants_a_longer_window_on_sqs(make_team):
    queue = make_team(visibility_timeout=VT)
    (message,) = in_flight(queue, 1)
    calls = record_entries(queue.sqs)
    rounds: list[list[dict]] = []
    with Heartbeat(queue, [message], visibility_timeout=VT, interval=0.5, max_window=6, on_extend=rounds.append):
        wait_until(lambda: len(rounds) >= 4, "four extension rounds", timeout=30)
        assert_stays_invisible(queue, 1)
    granted = [e["VisibilityTimeout"] for c in calls for e in c][:4]
    assert granted == sorted(granted) and granted[0] == VT and granted[-1] == 6, granted


def test_extension_ages_start_one_interval_in_and_double_the_gap_with_a_given_interval():
    from sqstask.heartbeat import extension_ages

    # Window vt + age, renewed with vt - interval (25 s) left: 5, then 10, 20, 40, 80 s later.
    assert extension_ages(200, visibility_timeout=30, interval=5) == [5, 15, 35, 75, 155]
    assert extension_ages(20, visibility_timeout=30, interval=5, max_window=30) == [5, 10, 15]


def test_each_message_is_extended_on_the_queue_it_came_from(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    urls: list[str] = []

    class RecordingSQS(AcceptingSQS):
        def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
            urls.append(QueueUrl)
            return super().change_message_visibility_batch(QueueUrl=QueueUrl, Entries=Entries)

    sqs = RecordingSQS(clock.monotonic)
    queue = stub_queue(sqs)
    urgent = "https://sqs.us-east-1.amazonaws.com/123456789012/q-urgent.fifo"
    messages = [{"MessageId": "m-1", "ReceiptHandle": "rh-1"},
                {"MessageId": "m-2", "ReceiptHandle": "rh-2", "QueueUrl": urgent}]
    with Heartbeat(queue, messages, visibility_timeout=60, interval=0.05):  # short: the thread keeps looking
        clock.now += 10
        wait_until(lambda: len(urls) == 2, "one extension call per queue")

    assert sorted(urls) == sorted([queue.config.queue_url, urgent])
    by_url = dict(zip(urls, (entries for _, entries in sqs.calls)))
    assert [e["ReceiptHandle"] for e in by_url[urgent]] == ["rh-2"]
    assert [e["ReceiptHandle"] for e in by_url[queue.config.queue_url]] == ["rh-1"]


def test_the_last_whole_second_before_max_total_is_still_granted(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    sqs = AcceptingSQS(clock.monotonic)
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    # max_total 100 s keeps a 10 s margin: the message may stay invisible until 90 s after it was added.
    # A short interval (in the stepped clock's seconds) keeps the thread looking at the clock.
    with Heartbeat(stub_queue(sqs), [message], visibility_timeout=60, interval=0.05, max_total=100) as hb:
        clock.now += 89
        wait_until(lambda: sqs.calls, "an extension one second before the limit", timeout=3)
        clock.now += 0.5  # less than a whole second left: nothing more to grant
        wait_until(lambda: message not in hb, "the message to be let go at the limit", timeout=3)

    assert [entries[0]["VisibilityTimeout"] for _, entries in sqs.calls] == [1]


def removing(heartbeat: Heartbeat, message: dict, order: list[str]) -> threading.Thread:
    """A thread that removes ``message`` and then notes "removed"."""

    def remove() -> None:
        heartbeat.remove(message)
        order.append("removed")

    thread = threading.Thread(target=remove)
    thread.start()
    return thread


def test_a_removed_message_is_no_longer_extended_and_removing_an_unknown_one_is_ignored(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    sqs = AcceptingSQS(clock.monotonic)
    kept, dropped = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}, {"MessageId": "m-2", "ReceiptHandle": "rh-2"}
    with Heartbeat(stub_queue(sqs), [kept, dropped], visibility_timeout=60, interval=0.05) as hb:
        for message in (dropped, {"MessageId": "m-unknown", "ReceiptHandle": "rh-x"}):
            # no extension of either is under way: remove() has nothing to wait for (the clock stands still)
            returns_within(2, lambda: hb.remove(message),
                           f"remove({message['MessageId']}) with no extension under way")
        assert (len(hb), dropped in hb, kept in hb, hb.messages) == (1, False, True, [kept])
        clock.now += 10
        wait_until(lambda: sqs.calls, "the first extension")

    assert [[e["ReceiptHandle"] for e in entries] for _, entries in sqs.calls] == [["rh-1"]]


class BlockingSQS:
    """An SQS client whose visibility changes wait until the test releases them; notes when each returns."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.order: list[str] = []

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self.entered.set()
        assert self.release.wait(10), "the test never released the visibility change"
        self.order.append("extended")
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_remove_returns_only_after_the_extension_of_that_message_under_way(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    sqs = BlockingSQS()
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    with Heartbeat(stub_queue(sqs), [message], visibility_timeout=60, interval=0.05) as hb:
        clock.now += 10
        started = sqs.entered.wait(5)
        remover = removing(hb, message, sqs.order)
        remover.join(0.5)  # remove() must wait: a visibility change sent after it would be undone
        sqs.release.set()  # before any assertion: leaving the context waits for the heartbeat thread
        remover.join(5)
    assert started, "no extension started"
    assert not remover.is_alive(), "remove() did not return after the extension finished"
    assert sqs.order == ["extended", "removed"]
    assert message not in hb


def test_remove_stops_waiting_for_a_hanging_extension_after_its_bound(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    bound = 0.3
    monkeypatch.setattr(heartbeat_module, "_REMOVE_WAIT", bound)  # 10 s in use
    sqs = BlockingSQS()
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    with Heartbeat(stub_queue(sqs), [message], visibility_timeout=60, interval=0.05) as hb:
        extending = sqs.entered.wait(5)
        started = time.monotonic()
        remover = removing(hb, message, sqs.order)
        remover.join(bound + 3)
        waited = time.monotonic() - started
        still_waiting = remover.is_alive()
        sqs.release.set()  # before any assertion: leaving the context waits for the heartbeat thread
    assert extending, "no extension started"
    assert not still_waiting, f"remove() still waits for a hanging extension after {waited:.1f} s"
    assert waited >= bound, f"remove() gave up after {waited:.2f} s, before its {bound} s bound"
    assert sqs.order == ["removed", "extended"]


def test_a_message_at_its_cap_does_not_split_the_extension_of_the_others(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    sqs = AcceptingSQS(clock.monotonic)
    # max_total 100 s keeps a 10 s margin: a message may stay invisible until 90 s after it was added.
    rounds: list[list[Any]] = []
    hb = Heartbeat(stub_queue(sqs), visibility_timeout=60, interval=0.05, max_total=100, on_extend=rounds.append)
    old, capped, new = ({"MessageId": f"m-{n}", "ReceiptHandle": f"rh-{n}"} for n in range(3))
    hb.add(old)
    hb.add(capped)
    clock.now += 50
    hb.add(dict(old, ReceiptHandle="rh-0-again"))  # received again: a new handle and a new 12-hour budget
    hb.add(new)
    clock.now += 40  # the capped message's limit; the others have 50 s left
    with hb:
        wait_until(lambda: capped not in hb and sum(len(entries) for _, entries in sqs.calls) >= 2,
                   "the capped message dropped and the others extended", timeout=5)

    assert [[(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in entries] for _, entries in sqs.calls] == [
        [("rh-0-again", 50), ("rh-2", 50)]
    ]
    assert rounds == [[dict(old, ReceiptHandle="rh-0-again"), new]]


def test_a_capped_message_removed_while_a_round_is_prepared_does_not_delay_the_others(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    sqs = AcceptingSQS(clock.monotonic)
    hb = Heartbeat(stub_queue(sqs), visibility_timeout=60, interval=0.05, max_total=100)
    capped, other = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}, {"MessageId": "m-2", "ReceiptHandle": "rh-2"}
    hb.add(capped)
    clock.now += 50
    hb.add(other)
    clock.now += 40  # the first message's limit

    window = heartbeat_module.extension_window

    def removed_meanwhile(age: float, **kwargs: Any) -> int:
        hb.remove(capped)  # the task finished while the heartbeat thread picked this round's messages
        return window(age, **kwargs)

    monkeypatch.setattr(heartbeat_module, "extension_window", removed_meanwhile)
    with hb:
        # The stepped clock stands still: a round that failed would only be retried once it moves.
        wait_until(lambda: sqs.calls, "the other message's extension in the same round", timeout=3)

    assert [[e["ReceiptHandle"] for e in entries] for _, entries in sqs.calls] == [["rh-2"]]
    assert capped not in hb and other in hb


class ScriptedSQS(AcceptingSQS):
    """Records (clock time, queue URL, entries) of each call; ``answer(url, entries)`` may fail entries."""

    def __init__(self, clock: Callable[[], float],
                 answer: Callable[[str, list[dict]], list[dict]] | None = None) -> None:
        super().__init__(clock)
        self.urls: list[str] = []
        self.answer = answer

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self.urls.append(QueueUrl)
        response = super().change_message_visibility_batch(QueueUrl=QueueUrl, Entries=Entries)
        failed = self.answer(QueueUrl, Entries) if self.answer else []
        failed_ids = {f["Id"] for f in failed}
        return {"Successful": [s for s in response["Successful"] if s["Id"] not in failed_ids], "Failed": failed}


def transient(entries: list[dict]) -> list[dict]:
    return [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in entries]


def stepped(monkeypatch: pytest.MonkeyPatch) -> SteppedClock:
    import sqstask.heartbeat as heartbeat_module

    clock = SteppedClock()
    monkeypatch.setattr(heartbeat_module, "time", clock)
    return clock


def test_messages_due_within_half_an_interval_share_one_call_from_the_instant_they_are_due(monkeypatch):
    clock = stepped(monkeypatch)
    sqs = ScriptedSQS(clock.monotonic)
    hb = Heartbeat(stub_queue(sqs), visibility_timeout=60, interval=1.0)
    first, soon, later = ({"MessageId": f"m-{n}", "ReceiptHandle": f"rh-{n}"} for n in range(3))
    hb.add(first)
    clock.now += 0.5
    hb.add(soon)  # due 0.5 s after the first: just within half an interval
    clock.now += 0.1
    hb.add(later)  # due 0.6 s after it: not
    clock.now = 1001.0  # the first message's due instant, exactly
    with hb:
        wait_until(lambda: sqs.calls, "the extension due now", timeout=3)

    assert [(at, [e["ReceiptHandle"] for e in entries]) for at, entries in sqs.calls] == [(1001.0, ["rh-0", "rh-1"])]


def test_a_transient_failure_is_retried_half_an_interval_later(monkeypatch):
    clock = stepped(monkeypatch)
    calls = 0

    def first_call_fails(url: str, entries: list[dict]) -> list[dict]:
        nonlocal calls
        calls += 1
        return transient(entries) if calls == 1 else []

    sqs = ScriptedSQS(clock.monotonic, first_call_fails)
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    with Heartbeat(stub_queue(sqs), [message], visibility_timeout=60, interval=0.5) as hb:
        clock.now = 1000.5  # the first extension is due
        wait_until(lambda: sqs.calls, "the first extension", timeout=3)
        clock.now = 1000.7
        time.sleep(0.4)  # a retry due before 1000.75 would be sent now
        clock.now = 1000.75
        wait_until(lambda: len(sqs.calls) >= 2, "the retry half an interval after the failure", timeout=3)
        assert message in hb

    assert [at for at, _ in sqs.calls[:2]] == [1000.5, 1000.75]


def test_a_failure_on_one_queue_is_not_lost_when_the_round_also_extends_another(monkeypatch):
    clock = stepped(monkeypatch)
    queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"
    urgent = "https://sqs.us-east-1.amazonaws.com/123456789012/q-urgent.fifo"
    sqs = ScriptedSQS(clock.monotonic, lambda url, entries: transient(entries) if url == queue_url else [])
    failing = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    extended = {"MessageId": "m-2", "ReceiptHandle": "rh-2", "QueueUrl": urgent}
    rounds: list[list[Any]] = []
    with Heartbeat(stub_queue(sqs), [failing, extended], visibility_timeout=60, interval=0.05,
                   on_extend=rounds.append) as hb:
        clock.now += 10
        wait_until(lambda: rounds, "the round's extensions", timeout=3)

    assert sqs.urls[:2] == [queue_url, urgent]
    assert rounds[0] == [extended]  # the failed one is not reported extended: it is retried soon
    assert failing in hb


def test_a_rejected_handle_is_dropped_in_the_round_that_also_failed_a_message_removed_meanwhile(monkeypatch):
    clock = stepped(monkeypatch)
    removed, rejected = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}, {"MessageId": "m-2", "ReceiptHandle": "rh-2"}
    removers: list[threading.Thread] = []

    def remove_one_then_reject_both(url: str, entries: list[dict]) -> list[dict]:
        if not removers:  # the first round: the first message is deleted while its extension is under way
            removers.append(threading.Thread(target=hb.remove, args=(removed,)))
            removers[0].start()
            wait_until(lambda: removed not in hb, "the removal to take the message off")
        return [{"Id": e["Id"], "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": "gone"}
                for e in entries]

    sqs = ScriptedSQS(clock.monotonic, remove_one_then_reject_both)
    hb = Heartbeat(stub_queue(sqs), [removed, rejected], visibility_timeout=60, interval=0.05)
    with hb:
        clock.now += 10
        wait_until(lambda: rejected not in hb, "the rejected handle to be dropped", timeout=3)
    removers[0].join(5)

    assert [[e["ReceiptHandle"] for e in entries] for _, entries in sqs.calls] == [["rh-1", "rh-2"]]


def test_a_stopped_heartbeat_starts_again_on_a_daemon_thread(monkeypatch):
    clock = stepped(monkeypatch)
    sqs = ScriptedSQS(clock.monotonic)
    hb = Heartbeat(stub_queue(sqs), [{"MessageId": "m-1", "ReceiptHandle": "rh-1"}], visibility_timeout=60,
                   interval=0.05)
    hb.start()
    first = heartbeat_threads()
    hb.stop()
    hb.start()
    try:
        second = heartbeat_threads()
        clock.now += 10
        wait_until(lambda: sqs.calls, "an extension by the restarted heartbeat", timeout=3)
    finally:
        hb.stop()

    assert len(first) == 1 and not first[0].is_alive() and len(second) == 1 and second[0] is not first[0]
    # A heartbeat never keeps the process alive: its thread is a daemon.
    assert first[0].daemon and second[0].daemon


def test_stop_is_harmless_before_start_and_twice():
    hb = Heartbeat(stub_queue(AcceptingSQS(time.monotonic)), visibility_timeout=60)
    hb.stop()
    hb.start()
    hb.stop()
    hb.stop()
    assert not hb.running


def test_stop_stops_waiting_for_a_hanging_extension_after_its_bound(monkeypatch):
    import sqstask.heartbeat as heartbeat_module

    bound = 0.3
    monkeypatch.setattr(heartbeat_module, "_JOIN_TIMEOUT", bound)  # 30 s in use
    sqs = BlockingSQS()
    hb = Heartbeat(stub_queue(sqs), [{"MessageId": "m-1", "ReceiptHandle": "rh-1"}], visibility_timeout=60,
                   interval=0.05).start()
    extending = sqs.entered.wait(5)
    started = time.monotonic()
    stopper = threading.Thread(target=hb.stop)
    stopper.start()
    stopper.join(bound + 3)
    waited = time.monotonic() - started
    still_waiting = stopper.is_alive()
    sqs.release.set()
    assert extending, "no extension started"
    assert not still_waiting, f"stop() still waits for a hanging extension after {waited:.1f} s"
    assert waited >= bound, f"stop() gave up after {waited:.2f} s, before its {bound} s bound"
    assert len(FAILED_ROUNDS.stops_given_up) == 1, "the stop did not say it gave up"
    FAILED_ROUNDS.stops_given_up.clear()  # expected here: not a failure of the test
    wait_until(lambda: not hb.running, "the released heartbeat thread to end", timeout=5)


def test_a_round_that_raises_is_retried_half_an_interval_later(monkeypatch, failing_rounds):
    clock = stepped(monkeypatch)

    class FirstCallRaises(ScriptedSQS):
        def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
            response = super().change_message_visibility_batch(QueueUrl=QueueUrl, Entries=Entries)
            if len(self.calls) == 1:
                raise RuntimeError("not a botocore error: the whole round fails")
            return response

    sqs = FirstCallRaises(clock.monotonic)
    message = {"MessageId": "m-1", "ReceiptHandle": "rh-1"}
    with Heartbeat(stub_queue(sqs), [message], visibility_timeout=60, interval=0.5) as hb:
        clock.now = 1000.5  # the first extension is due
        wait_until(lambda: sqs.calls, "the first extension", timeout=3)
        clock.now = 1000.7
        time.sleep(0.4)  # a retry due before 1000.75 would be sent now
        clock.now = 1000.75
        wait_until(lambda: len(sqs.calls) >= 2, "the retry half an interval after the failed round", timeout=3)
        assert message in hb and hb.running

    assert [at for at, _ in sqs.calls[:2]] == [1000.5, 1000.75]
