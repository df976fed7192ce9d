"""Rendering for the CLI: text tables, aligned fields, JSON, durations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from sqstask.table import format_duration, format_time, render_fields, render_json, render_table


def test_table_aligns_columns_and_right_aligns_numbers():
    rows = [{"id": "a", "n": 5}, {"id": "long-id", "n": 120}]

    text = render_table(rows, [("id", "ID"), ("n", "COUNT")])

    assert text.splitlines() == [
        "ID       COUNT",
        "a            5",
        "long-id    120",
    ]


def test_table_shows_missing_values_as_a_dash_and_cuts_long_ones():
    rows = [{"id": None, "error": "x" * 100}]

    (_, line) = render_table(rows, [("id", "ID"), ("error", "ERROR")], max_width=10).splitlines()

    assert line == "-   xxxxxxx..."


def test_table_keeps_each_row_on_one_line():
    text = render_table([{"error": "line one\nline two"}], [("error", "ERROR")])

    assert text.splitlines()[1] == "line one line two"


def test_fields_put_list_items_on_their_own_lines():
    text = render_fields([("status", "FAILED"), ("history", ["claimed", "failed"])])

    assert text.splitlines() == ["status   FAILED", "history  claimed", "         failed"]


def test_json_writes_datetimes_as_utc_with_z():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))

    assert json.loads(render_json({"at": when})) == {"at": "2026-01-02T01:04:05Z"}


def test_time_is_utc_to_the_second():
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=timezone.utc)) == "2026-01-02 03:04:05Z"
    assert format_time(None) == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (59, "59s"), (192, "3m12s"), (7500, "2h05m"), (356400, "4d03h")],
)
def test_duration_is_short_and_human(seconds, text):
    assert format_duration(seconds) == text
