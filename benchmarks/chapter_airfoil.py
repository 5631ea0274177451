"""The chapter's airfoil runs (sections 12.5-12.10) on the real table, several seeds: final losses.

Usage: .venv/bin/python benchmarks/chapter_airfoil.py PATH/airfoil_self_noise.dat [--seeds N]

Each run is the one :data:`descend.lab.airfoil.CHAPTER_RUNS` lists (the book's hyperparameters), trained
with seeds 0..N-1 (initialization and minibatch order); the loss is the chapter's, mean((ŷ − y)²/2) over
the 1500 training rows at the end of training. Prints a Markdown table: median, min and max over seeds.
"""

from __future__ import annotations

import argparse
import time

import torch

from descend.lab.airfoil import CHAPTER_RUNS, chapter_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tic = time.perf_counter()
    print("| section | run | batch | epochs | final loss, median | min | max | sec/epoch (median) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in CHAPTER_RUNS:
        report = chapter_runs(name, args.path, seeds=list(range(args.seeds)))
        section = report.config["section"].split()[0]
        for row in report.rows:
            print(
                f"| {section} | {row['run']} | {row['batch']} | {row['epochs']} | "
                f"{row['loss (median)']:.4f} | {row['loss min']:.4f} | {row['loss max']:.4f} | "
                f"{row['sec/epoch']:.4f} |",
                flush=True,
            )
    print(f"\n({args.seeds} seeds, {time.perf_counter() - tic:.0f} s, torch {torch.__version__}, 1 thread)")


if __name__ == "__main__":
    main()
