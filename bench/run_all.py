"""Runs every benchmark on SQLite and on PostgreSQL, one process each, then prints a summary.

    python bench/run_all.py                      # full sizes, SQLite and PostgreSQL
    python bench/run_all.py --quick              # small sizes, a smoke run of a minute or two
    python bench/run_all.py --no-postgres        # SQLite only

PostgreSQL runs need a server at ``--postgres-url``; each benchmark creates a database of its
own there and drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import DEFAULT_POSTGRES_URL, format_number, print_table

BENCH = Path(__file__).resolve().parent

#: (script, extra arguments for a full run, extra arguments for --quick)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("charge_throughput.py", [], ["--operations", "600"]),
    ("balance_read.py", [], ["--operations", "100000", "--reads", "500"]),
    ("batch_throughput.py", [], ["--operations", "30000"]),
    ("api_charges.py", [], ["--operations", "600"]),
    ("pages.py", [], ["--operations", "3000", "--reads", "50"]),
    ("catch_up.py", [], ["--operations", "600", "--rounds", "1"]),
]


def read_cell(name: str, figures: dict[str, float]) -> str:
    return f"{name}: median {figures['p50_ms']:.3f} ms (p99 {figures['p99_ms']:.2f})"


def summary_rows(result: dict[str, Any]) -> list[list[str]]:
    name, database = result["benchmark"], result["database"]
    rows: list[list[str]] = []
    if name == "charge_throughput":
        for item in result["results"]:
            kit, floor = item["creditkit"], item["floor"]
            rows.append(
                [
                    f"charge {item['threads']} thread(s)",
                    database,
                    f"{format_number(kit['per_second'])}/s"
                    f" (p50 {kit['p50_ms']:.2f} / p99 {kit['p99_ms']:.2f} ms)",
                    f"{format_number(floor['per_second'])}/s"
                    f" (p50 {floor['p50_ms']:.2f} / p99 {floor['p99_ms']:.2f} ms)",
                    f"{item['ratio']:.3f}",
                    ">= 0.5",
                    "ok" if item["ratio"] >= 0.5 else "MISS",
                ]
            )
    elif name == "api_charges":
        for item in result["results"]:
            kit, floor = item["creditkit"], item["floor"]
            rows.append(
                [
                    f"POST /v1/charges {item['threads']} client threads",
                    database,
                    f"{format_number(kit['per_second'])}/s"
                    f" (p50 {kit['p50_ms']:.2f} / p99 {kit['p99_ms']:.2f} ms)",
                    f"{format_number(floor['per_second'])}/s"
                    f" (p50 {floor['p50_ms']:.2f} / p99 {floor['p99_ms']:.2f} ms)",
                    f"{item['ratio']:.3f}",
                    ">= 0.5",
                    "ok" if item["ratio"] >= 0.5 else "MISS",
                ]
            )
    elif name == "pages":
        floor, page = result["floor"], result["page"]
        rows.append(
            [
                f"GET /app, {result['charges']:,} charges this month",
                database,
                f"page p50 {page['p50_ms']:.2f} / p99 {page['p99_ms']:.2f} ms",
                f"reads p50 {floor['p50_ms']:.2f} / p99 {floor['p99_ms']:.2f} ms",
                f"{result['ratio_p50']:.3f}",
                "",
                "",
            ]
        )
    elif name == "catch_up":
        rows.append(
            [
                "charge finding a backlog of timed-out holds",
                database,
                f"{result['charge_s']:.3f} s",
                f"plain charge {result['floor_s'] * 1000:.2f} ms",
                f"{result['ratio']:.1f}",
                "<= 0.2 s",
                "ok" if result["charge_s"] <= 0.2 else "MISS",
            ]
        )
    elif name == "balance_read":
        entries = result["entries"]
        for phase in result["phases"]:
            rows.append(
                [
                    f"balance {entries['large']:,} vs {entries['small']:,} entries"
                    + ("" if phase["phase"] == "as loaded" else f", {phase['phase']}"),
                    database,
                    read_cell("large", phase["large"]),
                    read_cell("small", phase["small"]),
                    f"{phase['ratio_p50']:.3f}",
                    "<= 1.2",
                    "ok" if phase["ratio_p50"] <= 1.2 else "MISS",
                ]
            )
    elif name == "batch_throughput":
        kit = result["creditkit"]["per_second"]
        floor = result["floor (same rows)"]["per_second"]
        minimal = result["floor (minimal)"]["per_second"]
        goal = database == "sqlite"
        rows.append(
            [
                f"charge_many {result['batch']:,} x {result['batches']} on"
                f" {result['customers']:,} customers",
                database,
                f"{format_number(kit)}/s",
                f"{format_number(floor)}/s same rows, {format_number(minimal)}/s minimal",
                f"{kit / floor:.3f}",
                ">= 50,000/s" if goal else "-",
                ("ok" if kit >= 50_000 else "MISS") if goal else "-",
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    databases: list[list[str]] = [[]]
    if not args.no_postgres:
        databases.append(["--database-url", args.postgres_url])
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_results_") as directory:
        for script, full, quick in BENCHMARKS:
            for database in databases:
                output = Path(directory) / f"{script}-{len(results)}-{len(failures)}.json"
                command = [
                    sys.executable,
                    str(BENCH / script),
                    *database,
                    *(quick if args.quick else full),
                    "--json",
                    str(output),
                ]
                print(f"\n$ {' '.join(command[1:-2])}", flush=True)
                begin = time.perf_counter()
                completed = subprocess.run(command, check=False)
                print(f"({time.perf_counter() - begin:.0f} s)", flush=True)
                if completed.returncode != 0 or not output.exists():
                    failures.append(f"{script} {' '.join(database)}")
                    continue
                results.append(json.loads(output.read_text()))
    print("\nSUMMARY (ratio: creditkit / floor for throughput, large / small for balance reads)")
    rows = [
        [*row, f"{result['load_average']:.2f}", result["source"].rsplit(" ", 1)[-1].strip(")")]
        for result in results
        for row in summary_rows(result)
    ]
    print_table(
        [
            "benchmark",
            "database",
            "creditkit",
            "floor / baseline",
            "ratio",
            "goal",
            "",
            "load",
            "src sha256",
        ],
        rows,
    )
    print()
    for line in dict.fromkeys(
        f"  {result['database']}: {result['description']}" for result in results
    ):
        print(line)
    for line in dict.fromkeys(f"  {result['source']}" for result in results):
        print(line)
    print(f"  load: the machine's load average when each benchmark started ({os.cpu_count()} CPUs)")
    if failures:
        print(f"\nFAILED: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
