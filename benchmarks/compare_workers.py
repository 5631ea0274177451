"""The wall time of `descend compare --budget` tuning with W = 1 and W = 2 Ray workers, the same trials.

Each measurement is a fresh comparison (a new output folder, so nothing is resumed) on a local Ray started
with W worker processes, one torch thread per trial; the time is the tuning phase's wall time from the
first trial submitted to the last result, less Ray's start (``tuning_seconds`` in ``config.json``). The
runs alternate W = 1, 2, 2, 1, ... so that a change in the load of a shared machine falls on both.

    .venv/bin/python benchmarks/compare_workers.py [--repeats 3] [--budget 8] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def once(workers: int, args: argparse.Namespace, folder: Path) -> dict:
    command = [sys.executable, "-m", "descend", "compare", "--task", args.task, "--budget", str(args.budget),
               "--epochs", str(args.epochs), "--seeds", "1", "--workers", str(workers), "--threads", "1",
               "--no-progress", "--out", str(folder)]  # fmt: skip
    for name in args.optimizers.split(","):
        command += ["-o", name]
    env = {**os.environ, "MPLBACKEND": "Agg", "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = json.loads((folder / "config.json").read_text())
    trials = (folder / "trials.jsonl").read_text().splitlines()
    return {"workers": workers, "tuning_seconds": config["tuning_seconds"], "trials": len(trials),
            "start_seconds": config["engine_start_seconds"], "command": " ".join(command)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits-cnn")
    parser.add_argument("--optimizers", default="sgd,momentum,adam,rmsprop")
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        order = [w for k in range(args.repeats) for w in ((1, 2) if k % 2 == 0 else (2, 1))]
        for k, workers in enumerate(order):
            r = once(workers, args, Path(tmp) / str(k))
            results.append(r)
            load = os.getloadavg()[0]
            print(f"W={workers}: {r['tuning_seconds']:.1f} s of tuning for {r['trials']} trials "
                  f"(Ray started in {r['start_seconds']:.1f} s; load average after: {load:.2f})",
                  flush=True)  # fmt: skip
    by = {w: statistics.median(r["tuning_seconds"] for r in results if r["workers"] == w) for w in (1, 2)}
    print(f"median W=1 {by[1]:.1f} s, W=2 {by[2]:.1f} s, ratio W=2/W=1 {by[2] / by[1]:.3f}")
    print("command:", results[0]["command"].replace(sys.executable, "python"))


if __name__ == "__main__":
    main()
