"""Turn the figures of :func:`benchmarks.run.run_all` into BENCHMARKS.md."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

POOL_SIZE = 10
"""botocore's default ``max_pool_connections``: the bound on the shared client's connections."""
QUOTA_TOLERANCE = 0.10
PACKAGES = (
    "apache-airflow",
    "apache-airflow-providers-amazon",
    "aiobotocore",
    "botocore",
    "boto3",
    "aiohttp",
    "moto",
    "psutil",
)


@dataclass(frozen=True)
class Verdict:
    """One target: what it asks, what was measured, and whether it is met."""

    target: str
    measured: str
    met: bool


def machine() -> dict[str, str]:
    """Cores, memory and CPU model of this machine, from /proc."""
    info = {
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        with open("/proc/meminfo") as meminfo:
            total_kib = int(meminfo.readline().split()[1])
        info["memory"] = f"{total_kib / 1024 / 1024:.1f} GiB"
    except OSError:
        info["memory"] = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        info["cpu"] = models[0] if models else "unknown"
    except OSError:
        info["cpu"] = "unknown"
    return info


def versions() -> dict[str, str]:
    """The versions of the packages the figures depend on."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def kb(value: float) -> str:
    return f"{value / 1024:,.1f} KB"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:,.1f} ms"


def sec(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f} s"


def ratio(ours: float | None, baseline: float | None) -> str:
    if ours is None or not baseline:
        return "n/a"
    return f"{ours / baseline:.3g}x"


def pairs(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(baseline, ours) runs of the triggerer benchmark, by N."""
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for run in runs:
        by_n.setdefault(run["waits"], {})[run["side"]] = run
    return [(sides["baseline"], sides["ours"]) for _, sides in sorted(by_n.items())]


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    """Check every target against the figures."""
    trig = pairs(results["triggerer"])
    base_big, ours_big = trig[-1]
    n_big = ours_big["waits"]
    throttled_ours = next(r for r in results["throttled"] if r["side"] == "ours" and not r["botocore_config"])
    quota = throttled_ours["plan"]["rate_limit_per_second"]
    rate = throttled_ours["ok_rate"]
    imports = results["import"]
    delay = ours_big["plan"]["waiter_delay"]
    worst_detection = max(o["latency_p99"] or 0.0 for _, o in trig)
    tcp = max(o["tcp_peak"] for _, o in trig)
    cpu_ratios = [o["cpu_per_poll"] / b["cpu_per_poll"] for b, o in trig]
    return [
        Verdict(
            f"memory per wait at N={n_big}: <= 1/20 of baseline and < 32 KB",
            f"{kb(ours_big['rss_per_wait_bytes'])} vs {kb(base_big['rss_per_wait_bytes'])} "
            f"({ratio(ours_big['rss_per_wait_bytes'], base_big['rss_per_wait_bytes'])})",
            ours_big["rss_per_wait_bytes"] * 20 <= base_big["rss_per_wait_bytes"]
            and ours_big["rss_per_wait_bytes"] < 32 * 1024,
        ),
        Verdict(
            f"open connections bounded by the pool size ({POOL_SIZE}) at every N",
            f"peak {tcp} (baseline peak {max(b['tcp_peak'] for b, _ in trig)})",
            tcp <= POOL_SIZE,
        ),
        Verdict(
            "CPU per poll <= 1/3 of baseline (every N)",
            ", ".join(f"N={o['waits']}: {r:.3g}x" for (_, o), r in zip(trig, cpu_ratios, strict=True)),
            all(r <= 1 / 3 for r in cpu_ratios),
        ),
        Verdict(
            f"loop lag p99 at N={n_big} < 20 ms",
            f"{ms(ours_big['lag_p99'])} (baseline {ms(base_big['lag_p99'])})",
            ours_big["lag_p99"] < 0.020,
        ),
        Verdict(
            "throttled: 0 failed waits (default retries)",
            f"{throttled_ours['failed_waits']} of {throttled_ours['waits']} failed",
            throttled_ours["failed_waits"] == 0,
        ),
        Verdict(
            f"throttled: sustained rate within 10% of the {quota:g}/s quota",
            f"{rate:.2f}/s" if rate is not None else "n/a",
            rate is not None and abs(rate - quota) <= QUOTA_TOLERANCE * quota,
        ),
        Verdict(
            f"detection p99 <= poll interval + 1 s ({delay + 1:g} s), every N",
            f"worst p99 {sec(worst_detection)}",
            worst_detection <= delay + 1,
        ),
        parse_verdict(imports),
        *(real_triggerer_verdicts(results) if results["real_triggerer"] else []),
        Verdict(
            "sync overhead <= 1.1x raw boto3",
            f"{results['sync']['median_ratio']:.3f}x",
            results["sync"]["median_ratio"] <= 1.1,
        ),
        # Last, as `splice_job_events` puts it into an existing report.
        *job_events_verdicts(results),
    ]


REAL_TRIGGERER_TARGET = 1.5
"""Ours per wait, inside Airflow's triggerer, against ``DateTimeSensorAsync``'s: the bound of the target."""
FLOOR = "datetime"


def real_pairs(results: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(DateTimeSensorAsync, ours) rows of the real-triggerer summary, by N."""
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for row in results["real_triggerer"]["summary"]:
        by_n.setdefault(row["waits"], {})[row["side"]] = row
    return [(sides[FLOOR], sides["ours"]) for _, sides in sorted(by_n.items())]


def real_triggerer_verdicts(results: dict[str, Any]) -> list[Verdict]:
    """The real-triggerer targets, at the largest N: memory and CPU per wait within 1.5x of the floor."""
    floor, ours = real_pairs(results)[-1]
    n = ours["waits"]
    bound = REAL_TRIGGERER_TARGET
    rss = ours["rss_per_wait_bytes"] / floor["rss_per_wait_bytes"]
    cpu = _cpu_ratio(ours, floor)
    return [
        Verdict(
            f"in Airflow's triggerer at N={n}: RSS per wait <= {bound:g}x DateTimeSensorAsync's",
            f"{kb(ours['rss_per_wait_bytes'])} vs {kb(floor['rss_per_wait_bytes'])} ({rss:.3g}x)",
            rss <= bound,
        ),
        Verdict(
            f"in Airflow's triggerer at N={n}: CPU per wait-second <= {bound:g}x DateTimeSensorAsync's",
            f"{us(ours['cpu_per_wait_second'])} vs {us(floor['cpu_per_wait_second'])} per s "
            f"({'n/a' if cpu is None else f'{cpu:.3g}x'})",
            cpu is not None and cpu <= bound,
        ),
    ]


def _cpu_ratio(ours: dict[str, Any], floor: dict[str, Any]) -> float | None:
    # The floor's figure is a difference of two small CPU rates: at or below zero it has no ratio.
    if floor["cpu_per_wait_second"] <= 0:
        return None
    return float(ours["cpu_per_wait_second"] / floor["cpu_per_wait_second"])


def us(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1e6:,.1f} µs"


def real_triggerer_method(results: dict[str, Any]) -> str:
    """The "How it is measured" entry of benchmark 6."""
    plan = results["real_triggerer"]["plan"]
    counts = ", ".join(str(n) for n in plan["counts"])
    tasks = plan["tasks_per_dag"]
    return (
        "- Inside Airflow's triggerer (6): Airflow's own processes (`harness/airflow_stack`: API "
        "server, scheduler, DAG processor, triggerer; LocalExecutor on SQLite), `aws_default` pointing at "
        f"the emulator. Each side is a DAG of {tasks} sensors started in the triggerer "
        "(`start_from_trigger=True`, so no worker runs), templated from the run's conf; N/"
        f"{tasks} runs make N waits. Ours: `EntityResolutionIdMappingJobCompletedSensor`, "
        f"`poke_interval={plan['poke_interval']:g}` (the default is 60), on jobs RUNNING throughout. The "
        "floor: the standard provider's `DateTimeSensorAsync` on a moment a day ahead, whose trigger "
        "sleeps in one-hour steps, so its cost is the triggerer's own per-wait bookkeeping. Each round "
        f"starts a fresh triggerer and measures it idle (N=0), then at N={counts}, once all N triggers "
        "run in it (assigned to it in the `trigger` table, each with its trigger log written) and "
        f"{plan['settle_seconds']:g} s more; each window lasts {plan['window_seconds']:g} s. Sides "
        f"alternate ABBA, {plan['rounds']} rounds each; figures are medians over rounds. RSS = median of "
        "1 s samples of the triggerer's process tree (the supervisor and the trigger runner it forks); "
        "RSS added per wait = (RSS at N - idle RSS of the same triggerer) / N. CPU per wait-second = "
        "(the tree's CPU time per second of the window at N - idle) / N, comparable whatever a side "
        "polls; CPU per poll (ours) = CPU added over the window / the GetIdMappingJob requests the "
        "emulator answered in it. The target compares the per-wait figures at the largest N."
    )


def real_triggerer_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| N | side | triggerer RSS (idle) | RSS added per wait | from the N below | CPU per wait-second | "
        "polls per wait-second | CPU per poll |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for floor, ours in real_pairs(results):
        for row in (floor, ours):
            name = "DateTimeSensorAsync" if row["side"] == FLOOR else "ours"
            rows.append(
                f"| {row['waits']} | {name} | {row['rss_bytes'] / 2**20:,.1f} MB "
                f"({row['idle_rss_bytes'] / 2**20:,.1f} MB) | {kb(row['rss_per_wait_bytes'])} | "
                f"{_kb_or_na(row['marginal_rss_per_wait_bytes'])} | {us(row['cpu_per_wait_second'])} | "
                f"{row['polls_per_wait_second']:.3f} | "
                f"{ms(row['cpu_per_poll'])} |"
            )
        cpu = _cpu_ratio(ours, floor)
        rows.append(
            f"| {ours['waits']} | **ours / DateTimeSensorAsync** | | "
            f"{ratio(ours['rss_per_wait_bytes'], floor['rss_per_wait_bytes'])} | "
            f"{ratio(ours['marginal_rss_per_wait_bytes'], floor['marginal_rss_per_wait_bytes'])} | "
            f"{'n/a' if cpu is None else f'{cpu:.3g}x'} | | |"
        )
    return rows


def _kb_or_na(value: float | None) -> str:
    return "n/a" if value is None else kb(value)


def _real_triggerer_note(results: dict[str, Any]) -> str:
    pairs_by_n = real_pairs(results)
    (first_floor, first_ours), (floor, ours) = pairs_by_n[0], pairs_by_n[-1]
    n, first_n = ours["waits"], first_ours["waits"]
    fixed = first_ours["rss_bytes"] - first_ours["idle_rss_bytes"]
    fixed -= first_floor["rss_bytes"] - first_floor["idle_rss_bytes"]
    dag_bytes = results["real_triggerer"]["serialized_dag_bytes"]
    tasks = results["real_triggerer"]["plan"]["tasks_per_dag"]
    marginal = ""
    if ours["marginal_rss_per_wait_bytes"] is not None and floor["marginal_rss_per_wait_bytes"]:
        marginal = (
            f"; from N={first_n} to N={n}, without the first waits' fixed cost, "
            f"{kb(ours['marginal_rss_per_wait_bytes'])} vs {kb(floor['marginal_rss_per_wait_bytes'])} "
            f"({ratio(ours['marginal_rss_per_wait_bytes'], floor['marginal_rss_per_wait_bytes'])})"
        )
    return (
        f"- **Inside Airflow's triggerer**, N={n}. Memory: {kb(ours['rss_per_wait_bytes'])} per wait vs "
        f"{kb(floor['rss_per_wait_bytes'])} "
        f"({ratio(ours['rss_per_wait_bytes'], floor['rss_per_wait_bytes'])})"
        f"{marginal}. Most of the difference is fixed: our first wait loads the AWS client stack into the "
        "trigger runner (aiobotocore, aiohttp, botocore and its service model, the Amazon provider's base "
        f"hook), {fixed / 2**20:,.1f} MB more than the floor's first {first_n} waits add, which a larger N "
        "spreads thinner. Per wait, Airflow hands each trigger of a sensor started in the triggerer its "
        "whole DAG's serialized data, and the runner deserializes a copy of the whole DAG per trigger to "
        f"render its templates: the {tasks}-sensor DAG serializes to {dag_bytes['ours'] / 1024:,.1f} KB for "
        f"ours and {dag_bytes[FLOOR] / 1024:,.1f} KB for DateTimeSensorAsync, since our sensor carries more "
        "fields (the AWS connection settings, the trigger's arguments). CPU: "
        f"{us(ours['cpu_per_wait_second'])} vs {us(floor['cpu_per_wait_second'])} per wait-second. The "
        "floor's trigger sleeps an hour at a time, so its figure is the triggerer's own bookkeeping; ours "
        f"polls {ours['polls_per_wait_second']:.3f} times a second per wait, at {ms(ours['cpu_per_poll'])} "
        "of the triggerer's CPU each, nearly all of it in the runner's HTTP request (a py-spy profile of "
        "the runner: about three quarters of its samples in the trigger's poll, most of those in "
        "aiobotocore's `_make_api_call`: signing, aiohttp's send, parsing). A trigger that polls cannot come "
        "within 1.5x of one that sleeps; the split by process is in section 6."
    )


def real_triggerer_split(results: dict[str, Any]) -> list[str]:
    """Where the triggerer's CPU and memory went at the largest N: supervisor and trigger runner."""
    n = real_pairs(results)[-1][1]["waits"]
    rows = [
        f"| side (N={n}; idle in brackets) | supervisor CPU | runner CPU | supervisor RSS | runner RSS |",
        "|---|---|---|---|---|",
    ]
    for side in (FLOOR, "ours"):
        cells = []
        for measure, show in (("cpu", lambda v: f"{v:.2f} s"), ("rss", lambda v: f"{v / 2**20:,.1f} MB")):
            for part in (0, 1):
                at_n, idle = (
                    statistics.median(
                        _parts(p, measure)[part]
                        for p in results["real_triggerer"]["points"]
                        if p["side"] == side and p["waits"] == waits
                    )
                    for waits in (n, 0)
                )
                cells.append(f"{show(at_n)} ({show(idle)})")
        name = "DateTimeSensorAsync" if side == FLOOR else "ours"
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def _parts(point: dict[str, Any], measure: str) -> tuple[float, float]:
    """A point's ``cpu`` or ``rss`` figure of the supervisor (the tree's root) and of the runner it forked."""
    by_process = point[f"{measure}_by_process"]
    supervisor = by_process["supervisor"]
    return supervisor, sum(value for name, value in by_process.items() if name != "supervisor")


def triggerer_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| N | side | RSS added | per wait | CPU s | polls | CPU per poll | lag p50 | lag p99 | "
        "lag max | TCP peak | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for base, ours in pairs(results["triggerer"]):
        for run in (base, ours):
            rows.append(
                f"| {run['waits']} | {run['side']} | {run['rss_added_bytes'] / 2**20:,.1f} MB | "
                f"{kb(run['rss_per_wait_bytes'])} | {run['cpu_seconds']:.2f} | {run['polls']} | "
                f"{ms(run['cpu_per_poll'])} | {ms(run['lag_p50'])} | {ms(run['lag_p99'])} | "
                f"{ms(run['lag_max'])} | {run['tcp_peak']} | {sec(run['wall_seconds'])} |"
            )
        rows.append(
            f"| {ours['waits']} | **ours / baseline** | "
            f"{ratio(ours['rss_added_bytes'], base['rss_added_bytes'])} | "
            f"{ratio(ours['rss_per_wait_bytes'], base['rss_per_wait_bytes'])} | "
            f"{ratio(ours['cpu_seconds'], base['cpu_seconds'])} | | "
            f"{ratio(ours['cpu_per_poll'], base['cpu_per_poll'])} | | "
            f"{ratio(ours['lag_p99'], base['lag_p99'])} | | {ratio(ours['tcp_peak'], base['tcp_peak'])} | |"
        )
    return rows


def detection_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| N | side | poll interval | detection p50 | detection p99 | max | GetIdMappingJob calls per job | "
        "waits ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for base, ours in pairs(results["triggerer"]):
        for run in (base, ours):
            rows.append(
                f"| {run['waits']} | {run['side']} | {run['plan']['waiter_delay']:g} s | "
                f"{sec(run['latency_p50'])} | {sec(run['latency_p99'])} | {sec(run['latency_max'])} | "
                f"{run['calls_per_job']:.2f} | {run['succeeded_waits']}/{run['waits']} |"
            )
        rows.append(
            f"| {ours['waits']} | **ours / baseline** | | "
            f"{ratio(ours['latency_p50'], base['latency_p50'])} | "
            f"{ratio(ours['latency_p99'], base['latency_p99'])} | | "
            f"{ratio(ours['calls_per_job'], base['calls_per_job'])} | |"
        )
    return rows


def throttled_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| side | retries | waits ok | failed | unfinished | GetIdMappingJob calls | 429s | "
        "admitted rate | attempted rate | contention window | detection p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["throttled"]:
        default = "default (legacy, 5 attempts)"
        if run["side"] == "ours":
            default = "default (adaptive, 10 retries)"
        retries = (run["botocore_config"] or {}).get("retries", {}).get("mode") or default
        admitted = f"{run['ok_rate']:.2f}/s" if run["ok_rate"] is not None else "n/a"
        attempted = f"{run['attempt_rate']:.2f}/s" if run["attempt_rate"] is not None else "n/a"
        rows.append(
            f"| {run['side']} | {retries} | {run['succeeded_waits']}/{run['waits']} | "
            f"{run['failed_waits']} | "
            f"{run['unfinished_waits']} | {run['polls']} | {run['throttled_polls']} | {admitted} | "
            f"{attempted} | {sec(run['contention_seconds'])} | "
            f"{sec(run['latency_p50'])} / {sec(run['latency_p99'])} |"
        )
    return rows


def added_instructions(imports: dict[str, Any], name: str) -> int | None:
    """The instructions a DAG file adds over the authoring module alone, when callgrind counted them."""
    if "instructions" not in imports[name]:
        return None
    return int(imports[name]["instructions"] - imports["sdk_only"]["instructions"])


def minstr(count: int | None) -> str:
    return "n/a" if count is None else f"{count / 1e6:,.1f} M"


def parse_verdict(imports: dict[str, Any]) -> Verdict:
    """Instructions (exact) and RSS decide; without valgrind, median time stands in for instructions."""
    ours, amazon = imports["ours"], imports["amazon"]
    rss_ok = ours["dag_rss_bytes"] <= amazon["dag_rss_bytes"]
    times = f"median time {ms(ours['dag_seconds'])} vs {ms(amazon['dag_seconds'])}"
    ours_instructions = added_instructions(imports, "ours")
    amazon_instructions = added_instructions(imports, "amazon")
    if ours_instructions is None or amazon_instructions is None:
        return Verdict(
            "DAG-parse cost no worse than the Amazon operator's (median time and RSS; valgrind absent)",
            f"{ms(ours['dag_seconds'])} / {kb(ours['dag_rss_bytes'])} vs "
            f"{ms(amazon['dag_seconds'])} / {kb(amazon['dag_rss_bytes'])}",
            ours["dag_seconds"] <= amazon["dag_seconds"] and rss_ok,
        )
    return Verdict(
        "DAG-parse cost no worse than the Amazon operator's (instructions executed and median RSS)",
        f"{minstr(ours_instructions)} / {kb(ours['dag_rss_bytes'])} vs {minstr(amazon_instructions)} / "
        f"{kb(amazon['dag_rss_bytes'])} ({ratio(ours_instructions, amazon_instructions)}; {times})",
        ours_instructions <= amazon_instructions and rss_ok,
    )


def import_table(results: dict[str, Any]) -> list[str]:
    imports = results["import"]
    sdk = imports["sdk_only"]["sdk_seconds"]
    base = f"`import {imports.get('sdk_module', 'airflow.sdk')}`"
    ours_instructions = added_instructions(imports, "ours")
    amazon_instructions = added_instructions(imports, "amazon")
    instructions_ratio = (
        ratio(ours_instructions, amazon_instructions)
        if ours_instructions is not None and amazon_instructions is not None
        else ""
    )
    return [
        f"| DAG file | extra instructions over {base} | extra import time | extra RSS | "
        f"{base} itself (same processes) |",
        "|---|---|---|---|---|",
        f"| this provider's operator + sensor | {minstr(ours_instructions)} | "
        f"{ms(imports['ours']['dag_seconds'])} | "
        f"{kb(imports['ours']['dag_rss_bytes'])} | {ms(imports['ours']['sdk_seconds'])} |",
        f"| Amazon provider's Comprehend operator + sensor | {minstr(amazon_instructions)} | "
        f"{ms(imports['amazon']['dag_seconds'])} | "
        f"{kb(imports['amazon']['dag_rss_bytes'])} | {ms(imports['amazon']['sdk_seconds'])} |",
        f"| **ours / Amazon** | {instructions_ratio} | "
        f"{ratio(imports['ours']['dag_seconds'], imports['amazon']['dag_seconds'])} | "
        f"{ratio(imports['ours']['dag_rss_bytes'], imports['amazon']['dag_rss_bytes'])} | |",
        f"| ({base} alone) | {minstr(imports['sdk_only'].get('instructions'))} total | | | {ms(sdk)} |",
    ]


def sync_table(results: dict[str, Any]) -> list[str]:
    sync = results["sync"]
    return [
        "| call | median |",
        "|---|---|",
        f"| `EntityResolutionHook.get_id_mapping_job` | {ms(sync['hook_median'])} |",
        f"| raw boto3 `get_id_mapping_job` | {ms(sync['raw_median'])} |",
        f"| **ratio of medians** | {sync['median_ratio']:.3f}x |",
        f"| median of per-pair ratios | {sync['pair_ratio_median']:.3f}x |",
    ]


def miss_notes(results: dict[str, Any], checks: list[Verdict]) -> list[str]:
    """Explain each missed target with the figure measured and the change that would fix it."""
    notes: list[str] = []
    missed = {check.target.split(":")[0].split(" (")[0] for check in checks if not check.met}
    for words, explain in EXPLANATIONS:
        if any(words in target for target in missed):
            notes.append(explain(results))
    return notes


def _throttle_note(results: dict[str, Any]) -> str:
    runs = results["throttled"]
    lines = ", ".join(
        f"{r['side']} ({(r['botocore_config'] or {}).get('retries', {}).get('mode', 'default')}): "
        f"{r['failed_waits']} failed, {r['throttled_polls']} 429s"
        for r in runs
    )
    return (
        f"- **Throttled account** ({lines}). A poll that throttling outlasts botocore's retries is "
        "missed, not counted as an attempt (`PollSchedule.missed` in `airflow_entityresolution/polling.py`), "
        "so no wait fails while its span lasts. The default retry mode is `adaptive`: its client-side "
        "rate limiter lives in the one client every wait shares, so it spaces the requests of all waits "
        "in the process. With `standard` mode the shared client's retry quota (500 tokens, 5 per "
        "throttled retry) runs dry under this load; waits then survive only through missed polls, "
        "and fewer requests get through."
    )


def _memory_note(results: dict[str, Any]) -> str:
    base, ours = pairs(results["triggerer"])[-1]
    return (
        f"- **Memory per wait** at N={ours['waits']}: ours {kb(ours['rss_per_wait_bytes'])}, baseline "
        f"{kb(base['rss_per_wait_bytes'])}. Most of ours is the one shared client (its service model and "
        "session), a fixed cost that a larger N spreads thinner; the rest is each wait's task, trigger "
        "and hook objects."
    )


def _lag_note(results: dict[str, Any]) -> str:
    base, ours = pairs(results["triggerer"])[-1]
    return (
        f"- **Loop lag** p99 at N={ours['waits']}: ours {ms(ours['lag_p99'])}, "
        f"baseline {ms(base['lag_p99'])}."
    )


def _detection_note(results: dict[str, Any]) -> str:
    worst = max(pairs(results["triggerer"]), key=lambda pair: pair[1]["latency_p99"] or 0.0)[1]
    return (
        f"- **Detection latency**: worst p99 of ours {sec(worst['latency_p99'])} at N={worst['waits']} "
        f"with a {worst['plan']['waiter_delay']:g} s poll interval."
    )


def _import_note(results: dict[str, Any]) -> str:
    imports = results["import"]
    return (
        f"- **DAG-parse cost**: ours {ms(imports['ours']['dag_seconds'])} / "
        f"{kb(imports['ours']['dag_rss_bytes'])}, Amazon {ms(imports['amazon']['dag_seconds'])} / "
        f"{kb(imports['amazon']['dag_rss_bytes'])} (medians of {imports['reps']} fresh processes each; "
        f"RSS {ratio(imports['ours']['dag_rss_bytes'], imports['amazon']['dag_rss_bytes'])}, time "
        f"{ratio(imports['ours']['dag_seconds'], imports['amazon']['dag_seconds'])}; instructions "
        f"{minstr(added_instructions(imports, 'ours'))} vs {minstr(added_instructions(imports, 'amazon'))}). "
        "Both DAG files import the Amazon provider's `AwsBaseOperator`/`AwsBaseSensor` modules; at "
        "parse time this provider adds only what builds its tasks (`hooks`, `links`, `operators`, "
        "`sensors`, `tasks`, `compat`, `lazy`), and `tests/test_parse_cost.py` keeps it so: a miss "
        "here is within the spread of fresh processes, or a new import on the parse path."
    )


def _sync_note(results: dict[str, Any]) -> str:
    sync = results["sync"]
    return (
        f"- **Sync overhead**: {sync['median_ratio']:.3f}x ({ms(sync['hook_median'])} vs "
        f"{ms(sync['raw_median'])}). The hook validates its inputs and converts the response to plain JSON."
    )


def _connections_note(results: dict[str, Any]) -> str:
    tcp = max(o["tcp_peak"] for _, o in pairs(results["triggerer"]))
    return f"- **Open connections**: peak {tcp}, above the pool size {POOL_SIZE}."


def _cpu_note(results: dict[str, Any]) -> str:
    figures = ", ".join(
        f"N={o['waits']}: {ms(o['cpu_per_poll'])} vs {ms(b['cpu_per_poll'])}"
        for b, o in pairs(results["triggerer"])
    )
    return f"- **CPU per poll** (ours vs baseline): {figures}."


def economy_note(results: dict[str, Any]) -> str:
    """Explain the GetIdMappingJob calls per job, which no target bounds."""
    figures = ", ".join(
        f"N={o['waits']}: {o['calls_per_job']:.2f} vs {b['calls_per_job']:.2f}"
        for b, o in pairs(results["triggerer"])
    )
    return (
        f"GetIdMappingJob calls per job, ours vs baseline: {figures}. Ours polls at once, then after "
        "0.5-1.0 of the delay, then every 0.9-1.0 of it (`PollSchedule`), so at the same `waiter_delay` "
        "it polls more often than the baseline's fixed delay; the baseline also starts polling only once "
        "its own client is built, and at large N its CPU-bound loop falls behind its schedule, which "
        "lowers its call count and raises its detection latency. Drawing the delays from at or above "
        "`waiter_delay` (e.g. 1.0-1.1 of it) would bring the count nearer the baseline's, at some cost "
        "in detection latency; that variant is not measured here."
    )


JOB_EVENTS_HEADING = "## 7. Event watchers: List calls per interval"
JOB_EVENTS_TARGET = "watchers on one workflow cost one List call per interval"
JOB_EVENTS_NOTE = "- **Event watchers**"
NOT_MEASURED_SHARED_STREAMS = (
    "Not measured: this Airflow's triggerer runs every event trigger alone (3.3 shares streams)."
)


def job_events_pairs(results: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(unshared, shared) points of benchmark 7, by N."""
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for point in results["job_events"]["points"]:
        by_n.setdefault(point["watchers"], {})[point["side"]] = point
    return [(sides["unshared"], sides["shared"]) for _, sides in sorted(by_n.items())]


def job_events_verdicts(results: dict[str, Any]) -> list[Verdict]:
    """
    The event-watcher target at the largest N: the shared watchers poll as one.

    A poll loop sleeps ``waiter_delay`` after each List call, so it makes at most one per whole
    interval of the window; the bound allows one more, for a window a hair longer than its intervals.
    """
    if not results.get("job_events"):
        return []
    unshared, shared = job_events_pairs(results)[-1]
    n = shared["watchers"]
    calls = f"{shared['list_calls']} vs {unshared['list_calls']}"
    return [
        Verdict(
            f"{n} {JOB_EVENTS_TARGET}, not {n}",
            f"{shared['lists_per_interval']:.2f} vs {unshared['lists_per_interval']:.2f} per interval "
            f"({calls} List calls in {shared['intervals']:.1f} intervals)",
            0 < shared["list_calls"] <= int(shared["intervals"]) + 1,
        )
    ]


def _job_events_note(results: dict[str, Any]) -> str:
    unshared, shared = job_events_pairs(results)[-1]
    return (
        f"{JOB_EVENTS_NOTE} at N={shared['watchers']}: the shared watchers made {shared['list_calls']} "
        f"List calls in {shared['intervals']:.1f} intervals (the unshared ones {unshared['list_calls']}). "
        "One poll loop makes one an interval: more means the watchers did not share one stream, none that "
        "its loop stopped; the triggerer's log says which streams it ran."
    )


def job_events_method(results: dict[str, Any], command: str) -> str:
    """How benchmark 7 measures, in one paragraph."""
    figures = results["job_events"]
    plan = figures["plan"]
    intervals = plan["window_seconds"] / plan["waiter_delay"]
    ended = (
        " Then one job of the workflow ends, and the GetMatchingJob requests for it are counted from that "
        "moment until every watcher's asset event is stored, and one interval more."
        if plan["end_a_job"]
        else ""
    )
    return (
        "N event watchers (`EntityResolutionMatchingJobEventTrigger` in an `AssetWatcher`) on one matching "
        "workflow, in Airflow's own triggerer (the harness of section 6, `aws_default` pointing at the "
        "emulator). Side `shared`: the watchers differ only in `look_back`, which their `shared_stream_key` "
        "leaves out, so the triggerer serves them all from one poll loop. Side `unshared`: each has a "
        "`botocore_config` read timeout, and so a stream key, of its own, and polls alone, as every watcher "
        "does in a triggerer without shared streams (Airflow 3.0 to 3.2, each trigger in its own `run()`). "
        "Each point declares N assets, one watcher each, on a workflow of its own with "
        f"{figures['running_jobs']} jobs RUNNING throughout (one page of ListMatchingJobs), and a DAG "
        "scheduled on any of the assets. Once "
        "every watcher has written its watermark Variable (at its first poll), and one interval more, a "
        f"window of {plan['window_seconds']:g} s ({intervals:g} intervals of "
        f"`waiter_delay={plan['waiter_delay']:g}`) counts the emulator's ListMatchingJobs requests for "
        f"the workflow, and the triggerer's CPU time (supervisor and trigger runner).{ended} The DAG file is "
        "then written again without watchers, and the next point starts once the triggerer has dropped "
        f"them. One run of `{command}`, took {sec(figures['wall_seconds'])}."
    )


def job_events_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| N | side | List calls in window | intervals | List calls per interval | triggerer CPU in window | "
        "one job ends: GetMatchingJob calls | asset events |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for unshared, shared in job_events_pairs(results):
        for point in (shared, unshared):
            end = point["end_one_job"]
            gets, events = (end["get_calls"], end["asset_events"]) if end else ("n/a", "n/a")
            rows.append(
                f"| {point['watchers']} | {point['side']} | {point['list_calls']} | "
                f"{point['intervals']:.2f} | {point['lists_per_interval']:.2f} | "
                f"{sec(point['triggerer_cpu_seconds'])} | {gets} | {events} |"
            )
        rows.append(
            f"| {shared['watchers']} | **unshared / shared** | "
            f"{ratio(unshared['list_calls'], shared['list_calls'])} | | "
            f"{ratio(unshared['lists_per_interval'], shared['lists_per_interval'])} | "
            f"{ratio(unshared['triggerer_cpu_seconds'], shared['triggerer_cpu_seconds'])} | "
            f"{_end_ratio(unshared, shared)} | |"
        )
    return rows


def _end_ratio(unshared: dict[str, Any], shared: dict[str, Any]) -> str:
    if not (unshared["end_one_job"] and shared["end_one_job"]):
        return ""
    return ratio(unshared["end_one_job"]["get_calls"], shared["end_one_job"]["get_calls"])


def job_events_summary(results: dict[str, Any]) -> str:
    """The sentence on the largest N: how many times the List calls of the shared side the unshared made."""
    unshared, shared = job_events_pairs(results)[-1]
    n = shared["watchers"]
    gets = ""
    if unshared["end_one_job"] and shared["end_one_job"]:
        gets = (
            f"; announcing one ended job took GetMatchingJob calls: {shared['end_one_job']['get_calls']} "
            f"shared, {unshared['end_one_job']['get_calls']} unshared"
        )
    return (
        f"At N={n}, watchers that each poll alone made "
        f"{ratio(unshared['lists_per_interval'], shared['lists_per_interval'])} the List calls of watchers "
        f"sharing one stream: {unshared['lists_per_interval']:.2f} against "
        f"{shared['lists_per_interval']:.2f} per interval{gets}. A poll loop sleeps `waiter_delay` after its "
        "List call returns, so its period is the interval plus the call's round trip: in a window of whole "
        "intervals a loop makes one call per interval or, as its phase falls, one fewer in all, so N loops "
        "make at most N calls per interval, and may make a little under."
    )


def job_events_section(results: dict[str, Any], command: str) -> list[str]:
    """Section 7's body: how it is measured, the table, and the ratio at the largest N."""
    if not results.get("job_events"):
        return [NOT_MEASURED_SHARED_STREAMS]
    return [
        job_events_method(results, command),
        "",
        *job_events_table(results),
        "",
        job_events_summary(results),
    ]


def _chunks(report: str) -> list[list[str]]:
    """The report's lines cut before each ``## `` heading: the preamble, then one list per section."""
    chunks: list[list[str]] = [[]]
    for line in report.splitlines():
        if line.startswith("## "):
            chunks.append([])
        chunks[-1].append(line)
    return chunks


def _chunk(chunks: list[list[str]], heading: str) -> list[str] | None:
    return next((chunk for chunk in chunks if chunk and chunk[0].startswith(heading)), None)


def splice_job_events(report: str, results: dict[str, Any], command: str) -> str:
    """
    Put a run of benchmark 7 alone into an existing report: its section, its Summary row, its note
    among the misses and the count of targets met; the rest of the report is left as it was.

    :param report: the report, as :func:`render` wrote it.
    :param results: the figures of ``python -m benchmarks.run --only job-events``.
    :param command: the command that measured them.
    """
    chunks = _chunks(report)
    section = [JOB_EVENTS_HEADING, "", *job_events_section(results, command), ""]
    old = _chunk(chunks, "## 7.")
    if old is not None:
        chunks[chunks.index(old)] = section
    else:
        misses = _chunk(chunks, "## Misses")
        chunks.insert(chunks.index(misses) if misses is not None else len(chunks), section)
    checks = job_events_verdicts(results)
    summary = _chunk(chunks, "## Summary")
    if summary is not None:
        _replace_summary_rows(summary, checks)
        misses = _chunk(chunks, "## Misses")
        if misses is not None:
            _replace_miss_note(misses, results, checks)
        closing = _chunk(chunks, "## Closing note")
        if closing is not None:
            _recount_targets(closing, summary)
    return "\n".join(line for chunk in chunks for line in chunk) + "\n"


def _summary_row(check: Verdict) -> str:
    return f"| {check.target} | {check.measured} | {'met' if check.met else '**missed**'} |"


def _replace_summary_rows(summary: list[str], checks: list[Verdict]) -> None:
    kept = [line for line in summary if JOB_EVENTS_TARGET not in line]
    last_row = max((i for i, line in enumerate(kept) if line.startswith("|")), default=len(kept) - 1)
    summary[:] = kept[: last_row + 1] + [_summary_row(check) for check in checks] + kept[last_row + 1 :]


def _replace_miss_note(misses: list[str], results: dict[str, Any], checks: list[Verdict]) -> None:
    heading, *body = (line for line in misses if not line.startswith(JOB_EVENTS_NOTE))
    notes = [line for line in body if line.strip() and line != "None."]
    if any(not check.met for check in checks):
        notes.append(_job_events_note(results))
    misses[:] = [heading, "", *(notes or ["None."]), ""]


def _recount_targets(closing: list[str], summary: list[str]) -> None:
    met = sum(1 for line in summary if line.endswith("| met |"))
    total = met + sum(1 for line in summary if line.endswith("| **missed** |"))
    closing[:] = [
        re.sub(r"\d+ of \d+ targets met", f"{met} of {total} targets met", line) for line in closing
    ]


EXPLANATIONS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("memory per wait", _memory_note),
    ("open connections", _connections_note),
    ("CPU per poll", _cpu_note),
    ("loop lag", _lag_note),
    ("throttled", _throttle_note),
    ("detection", _detection_note),
    ("DAG-parse", _import_note),
    ("in Airflow's triggerer", _real_triggerer_note),
    ("sync overhead", _sync_note),
    (JOB_EVENTS_TARGET, _job_events_note),
)


NOT_MEASURED_IN_TRIGGERER = (
    "Not measured: this Airflow cannot start a sensor with templated fields in the triggerer (3.3 can)."
)


def real_triggerer_section(results: dict[str, Any]) -> list[str]:
    """Section 6: the tables, and what was found while measuring."""
    return [
        "Ours against Airflow's own cheapest deferred wait, `DateTimeSensorAsync`, both started in the "
        f"triggerer; one side-by-side run, took {sec(results['real_triggerer']['wall_seconds'])}.",
        "",
        *real_triggerer_table(results),
        "",
        "Where the triggerer's CPU (over one window) and RSS went, by process:",
        "",
        *real_triggerer_split(results),
        "",
        "Found while measuring: until this benchmark, a wait logged the job's status at every poll. In "
        "Airflow's triggerer each line a trigger logs wakes the supervisor's loop, which runs its "
        "metadata-DB queries (`load_triggers`, `clean_unused`) on every wake-up, so at N=500 the "
        "supervisor spent more CPU than the runner (3.02 s against 2.38 s over a 20 s window, about "
        "5 ms per poll in all; a py-spy profile put 57% of the supervisor's samples in that DB work). A "
        "wait in the triggerer now logs the status when it changes "
        "(`airflow_entityresolution.polling.StatusLog`); one round measured the same way afterwards gave "
        "about 2.5 ms per poll, the supervisor back at the floor's CPU. Those two runs were single "
        "rounds; the tables above are this run's.",
    ]


def render(results: dict[str, Any], command: str, *, quick: bool = False) -> str:
    """The whole report, as Markdown."""
    checks = verdicts(results)
    host = machine()
    trig = pairs(results["triggerer"])
    base_big, ours_big = trig[-1]
    plans = "; ".join(
        f"N={o['waits']}: poll every {o['plan']['waiter_delay']:g} s, jobs RUNNING "
        f"{o['plan']['running_seconds'][0]:g}-{o['plan']['running_seconds'][1]:g} s (uniform) then SUCCEEDED"
        for _, o in trig
    )
    throttled = results["throttled"][0]["plan"]
    demand = throttled["waits"] / throttled["waiter_delay"]
    imports = results["import"]
    lines = [
        "# Benchmarks",
        "",
        "This provider's deferred wait (`EntityResolutionIdMappingJobCompletedTrigger`, one shared "
        "aiobotocore client per connection) against the same wait written the Amazon provider's way "
        "(`benchmarks/baseline.py`: an `AwsBaseWaiterTrigger` subclass with a custom waiter JSON over "
        "GetIdMappingJob, one client per wait), run side by side in one session against the emulator.",
        "",
        f"Command: `{command}` (`make bench`). Took {results['duration_seconds']:.0f} s."
        + (" **Quick mode: small N, short runs; not the reference figures.**" if quick else ""),
        "",
        f"Machine: {host['cores']} cores, {host['memory']} memory, {host['cpu']}; {host['platform']}; "
        f"Python {host['python']}.",
        "",
        "Packages: " + ", ".join(f"{name} {version}" for name, version in versions().items()) + ".",
        "",
        "## How it is measured",
        "",
        "- The emulator runs in its own process (`benchmarks/emulator_process.py`, "
        '`concurrency="unlimited"`); '
        "each measurement runs in a fresh process (`benchmarks/worker.py`), which imports its side's "
        "modules (and aiobotocore) before its RSS baseline is taken, then runs one `trigger.run()` per job "
        "as asyncio tasks in one event loop, the way the triggerer does, with a 10 ms timer alongside to "
        "measure loop lag. Logging is at WARNING for both sides.",
        "- RSS added = the process's peak RSS (`ru_maxrss`) minus its RSS before the waits; CPU = process "
        "CPU time during the waits, divided by the GetIdMappingJob requests the emulator answered. TCP "
        "connections to the emulator are sampled from outside every 0.5 s (peak).",
        "- Detection latency = the time the TriggerEvent was yielded minus the time the emulator's "
        f"script made the job SUCCEEDED. Triggerer batches: {plans}; the end moments are random, so the "
        "same runs give detection latency.",
        f"- Throttled account: {throttled['waits']} waits, emulator token bucket of "
        f"{throttled['rate_limit_per_second']:g} requests/s (burst {throttled['rate_limit_per_second']:g}) "
        f"answering 429 ThrottlingException above it; poll every {throttled['waiter_delay']:g} s "
        f"(a demand of {demand:g}/s, {demand / throttled['rate_limit_per_second']:g}x the quota), "
        f"jobs RUNNING {throttled['running_seconds'][0]:g}-{throttled['running_seconds'][1]:g} s, deadline "
        f"{throttled['deadline_seconds']:g} s. Admitted rate = 2xx answers over the window from the first to "
        "the last 2xx answer.",
        f"- DAG parse: medians of {results['import']['reps']} fresh processes per variant, interleaved "
        "in a fresh random order each round (`benchmarks/dags/`). Both providers are imported from "
        "site-packages with their bytecode, as a deployment installs them; the run refuses to measure "
        "a module compiled on import. Instructions: one more process per variant under valgrind's "
        "callgrind (`PYTHONHASHSEED=0`), whose count does not move with the machine's load as wall "
        "time does. Sync: "
        f"{results['sync']['reps']} interleaved pairs in one process, after a warm-up.",
        *([real_triggerer_method(results)] if results["real_triggerer"] else []),
        "",
        "## Summary",
        "",
        "| target | measured (ours vs baseline) | met? |",
        "|---|---|---|",
        *(f"| {c.target} | {c.measured} | {'met' if c.met else '**missed**'} |" for c in checks),
        "",
        "## 1. Triggerer cost",
        "",
        *triggerer_table(results),
        "",
        "## 2. Detection latency and economy",
        "",
        *detection_table(results),
        "",
        "## 3. Throttled account",
        "",
        *throttled_table(results),
        "",
        "## 4. DAG-parse cost",
        "",
        *import_table(results),
        "",
        "## 5. Sync overhead",
        "",
        *sync_table(results),
        "",
        "## 6. Inside Airflow's triggerer",
        "",
        *(real_triggerer_section(results) if results["real_triggerer"] else [NOT_MEASURED_IN_TRIGGERER]),
        "",
        JOB_EVENTS_HEADING,
        "",
        *job_events_section(results, command),
        "",
        "## Misses",
        "",
        *(miss_notes(results, checks) or ["None."]),
        "",
        "## Calls per job",
        "",
        economy_note(results),
        "",
        "## Credential expiry",
        "",
        "Functional, not timed: "
        "`tests/test_benchmarks_smoke.py::test_a_shared_client_outlives_its_credentials` "
        "runs a wait on the shared client behind a role-assuming connection (moto's STS, "
        '`assume_role_kwargs: {"DurationSeconds": 900}`). botocore refreshes assumed-role credentials '
        "once fewer than 15 minutes remain, so 900 s credentials are refreshed before every request: the "
        "test checks that the polls of one wait are signed with several different access keys and all "
        "succeed, i.e. the shared client keeps working across credential expiry.",
        "",
        "## Closing note",
        "",
        f"At N={ours_big['waits']}: memory per wait "
        f"{ratio(ours_big['rss_per_wait_bytes'], base_big['rss_per_wait_bytes'])} of the baseline's, CPU per "
        f"poll {ratio(ours_big['cpu_per_poll'], base_big['cpu_per_poll'])}, loop lag p99 "
        f"{ratio(ours_big['lag_p99'], base_big['lag_p99'])}, TCP connections "
        f"{ratio(ours_big['tcp_peak'], base_big['tcp_peak'])}, detection p99 "
        f"{ratio(ours_big['latency_p99'], base_big['latency_p99'])}; DAG-parse time "
        f"{ratio(imports['ours']['dag_seconds'], imports['amazon']['dag_seconds'])} and RSS "
        f"{ratio(imports['ours']['dag_rss_bytes'], imports['amazon']['dag_rss_bytes'])} of the "
        f"Amazon operator's; sync call {results['sync']['median_ratio']:.3f}x raw boto3. "
        f"{sum(c.met for c in checks)} of {len(checks)} targets met.",
        "",
    ]
    return "\n".join(lines)
