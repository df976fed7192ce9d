"""`python -m demo [--tasks N]` (what `make demo` runs): exit 0 when every task completed
exactly once, 1 with what went wrong, 130 when interrupted."""

from __future__ import annotations

import argparse
import sys

from .flow import Workload, run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo",
        description=(
            "Apply the module for one team to a local AWS emulator with real Terraform; send tasks; process "
            "them in a local Lambda runner and a worker; dead-letter a poison task, inspect and redrive it; "
            "check that every task completed exactly once; destroy."
        ),
    )
    parser.add_argument("--tasks", type=int, default=Workload.tasks, metavar="N",
                        help=f"receipts to send in step 2 (default {Workload.tasks})")
    args = parser.parse_args(argv)
    try:
        workload = Workload(tasks=args.tasks)
    except ValueError as exc:
        parser.exit(1, f"make demo: --tasks: {exc}\n")
    return run_demo(sys.stdout, workload=workload)


if __name__ == "__main__":
    sys.exit(main())
