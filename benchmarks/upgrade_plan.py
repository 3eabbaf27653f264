#!/usr/bin/env python3
"""Benchmark `kfkrm upgrade-plan` on the embedded upstream renders (issue 21: under 10 s from
v1.7.0 to v1.10).

Runs `kfkrm upgrade-plan OLD NEW --config PROFILE --json` as a user does (a process, start-up,
both adaptations and the comparison included) and prints its wall time and its CPU time (user
+ system, what it costs on an idle machine when the wall time is inflated by other load).

  python3 benchmarks/upgrade_plan.py [--pair v1.7.0 v1.10] [--config fnconfigs/enterprise-profile.yaml]
                                     [--repeat 3] [--check]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UPSTREAM = REPO / "upstream" / "kubeflow"
TARGET = 10.0


def one_run(old: str, new: str, config: str) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "kfkrm", "upgrade-plan", old, new, "--config", config, "--json"],
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "functions")),
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        sys.exit(f"upgrade-plan failed (exit {proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall, cpu, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", nargs=2, default=["v1.7.0", "v1.10"], metavar=("OLD", "NEW"))
    parser.add_argument("--config", default=str(REPO / "fnconfigs" / "enterprise-profile.yaml"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when the best wall time is over {TARGET} s")
    args = parser.parse_args()
    old, new = (str(UPSTREAM / v / "all.yaml") for v in args.pair)
    runs = [one_run(old, new, args.config) for _ in range(args.repeat)]
    best_wall = min(r[0] for r in runs)
    best_cpu = min(r[1] for r in runs)
    print(
        f"upgrade-plan {args.pair[0]} -> {args.pair[1]}: best wall {best_wall:.2f} s, best CPU {best_cpu:.2f} s "
        f"(target {TARGET:.0f} s; exit {runs[0][2]}; {args.repeat} runs)"
    )
    return 1 if args.check and best_wall > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
