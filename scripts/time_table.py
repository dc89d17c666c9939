"""
Where a test run's minutes go: each step timed as it runs, and one table at the end.

The Makefile runs each step of ``make test`` and ``make test-all`` (a profile's setup, the checks,
a profile's suite, the production tier) through ``run``, which records the step's wall seconds
and exit code; a step that runs pytest also leaves a JUnit XML report named after it, from which
the table takes its passed, failed and skipped counts and the slowest tests. ``.ci/run`` ends by
printing the table, the total measured against CI's budget.

    python scripts/time_table.py reset                  # forget earlier steps (.ci/run starts with it)
    python scripts/time_table.py run NAME -- COMMAND    # run COMMAND, adding its wall time to step NAME
    python scripts/time_table.py print                  # the table

The reports live in ``$ER_REPORTS`` (``.reports`` by default); step NAME's pytest writes
``NAME.xml`` there.

Only the standard library: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORTS = Path(os.environ.get("ER_REPORTS", REPO / ".reports"))
STEPS = REPORTS / "steps.jsonl"
# A run of .ci/run past this many seconds does not land.
CI_BUDGET = 90 * 60
# The share of the budget .ci/run is held to, so that the suite has room to grow.
CI_TARGET = 45 * 60
SLOWEST = 15


@dataclass(frozen=True)
class Counts:
    """What one pytest run reported: its tests by outcome."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Step:
    """One timed step: its name, its wall seconds and its exit code."""

    name: str
    wall: float
    exit_code: int


def junit_path(name: str) -> Path:
    return REPORTS / f"{name}.xml"


def run(name: str, command: list[str]) -> int:
    """Run ``command``, record its wall time and exit code as step ``name``, and return the exit code."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    exit_code = subprocess.run(command, check=False).returncode
    step = {"name": name, "wall": round(time.monotonic() - started, 2), "exit_code": exit_code}
    with STEPS.open("a") as steps:
        steps.write(json.dumps(step) + "\n")
    return exit_code


def recorded_steps() -> list[Step]:
    """The steps recorded since the last reset, in the order each began: the commands of one name add up."""
    if not STEPS.exists():
        return []
    steps: dict[str, Step] = {}
    for line in STEPS.read_text().splitlines():
        recorded = json.loads(line)
        earlier = steps.get(recorded["name"], Step(recorded["name"], 0.0, 0))
        steps[earlier.name] = Step(
            earlier.name, earlier.wall + recorded["wall"], earlier.exit_code or recorded["exit_code"]
        )
    return list(steps.values())


def test_cases(report: Path) -> list[ElementTree.Element]:
    return list(ElementTree.parse(report).getroot().iter("testcase"))


def outcome_counts(report: Path) -> Counts:
    """Count a JUnit XML report's test cases by outcome, as pytest's closing line does."""
    passed = failed = skipped = 0
    for case in test_cases(report):
        if case.find("skipped") is not None:
            skipped += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        else:
            passed += 1
    return Counts(passed, failed, skipped)


def slowest_tests(steps: list[Step], count: int = SLOWEST) -> list[tuple[float, str, str]]:
    """The ``count`` slowest test cases of every step's report: seconds, step, test."""
    timed = []
    for step in steps:
        report = junit_path(step.name)
        if report.exists():
            for case in test_cases(report):
                test = f"{case.get('classname', '')}::{case.get('name', '')}"
                timed.append((float(case.get("time") or 0), step.name, test))
    return sorted(timed, reverse=True)[:count]


def table(steps: list[Step], total: float) -> str:
    """The time table: every step with its counts, the slowest tests, the total against CI's budget."""
    lines = [
        "",
        "== time table",
        f"{'step':<32} {'wall s':>9} {'passed':>7} {'failed':>7} {'skipped':>8}  exit",
    ]
    for step in steps:
        report = junit_path(step.name)
        counts = outcome_counts(report) if report.exists() else None
        figures = (
            f"{counts.passed:>7} {counts.failed:>7} {counts.skipped:>8}"
            if counts
            else f"{'':>7} {'':>7} {'':>8}"
        )
        lines.append(f"{step.name:<32} {step.wall:>9.1f} {figures}  {step.exit_code}")
    lines += ["", f"{SLOWEST} slowest tests (s, step, test):"]
    lines += [f"{seconds:>8.1f}  {step:<24} {test}" for seconds, step, test in slowest_tests(steps)]
    lines += [
        "",
        f"total {total:.0f} s ({total / 60:.1f} min): {100 * total / CI_BUDGET:.0f}% of CI's "
        f"{CI_BUDGET // 60} minutes; the target is {CI_TARGET // 60} minutes",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reset")
    running = commands.add_parser("run")
    running.add_argument("name")
    running.add_argument("run_command", nargs=argparse.REMAINDER)
    commands.add_parser("print")
    args = parser.parse_args(argv)
    if args.command == "reset":
        shutil.rmtree(REPORTS, ignore_errors=True)
        REPORTS.mkdir(parents=True)
        (REPORTS / "started").write_text(str(time.time()))
    elif args.command == "run":
        command = args.run_command[1:] if args.run_command[:1] == ["--"] else args.run_command
        if not command:
            parser.error("run needs a command after --")
        return run(args.name, command)
    else:
        steps = recorded_steps()
        started = REPORTS / "started"
        total = time.time() - float(started.read_text()) if started.exists() else sum(s.wall for s in steps)
        print(table(steps, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
