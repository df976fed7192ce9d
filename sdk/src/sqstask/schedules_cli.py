"""``sqstask schedules list|enable NAME|disable NAME|run NAME`` — the team's EventBridge schedules."""

from __future__ import annotations

import argparse
from typing import Any

SCHEDULE_COLUMNS = (
    ("name", "NAME"),
    ("state", "STATE"),
    ("expression", "EXPRESSION"),
    ("timezone", "TZ"),
    ("task_type", "TYPE"),
    ("message_group_id", "GROUP"),
    ("kind", "KIND"),
)


def add_schedule_commands(subparsers: Any) -> None:
    """Register ``schedules`` and its subcommands on the CLI's subparsers."""
    from .cli import common_options

    common = common_options()
    parser = subparsers.add_parser(
        "schedules",
        help="list, enable, disable or run the team's scheduled tasks",
        description=(
            "The team's EventBridge Scheduler schedules: recurring ones from the Terraform module and "
            "pending delayed sends (sqstask-at-*). Enable/disable is for incidents: Terraform restores "
            "each schedule's `enabled` setting on its next apply."
        ),
    )
    commands = parser.add_subparsers(dest="schedules_command", metavar="COMMAND")
    commands.required = True

    listing = commands.add_parser("list", parents=[common], help="the schedules of the team's group and their state")
    listing.add_argument("--prefix", help="only schedules whose name starts with this")
    listing.set_defaults(func=_list)

    for verb, enabled in (("enable", True), ("disable", False)):
        sub = commands.add_parser(
            verb, parents=[common], help=f"{verb} a schedule now (UpdateSchedule keeps the rest of its definition)"
        )
        sub.add_argument("name", metavar="NAME", help="schedule name")
        sub.set_defaults(func=_set_state, enabled=enabled)

    run = commands.add_parser(
        "run",
        parents=[common],
        help="send now the task the schedule would send (manual trigger)",
        description="Send now the message the schedule would send, with the scheduled time set to now.",
    )
    run.add_argument("name", metavar="NAME", help="schedule name")
    run.set_defaults(func=_run)


def _queue(args: argparse.Namespace) -> Any:
    from .cli import queue_from_args

    return queue_from_args(args)


def _list(args: argparse.Namespace) -> int:
    from .schedules import list_schedules
    from .table import render_json, render_table

    infos = list_schedules(_queue(args), prefix=args.prefix)
    rows = [info.to_row() for info in infos]
    if args.json:
        print(render_json(rows))
        return 0
    if not rows:
        print("no schedules in the group")
        return 0
    print(render_table(rows, SCHEDULE_COLUMNS))
    return 0


def _set_state(args: argparse.Namespace) -> int:
    from .schedules import set_schedule_state
    from .table import render_json

    change = set_schedule_state(_queue(args), args.name, enabled=args.enabled)
    if args.json:
        print(render_json({"name": change.name, "before": change.before, "after": change.after, "changed": change.changed}))
    elif change.changed:
        print(f"{change.name}: {change.before} -> {change.after}")
    else:
        print(f"{change.name}: already {change.after}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .schedules import run_schedule
    from .table import render_json

    result = run_schedule(_queue(args), args.name)
    if args.json:
        print(render_json(result))
    else:
        print(
            f"{result.schedule_name}: sent task {result.task_id} as if scheduled for {result.scheduled_time} "
            f"(message {result.message_id})"
        )
    return 0
