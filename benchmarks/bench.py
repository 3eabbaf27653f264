#!/usr/bin/env python3
"""Benchmark every kfkrm function on the rendered Kubeflow manifests.

For each version and each function with an example config in fnconfigs/<name>.yaml:
  * in-process: the runner's time for one call (best of --repeat), what a function costs
    once Python is up;
  * process:    wall time of `python -m kfkrm NAME` reading the ResourceList on stdin,
    start-up included (what kustomize or kpt pays per exec call);
  * naive:      a function that loads the whole ResourceList with PyYAML's C loader and
    dumps it with the C dumper, measured in the same run.
Targets (issue 2): process wall <= 0.5 s on v1.10 and naive / in-process >= 10.

  python3 benchmarks/bench.py [--versions v1.10 v1.3.0] [--functions NAME ...] [--check]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "functions"))

from kfkrm.fns.registry import FUNCTIONS  # noqa: E402
from kfkrm.runtime.resourcelist import items_from_stream  # noqa: E402
from kfkrm.runtime.runner import run  # noqa: E402

UPSTREAM = REPO / "upstream" / "kubeflow"  # upstream's renders, embedded (see their PROVENANCE)
TARGET_WALL, TARGET_RATIO = 0.5, 10.0


def resource_list(version: str, config_text: str) -> str:
    stream = (UPSTREAM / version / "all.yaml").read_text()
    items = "".join(i.raw for i in items_from_stream(stream))
    config = "".join("  " + line + "\n" if line.strip() else "\n" for line in config_text.splitlines())
    return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + items + "functionConfig:\n" + config


def naive(text: str) -> float:
    start = time.perf_counter()
    doc = yaml.load(text, Loader=yaml.CSafeLoader)
    yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False)
    return time.perf_counter() - start


def in_process(spec, text: str, repeat: int):
    best, outcome = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        outcome = run(spec, text)
        best = min(best, time.perf_counter() - start)
    return best, outcome


def process_wall(name: str, text: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kfkrm", name], input=text.encode(), capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", nargs="+", default=["v1.10", "v1.3.0"])
    parser.add_argument("--functions", nargs="+", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if not UPSTREAM.exists():
        print(f"bench: {UPSTREAM} is absent; nothing to measure", file=sys.stderr)
        return 2
    missed = []
    print(f"{'version':8} {'function':26} {'in-proc s':>9} {'process s':>9} {'naive s':>8} {'ratio':>6}  result")
    for version in args.versions:
        naive_time = None
        for spec in FUNCTIONS:
            if args.functions and spec.name not in args.functions:
                continue
            config_path = REPO / "fnconfigs" / f"{spec.name}.yaml"
            if not config_path.exists():
                continue
            try:
                spec.load()
            except ImportError as e:
                print(f"{version:8} {spec.name:26} not available: {e}")
                continue
            text = resource_list(version, config_path.read_text())
            if naive_time is None:
                naive_time = min(naive(text) for _ in range(max(1, args.repeat - 1)))
            seconds, outcome = in_process(spec, text, args.repeat)
            wall = process_wall(spec.name, text)
            ratio = naive_time / seconds
            status = "ok" if outcome.exit_code == 0 else f"exit {outcome.exit_code}: {outcome.stderr.strip()[:60]}"
            print(f"{version:8} {spec.name:26} {seconds:9.3f} {wall:9.3f} {naive_time:8.3f} {ratio:6.1f}  {status}")
            if version == "v1.10" and (wall > TARGET_WALL or ratio < TARGET_RATIO):
                missed.append(f"{spec.name}: process {wall:.3f} s, ratio {ratio:.1f}")
    if missed:
        print("targets missed on v1.10 (process <= 0.5 s, ratio >= 10):\n  " + "\n  ".join(missed))
    else:
        print("all targets met on v1.10 (process <= 0.5 s, naive/in-process >= 10)")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    raise SystemExit(main())
